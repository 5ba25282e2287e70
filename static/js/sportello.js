// Tells Bootstrap Italia where its files are. Loaded before the bundle; kept in a
// file because the Content-Security-Policy forbids inline scripts.
window.__PUBLIC_PATH__ = '/static/vendor/bootstrap-italia/fonts';
// Bootstrap Italia bundles video.js, which would insert a <style> element that the
// Content-Security-Policy (style-src 'self') refuses. The portal shows no video.
window.VIDEOJS_NO_DYNAMIC_STYLE = true;
// After a refused form, move keyboard and screen-reader focus to the error summary
// (rendered with role="alert" tabindex="-1"), so the visitor hears what went wrong.
document.addEventListener('DOMContentLoaded', function () {
  var alert = document.querySelector('main [role="alert"][tabindex="-1"]');
  if (alert) { alert.focus(); }
});
