// The dashboard's only script of its own. No inline script anywhere: the CSP forbids it.
(function () {
  "use strict";
  // htmx requests carry the session's CSRF token, as the forms do in a hidden field.
  document.addEventListener("htmx:configRequest", function (e) {
    var meta = document.querySelector('meta[name="csrf-token"]');
    if (meta && meta.content) { e.detail.headers["X-CSRF-Token"] = meta.content; }
  });
  // The dot in the header says whether live updates are flowing; tests wait for data-live="1".
  document.addEventListener("htmx:sseOpen", function () {
    document.body.dataset.live = "1";
    var dot = document.getElementById("live"); if (dot) { dot.className = "live on"; }
  });
  document.addEventListener("htmx:sseError", function () {
    document.body.dataset.live = "0";
    var dot = document.getElementById("live"); if (dot) { dot.className = "live off"; }
  });
  // A form that cancels or sends back asks first; its data-confirm says what.
  document.addEventListener("submit", function (e) {
    var button = e.submitter, form = e.target;
    var question = (button && button.dataset.confirm) || form.dataset.confirm;
    if (question && !window.confirm(question)) { e.preventDefault(); }
  });
})();
