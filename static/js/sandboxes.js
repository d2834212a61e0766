// Live progress on the Sandboxes tab: every row with a running request polls its JSON status and updates the
// status, message (an aria-live region) and elapsed time; when a request ends the page reloads once to show the
// result (connection, buttons). No inline script: the CSP forbids it.
(function () {
  "use strict";
  var rows = document.querySelectorAll("tr[data-status-url]");
  if (!rows.length) { return; }
  var finished = false;

  function text(row, selector, value) {
    var el = row.querySelector(selector);
    if (el && value !== null && value !== undefined && el.textContent !== String(value)) { el.textContent = value; }
  }

  function poll(row) {
    fetch(row.getAttribute("data-status-url"), {credentials: "same-origin", headers: {"Accept": "application/json"}})
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (data) {
        if (!data) { return; }
        var status = data.status || "—";
        if (data.copy_progress !== null && data.status !== "Completed") { status += " (" + data.copy_progress + " %)"; }
        text(row, ".sb-status", status);
        text(row, ".sb-message", data.message);
        text(row, ".sb-elapsed", data.elapsed_seconds);
        text(row, ".sb-state", (data.operation === "refresh" ? "Refresh: " : "Create: ") + (data.state_label || ""));
        if (!data.in_progress && !finished) {
          finished = true;
          window.setTimeout(function () { window.location.reload(); }, 500);
        }
      })
      .catch(function () { /* the next tick tries again */ });
  }

  window.setInterval(function () { rows.forEach(poll); }, 2000);
  rows.forEach(poll);
}());
