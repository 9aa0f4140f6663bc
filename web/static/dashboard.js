// Live progress on the batch page. The script follows the batch's server-sent events and
// updates the counts. When the batch has ended, it reloads once to show rows and downloads.
(function () {
  "use strict";
  var section = document.getElementById("batch-progress");
  if (!section || !section.dataset.events || !window.EventSource) {
    return;
  }
  var bar = document.getElementById("batch-progress-bar");

  function show(progress) {
    ["finished", "total", "done", "failed", "running", "queued"].forEach(function (name) {
      var field = section.querySelector('[data-field="' + name + '"]');
      if (field && progress[name] !== undefined) {
        field.textContent = String(progress[name]);
      }
    });
    var status = section.querySelector('[data-field="status"] .status');
    if (status && progress.status) {
      status.textContent = progress.status.replace(/_/g, " ");
      status.className = "status status-" + progress.status;
    }
    if (bar) {
      bar.max = Math.max(progress.total, 1);
      bar.value = progress.finished;
      bar.textContent = progress.finished + " of " + progress.total;
    }
  }

  var source = new EventSource(section.dataset.events);
  source.addEventListener("progress", function (event) {
    show(JSON.parse(event.data));
  });
  source.addEventListener("done", function (event) {
    source.close();
    show(JSON.parse(event.data));
    var note = document.getElementById("batch-live-note");
    if (note) {
      note.hidden = false;
    }
    // Reload unless the user is typing or has moved focus into the page.
    if (document.activeElement === document.body) {
      window.location.reload();
    }
  });
})();
