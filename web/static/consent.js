// Cookie banner: the footer's Cookie settings opens it, and choices are saved without
// leaving the page. Without JavaScript the same form posts to /consent and comes back.
(function () {
  "use strict";

  var banner = document.getElementById("cookie-banner");
  if (!banner) {
    return;
  }
  var form = banner.querySelector("form");
  var opener = document.getElementById("cookie-settings");

  // The banner is fixed at the bottom; the page gets as much room below its content, so
  // the visitor can scroll every button of the page above it.
  function makeRoom() {
    document.body.style.paddingBottom = banner.hidden ? "" : banner.offsetHeight + "px";
  }

  function openBanner(event) {
    if (event) {
      event.preventDefault();
    }
    banner.hidden = false;
    var details = banner.querySelector("details");
    if (details) {
      details.open = true;
    }
    makeRoom();
    var first = banner.querySelector("input[type=checkbox]");
    if (first) {
      first.focus();
    }
  }

  function closeBanner() {
    banner.hidden = true;
    makeRoom();
    if (opener) {
      opener.focus();
    }
  }

  // The page's measurement scripts match the old choice, so a changed choice reloads it:
  // a script turned on must be loaded, and one turned off must be gone.
  function changesScripts(choice) {
    return String(choice.analytics) !== banner.dataset.analytics ||
      String(choice.marketing) !== banner.dataset.marketing;
  }

  function submitWithoutScript(button) {
    var field = document.createElement("input");
    field.type = "hidden";
    field.name = "choice";
    field.value = button.value;
    form.appendChild(field);
    form.submit();
  }

  function save(event) {
    var button = event.submitter;
    if (!button || !window.fetch || !window.URLSearchParams) {
      return; // let the browser post the form
    }
    event.preventDefault();
    var data = new URLSearchParams(new FormData(form));
    data.set("choice", button.value);
    var token = document.querySelector('meta[name="csrf-token"]');
    fetch(form.action, {
      method: "POST",
      body: data,
      credentials: "same-origin",
      headers: {
        "Accept": "application/json",
        "X-CSRF-Token": token ? token.content : ""
      }
    }).then(function (response) {
      if (!response.ok) {
        throw new Error("saving the cookie choice failed: HTTP " + response.status);
      }
      return response.json();
    }).then(function (choice) {
      if (changesScripts(choice)) {
        window.location.reload();
        return;
      }
      banner.dataset.decided = "true";
      closeBanner();
    }).catch(function () {
      submitWithoutScript(button);
    });
  }

  makeRoom();
  window.addEventListener("resize", makeRoom);
  if (window.ResizeObserver) {
    new ResizeObserver(makeRoom).observe(banner);
  }
  form.addEventListener("submit", save);
  if (opener) {
    opener.addEventListener("click", openBanner);
  }
  banner.addEventListener("keydown", function (event) {
    if (event.key === "Escape" && banner.dataset.decided === "true") {
      closeBanner();
    }
  });
}());
