// Small behaviours for every page, wired by data attributes (the Content-Security-Policy allows no inline script
// and no inline event handlers):
//   form[data-confirm="…"]             asks before submitting
//   button[data-copy-target="id"]      copies that field's value; "Copied" is announced in #live-status
//   select[data-option-type-target=id] copies the chosen option's data-type into that hidden field
//   form[data-autosubmit]              submits itself on load (the frontdoor form fallback)
//   .table-responsive                  focusable (tabindex=0) while it scrolls, so keyboards can scroll it
(function () {
  "use strict";

  function announce(text) {
    var region = document.getElementById("live-status");
    if (!region) { return; }
    region.textContent = "";
    window.setTimeout(function () { region.textContent = text; }, 50);
  }

  document.addEventListener("submit", function (event) {
    var form = event.target;
    var message = form.getAttribute && form.getAttribute("data-confirm");
    if (message && !window.confirm(message)) { event.preventDefault(); }
  });

  document.addEventListener("click", function (event) {
    var button = event.target.closest ? event.target.closest("[data-copy-target]") : null;
    if (!button) { return; }
    var field = document.getElementById(button.getAttribute("data-copy-target"));
    if (!field) { return; }
    function done() { button.textContent = "Copied"; announce("Copied to the clipboard"); }
    field.select();
    (navigator.clipboard ? navigator.clipboard.writeText(field.value) : Promise.reject()).then(done, function () {
      document.execCommand("copy");
      done();
    });
  });

  document.addEventListener("change", function (event) {
    var select = event.target;
    var targetId = select.getAttribute && select.getAttribute("data-option-type-target");
    if (!targetId) { return; }
    var target = document.getElementById(targetId);
    var option = select.selectedOptions[0];
    if (target && option) { target.value = option.getAttribute("data-type") || ""; }
  });


  function focusableScrollers() {
    document.querySelectorAll(".table-responsive").forEach(function (box) {
      if (box.scrollWidth > box.clientWidth || box.scrollHeight > box.clientHeight) { box.setAttribute("tabindex", "0"); } else { box.removeAttribute("tabindex"); }
    });
  }
  focusableScrollers();
  window.addEventListener("resize", focusableScrollers);

  document.querySelectorAll("form[data-autosubmit]").forEach(function (form) { form.submit(); });
})();
