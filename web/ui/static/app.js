// callbridge UI: the viewer's time zone, live refresh of calls in progress, confirmations.
(function () {
  "use strict";

  // 1. Dates are rendered by the server in the zone of the `tz` cookie.
  var zone = "UTC";
  try { zone = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC"; } catch (e) { /* UTC */ }
  var match = document.cookie.match(/(?:^|; )tz=([^;]*)/);
  var current = match ? decodeURIComponent(match[1]) : "";
  if (current !== zone) {
    document.cookie = "tz=" + encodeURIComponent(zone) + "; path=/; max-age=31536000; samesite=lax";
    if (!sessionStorage.getItem("tz-reloaded")) {
      sessionStorage.setItem("tz-reloaded", "1");
      location.reload();
      return;
    }
  }

  document.addEventListener("DOMContentLoaded", function () {
    // 2. Ask before destructive actions.
    document.querySelectorAll("form[data-confirm]").forEach(function (form) {
      form.addEventListener("submit", function (ev) {
        if (!window.confirm(form.getAttribute("data-confirm"))) { ev.preventDefault(); }
      });
    });

    // 3. Parts marked data-refresh are re-fetched every few seconds while calls are live.
    function poll() {
      var live = document.querySelectorAll("[data-refresh][id]");
      if (!live.length) { return; }
      fetch(location.href, { credentials: "same-origin", headers: { "X-Refresh": "1" } })
        .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
        .then(function (html) {
          var doc = new DOMParser().parseFromString(html, "text/html");
          live.forEach(function (el) {
            var fresh = doc.getElementById(el.id);
            if (fresh) { el.replaceWith(document.importNode(fresh, true)); }
          });
          setTimeout(poll, 3000);
        })
        .catch(function () { setTimeout(poll, 10000); });
    }
    if (document.querySelector("[data-refresh]")) { setTimeout(poll, 3000); }
  });
})();
