// Meta Pixel, loaded only after the visitor turned marketing on. This is Meta's base code
// (fbevents.js loader) written out, so no inline script is needed under the CSP.
(function () {
  "use strict";
  var script = document.currentScript;
  var pixelId = script && script.dataset.pixelId;
  if (!pixelId || window.fbq) {
    return;
  }
  var fbq = function () {
    if (fbq.callMethod) {
      fbq.callMethod.apply(fbq, arguments);
    } else {
      fbq.queue.push(arguments);
    }
  };
  window.fbq = fbq;
  window._fbq = fbq;
  fbq.push = fbq;
  fbq.loaded = true;
  fbq.version = "2.0";
  fbq.queue = [];

  var loader = document.createElement("script");
  loader.async = true;
  loader.src = "https://connect.facebook.net/en_US/fbevents.js";
  document.head.appendChild(loader);

  fbq("init", pixelId);
  fbq("track", "PageView");
}());
