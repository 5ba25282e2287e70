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
// A table's responsive wrapper that actually scrolls becomes a focusable region
// named after the table (WCAG 2.1.1; axe: scrollable-region-focusable), so the
// keyboard can scroll it; one that fits is left out of the tab order.
function sportelloScrollRegions() {
  document.querySelectorAll('.table-responsive').forEach(function (w) {
    if (w.scrollWidth > w.clientWidth + 1) {
      var cap = w.querySelector('caption');
      w.setAttribute('tabindex', '0');
      w.setAttribute('role', 'region');
      if (!w.hasAttribute('aria-label') && !w.hasAttribute('aria-labelledby')) {
        w.setAttribute('aria-label', cap ? cap.textContent.trim() : (document.documentElement.lang === 'en' ? 'Table, scrolls sideways' : 'Tabella, scorre in orizzontale'));
      }
    } else if (w.getAttribute('tabindex') === '0') {
      w.removeAttribute('tabindex');
      w.removeAttribute('role');
    }
  });
}
document.addEventListener('DOMContentLoaded', sportelloScrollRegions);
window.addEventListener('resize', sportelloScrollRegions);
// A button with aria-controls naming a list shows and hides it (the SPID button's
// list of identity providers, AgID's menu). Without the script the list stays shown.
document.addEventListener('DOMContentLoaded', function () {
  document.querySelectorAll('button[data-toggles]').forEach(function (btn) {
    var list = document.getElementById(btn.getAttribute('aria-controls'));
    if (!list) { return; }
    list.hidden = true;
    btn.setAttribute('aria-expanded', 'false');
    btn.addEventListener('click', function () {
      var open = btn.getAttribute('aria-expanded') !== 'true';
      btn.setAttribute('aria-expanded', open ? 'true' : 'false');
      list.hidden = !open;
      if (open) { var first = list.querySelector('a'); if (first) { first.focus(); } }
    });
  });
});
