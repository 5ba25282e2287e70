// Tells Bootstrap Italia where its files are. Loaded before the bundle; kept in a
// file because the Content-Security-Policy forbids inline scripts.
window.__PUBLIC_PATH__ = '/static/vendor/bootstrap-italia/fonts';
