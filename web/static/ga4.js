// Google Analytics 4 (gtag.js), loaded only after the visitor turned analytics on.
(function () {
  "use strict";
  var script = document.currentScript;
  var measurementId = script && script.dataset.measurementId;
  if (!measurementId) {
    return;
  }
  window.dataLayer = window.dataLayer || [];
  window.gtag = function () {
    window.dataLayer.push(arguments);
  };
  window.gtag("js", new Date());
  window.gtag("config", measurementId, { anonymize_ip: true });
}());
