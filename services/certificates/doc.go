// Package certificates is the "certificati" service: registry (anagrafe) and
// civil-status (stato civile) certificates issued online with the comune's digital
// stamp, and the public pages where anyone holding one checks it.
//
// # Contract
//
// A citizen logged in with their codice fiscale asks for a certificate for themselves
// or for a member of their own famiglia anagrafica (anagrafe.SameHousehold), nobody
// else: any other person is refused with 403 and an audit entry
// "certificates.denied". Certificates of other people are "not found" (404) to
// everyone but their holder and their requester. Each type has rules (see Types): only
// the types whose rules pass are offered, with the reason for the others.
//
// A certificate is a snapshot (Data) of the register at issue time, stored as JSON
// with its verification code (stamp.NewCode, also its id), type, holder, requester,
// issue and expiry, stamp-duty choice and status (valid or revoked). The PDF is not
// stored: it is rebuilt from the record on every download, byte for byte the file
// issued (the record keeps its SHA-256). Issuing, revoking and refusing are audited
// ("certificates.issue", "certificates.revoke", "certificates.denied").
//
// Validity (art. 41, comma 1, DPR 445/2000): certificates of facts not subject to
// change are valid without limit (here the birth certificate); all the others are
// valid six months from the date of issue, reckoned by the calendar, Europe/Rome.
// The stamp format requires an expiry date: unlimited validity is written as
// 31/12/2199 (UnlimitedStampExpiry).
//
// Stamp duty: registry certificates are "in bollo" (16,00 €, bollo_cents) or exempt
// for a use the citizen declares, chosen from a configured list of exemptions with
// their legal basis (DefaultExemptions: DPR 642/1972 Tabella B and special laws).
// Civil-status certificates (nascita, matrimonio, unione civile) are always exempt
// (art. 7, comma 5, L. 405/1990). The choice is printed and recorded; the duty is not
// collected here: the citizen applies a marca da bollo or pays as the comune says.
// Every certificate carries the notice of art. 40, comma 02, DPR 445/2000.
//
// # Digital stamp and verification
//
// The PDF's QR code holds stamp.VerificationURL: <base_url>/verifica/<code>#<signed
// payload> (COSE_Sign1, package stamp). The keys live in key_dir (default
// <data_dir>/keys/stamp), created at first start in development and required in
// production; the public keys are published at /.well-known/sportello-stamp-keys.json
// for offline checks (`sportello certificati verify`). Public routes, no login, rate-limited per
// client IP (verify_rate_per_minute, default 30, counted per process):
//
//	GET  /verifica            form to type the code (normalized: case, spaces,
//	                          hyphens, O read as 0)
//	GET  /verifica/:id        the page the QR code opens: VALIDO, REVOCATO, SCADUTO or
//	                          NON AUTENTICO in large words (colour and text), and the
//	                          data as issued. No JavaScript needed; /verifica.js also
//	                          checks the fragment's signed payload in the browser.
//	GET  /api/verifica/:id    JSON, see below (404 for an unknown code)
//	POST /api/verifica        JSON {"payload": "<fragment or whole URL>"}: verifies the
//	                          signature with the key ring, then judges the certificate;
//	                          any changed byte or foreign key gives "non_autentico"
//
// The JSON answer (APIResult):
//
//	{"verdict": "valido" | "revocato" | "scaduto" | "non_autentico",
//	 "certificate_id": "ABCD-EFGH-JKMN-P", "type": "residenza",
//	 "type_label": "Certificato di residenza", "holder_name": "BIANCHI GIULIA",
//	 "holder_cf": "BNCGLI85C52L219J", "issued_at": "2026-01-12T09:30:00Z",
//	 "expires_at": "2026-07-12T22:00:00Z" (null: unlimited), "valid_until": "2026-07-12",
//	 "revoked_at": null,
//	 "signature": "valida" | "non_valida", "key_id": "..." (POST only)}
//
// A verification is judged against the stored record, which must itself verify with
// its own stamp (a record altered in the database is NON AUTENTICO). Each check of a
// known certificate is logged (time, channel qr/codice/api, client IP cut to its /24
// or /48), and the holder sees in the personal area when and how often each
// certificate was verified.
//
// Staff with the role anagrafe_officer search issued certificates, see their
// verification history and revoke them with a required reason.
//
// The module reads the population register (app/anagrafe) but does not migrate it:
// the platform does.
package certificates
