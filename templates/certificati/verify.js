// Checks, in the browser, the signed payload the QR code carries after '#': the
// server never sees the fragment. The page's verdict comes from the server and does
// not depend on this script for a typed code; for a scanned QR whose payload is not
// signed by the comune, or does not match this certificate, the script replaces the
// verdict with NON AUTENTICO: the paper in the reader's hands is not the certificate
// the code belongs to.
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
      show(res.verdict === 'valido' ? 'success' : 'info', box.dataset.ok);
      return;
    }
    var verdict = document.getElementById('verdict');
    if (verdict) {
      verdict.className = 'alert alert-danger mb-4';
      verdict.textContent = '';
      var label = document.createElement('p');
      label.className = 'verify-verdict mb-1';
      label.textContent = box.dataset.badLabel;
      var text = document.createElement('p');
      text.className = 'mb-0';
      text.textContent = box.dataset.bad;
      verdict.appendChild(label);
      verdict.appendChild(text);
      document.title = box.dataset.badTitle;
    }
    // NON AUTENTICO shows nothing of the certificate the code belongs to: the paper
    // in the reader's hands is not it.
    var data = document.getElementById('cert-data');
    if (data) { data.parentNode.removeChild(data); }
    show('danger', box.dataset.tampered);
  }).catch(function () { show('info', box.dataset.none); });
})();
