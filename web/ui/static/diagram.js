// Renders the state diagram with the vendored mermaid (no network needed).
document.addEventListener("DOMContentLoaded", function () {
  "use strict";
  var el = document.getElementById("diagram");
  if (!el || typeof mermaid === "undefined") { return; }
  mermaid.initialize({ startOnLoad: false, securityLevel: "strict", theme: "default" });
  mermaid.run({ nodes: [el] }).then(function () {
    el.setAttribute("data-rendered", "1");
  }).catch(function (err) {
    el.setAttribute("data-rendered", "error");
    console.error(err);
  });
});
