/*
 * Bootstrap's color modes follow the system setting: data-bs-theme on <html> is
 * "dark" or "light" from prefers-color-scheme, and follows it when it changes.
 * Loaded in <head> without defer so the first paint is already in the right mode
 * (a static file: the CSP allows no inline script).
 */
(function () {
  "use strict";
  var query = window.matchMedia("(prefers-color-scheme: dark)");
  function apply() {
    document.documentElement.setAttribute("data-bs-theme", query.matches ? "dark" : "light");
  }
  apply();
  query.addEventListener("change", apply);
})();
