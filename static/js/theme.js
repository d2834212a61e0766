// The colour mode follows the system: Bootstrap's data-bs-theme from prefers-color-scheme. Loaded in <head> before
// the stylesheets, so the first paint already has the right mode (no flash); follows later changes too.
(function () {
  "use strict";
  var query = window.matchMedia ? window.matchMedia("(prefers-color-scheme: dark)") : null;
  function apply() {
    document.documentElement.setAttribute("data-bs-theme", query && query.matches ? "dark" : "light");
  }
  apply();
  if (query && query.addEventListener) { query.addEventListener("change", apply); }
})();
