// Follow the Airflow UI around the frame: it sets class "dark" or "light" on its <html>
// (same origin). Alone, or with ?theme=dark|light, follow that or the system setting.
(function () {
  "use strict";
  var root = document.documentElement;
  function parentMode() {
    try {
      if (window.parent && window.parent !== window) {
        var cls = window.parent.document.documentElement.classList;
        if (cls.contains("dark")) return "dark";
        if (cls.contains("light")) return "light";
      }
    } catch (e) { /* another origin: fall through */ }
    return null;
  }
  function apply() {
    var forced = new URLSearchParams(window.location.search).get("theme");
    var mode = forced === "dark" || forced === "light" ? forced : parentMode();
    if (!mode) mode = window.matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light";
    root.setAttribute("data-theme", mode);
  }
  apply();
  try {
    if (window.parent && window.parent !== window) {
      new MutationObserver(apply).observe(window.parent.document.documentElement, { attributes: true, attributeFilter: ["class"] });
    }
  } catch (e) { /* another origin */ }
  window.matchMedia("(prefers-color-scheme: dark)").addEventListener("change", apply);
})();
