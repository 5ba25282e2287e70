// Tells Bootstrap Italia where its files are. Loaded before the bundle; kept in a
// file because the Content-Security-Policy forbids inline scripts.
window.__PUBLIC_PATH__ = '/static/vendor/bootstrap-italia/fonts';
// Bootstrap Italia bundles video.js, which would insert a <style> element that the
// Content-Security-Policy (style-src 'self') refuses. The portal shows no video.
window.VIDEOJS_NO_DYNAMIC_STYLE = true;
