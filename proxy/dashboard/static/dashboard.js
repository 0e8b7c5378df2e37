// rowgate admin dashboard: small enhancements only; every page works without this file.
"use strict";
document.addEventListener("submit", function (event) {
  var form = event.target;
  var question = form.getAttribute("data-confirm");
  if (question && !window.confirm(question)) {
    event.preventDefault();
  }
});
document.addEventListener("focusin", function (event) {
  if (event.target.hasAttribute && event.target.hasAttribute("data-select-on-focus")) {
    event.target.select();
  }
});
document.addEventListener("change", function (event) {
  // The organisation chooser opens the chosen organisation at once.
  if (event.target.id === "org-choice") {
    event.target.form.submit();
  }
});
