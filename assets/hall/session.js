/* A stale session sends the browser to the sign-in page instead of leaving a broken screen:
 * any Dash request answered 401 (see layouts/app.py) redirects to /login?next=<this page>. */
(function () {
  "use strict";
  if (!window.fetch || window.__ccSessionGuard) { return; }
  window.__ccSessionGuard = true;
  var original = window.fetch;
  window.fetch = function () {
    return original.apply(this, arguments).then(function (response) {
      if (response.status === 401 && String(response.url).indexOf("/_dash-") >= 0) {
        var next = window.location.pathname + window.location.search;
        window.location.href = "/login?next=" + encodeURIComponent(next);
      }
      return response;
    });
  };
})();
