/*
 * Two accessibility faults in widgets Django's admin builds itself (found by axe-core):
 * - the filter boxes of SelectFilter2 (groups, permissions) put an aria-label on a bare
 *   <span> icon, which has no role to carry it: give the icon role="img";
 * - a split date/time field labels its two inputs with plain text ("Date:", "Time:")
 *   and a <label> that points at neither input: name each one from the field's
 *   label and its text ("Created Date").
 * The filter boxes are built on window load, so a MutationObserver catches them.
 */
(function () {
  "use strict";

  function labelIcons(root) {
    root.querySelectorAll(".help-tooltip[aria-label]:not([role])").forEach(function (icon) {
      icon.setAttribute("role", "img");
    });
  }

  function labelSplitDateTimes() {
    document.querySelectorAll("p.datetime").forEach(function (group) {
      // The field's <label> (without a for=) comes just before the group.
      var fieldLabel = group.parentElement.querySelector("label");
      var name = fieldLabel ? fieldLabel.textContent.trim().replace(/:$/, "") : "";
      var text = "";
      group.childNodes.forEach(function (node) {
        if (node.nodeType === Node.TEXT_NODE) {
          text += node.textContent;
        } else if (node.tagName === "INPUT" && !node.hasAttribute("aria-label")) {
          node.setAttribute("aria-label", (name + " " + text.trim().replace(/:$/, "")).trim());
          text = "";
        }
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    labelIcons(document);
    labelSplitDateTimes();
    new MutationObserver(function () {
      labelIcons(document);
    }).observe(document.body, { childList: true, subtree: true });
  });
})();
