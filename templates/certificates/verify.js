// Checks, in the browser, the signed payload the QR code carries after '#': the
// server never sees the fragment. The page's verdict comes from the server and does
// not depend on this script; this only adds whether the printed QR code was signed
// by the comune and matches the record.
(function () {
  'use strict';
  var box = document.getElementById('stamp-check');
  if (!box || !window.fetch) { return; }
  var payload = window.location.hash.replace(/^#/, '');
  if (!payload) { return; }
  function show(kind, text) {
    var p = document.createElement('p');
    p.className = 'alert alert-' + kind + ' mb-0';
    p.textContent = text;
    box.textContent = '';
    box.appendChild(p);
  }
  fetch('/api/verifica', {
    method: 'POST',
    credentials: 'same-origin',
    headers: { 'Content-Type': 'application/json', 'Accept': 'application/json', 'X-CSRF-Token': box.dataset.csrf || '' },
    body: JSON.stringify({ payload: payload, from_page: true })
  }).then(function (r) { return r.json(); }).then(function (res) {
    if (res.signature === 'valida' && res.certificate_id === box.dataset.code && res.verdict !== 'non_autentico') {
      show('success', box.dataset.ok);
    } else if (res.signature === 'valida') {
      show('danger', box.dataset.bad);
    } else {
      show('danger', box.dataset.bad);
    }
  }).catch(function () { show('info', box.dataset.none); });
})();
