package certificates

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"github.com/comuni-italiani/sportello/app/enti"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/comuni-italiani/sportello/app/stamp"
	"github.com/comuni-italiani/sportello/app/store"
	"github.com/comuni-italiani/sportello/app/web"
)

// Verdict is the answer of a verification.
type Verdict string

// Verdicts. The JSON API returns these strings; pages show them in large letters.
const (
	// Valid: the certificate exists, its stamp is intact, it is neither revoked nor
	// expired.
	Valid Verdict = "valido"
	// Revoked: the comune revoked the certificate.
	Revoked Verdict = "revocato"
	// Expired: past its validity (six months for most certificates).
	Expired Verdict = "scaduto"
	// NotAuthentic: no such certificate, or a stamp that does not verify (forged or
	// altered).
	NotAuthentic Verdict = "non_autentico"
)

// LabelKey is the message key of the verdict in large letters ("VALIDO").
func (v Verdict) LabelKey() string { return "certificati.verdict." + string(v) }

// TextKey is the message key of the sentence explaining the verdict.
func (v Verdict) TextKey() string { return "certificati.verdict." + string(v) + ".text" }

// Class is the Bootstrap Italia colour of the verdict (colour is never alone: the
// word says it too).
func (v Verdict) Class() string {
	switch v {
	case Valid:
		return "success"
	case Expired:
		return "warning"
	}
	return "danger"
}

// find returns the certificate with code id (as typed or scanned), or
// store.ErrNotFound.
func (m *Module) find(ctx context.Context, id string) (*Certificate, error) {
	norm, err := stamp.NormalizeCode(id)
	if err != nil {
		return nil, store.ErrNotFound
	}
	// The record is kept for LookupTTL (lookupcache.go); the clock is the real one,
	// not m.now, which tests move by months.
	key := enteOf(ctx) + " " + norm
	start := time.Now()
	c0, gen := m.lookups.get(key, start)
	if c0 != nil {
		return c0, nil
	}
	var c Certificate
	if err := enti.For(ctx, m.db).Where("id = ?", norm).Take(&c).Error; err != nil {
		return nil, err
	}
	m.lookups.put(key, gen, &c, start)
	return &c, nil
}

// intact checks the stored record against its own stamp: the signature verifies with
// the comune's keys and the signed fields and data hash match the record. A record
// altered in the database (or signed by no key of ours) fails.
func (m *Module) intact(c *Certificate) (*Data, error) {
	// A record already found intact, with the same signed text, data and fields, is
	// intact again: the comparison of the strings replaces the decoding and hashing.
	m.stampMu.Lock()
	memo, ok := m.intactOK[c.ID]
	m.stampMu.Unlock()
	if ok && memo.stamp == c.Stamp && memo.data == c.Data && memo.dataHash == c.DataHash &&
		memo.holder == c.HolderCF && memo.typ == c.Type {
		return memo.d, nil
	}
	d, err := m.checkIntact(c)
	if err != nil {
		return nil, err
	}
	m.stampMu.Lock()
	if m.intactOK == nil || len(m.intactOK) >= stampCacheMax {
		m.intactOK = map[string]intactMemo{}
	}
	m.intactOK[c.ID] = intactMemo{stamp: c.Stamp, data: c.Data, dataHash: c.DataHash, holder: c.HolderCF, typ: c.Type, d: d}
	m.stampMu.Unlock()
	return d, nil
}

// intactMemo is a record found intact by checkIntact, with the snapshot it decoded
// (shared: read only).
type intactMemo struct {
	stamp, data, dataHash, holder, typ string
	d                                  *Data
}

// checkIntact does the work of intact: signature, snapshot, data hash, fields.
func (m *Module) checkIntact(c *Certificate) (*Data, error) {
	p, err := m.verifiedStamp(c.EnteID, c.Stamp)
	if err != nil {
		return nil, err
	}
	d, err := c.Snapshot()
	if err != nil {
		return nil, err
	}
	want := stamp.DataHash(d)
	if p.CertID != c.ID || p.Holder != c.HolderCF || p.Type != c.Type || !bytes.Equal(p.DataHash, want) ||
		hex.EncodeToString(want) != c.DataHash {
		return nil, errors.New("certificates: record does not match its stamp")
	}
	return d, nil
}

// stampCacheMax bounds the cache of verified stamps (about 300 bytes each).
const stampCacheMax = 20000

// verifiedStamp verifies a stored stamp's signature, remembering stamps already
// verified: a stamp is immutable text, so its signature need not be checked again on
// every verification (the ECDSA check was a quarter of the cost of one). The payload is
// still compared with the record on every check, so an altered record is caught.
func (m *Module) verifiedStamp(ente, text string) (stamp.Payload, error) {
	key := ente + " " + text // each comune has its own keys
	m.stampMu.Lock()
	p, ok := m.stampOK[key]
	m.stampMu.Unlock()
	if ok {
		return p, nil
	}
	msg, err := stamp.Decode(text)
	if err != nil {
		return stamp.Payload{}, err
	}
	ring, err := m.ringOf(ente)
	if err != nil {
		return stamp.Payload{}, err
	}
	if p, err = ring.Verify(msg); err != nil {
		return stamp.Payload{}, err
	}
	m.stampMu.Lock()
	if m.stampOK == nil || len(m.stampOK) >= stampCacheMax {
		m.stampOK = map[string]stamp.Payload{}
	}
	m.stampOK[key] = p
	m.stampMu.Unlock()
	return p, nil
}

// verdictOf judges a stored certificate at now.
func verdictOf(c *Certificate, now time.Time) Verdict {
	switch {
	case c.Status == StatusRevoked:
		return Revoked
	case c.ExpiredAt(now):
		return Expired
	}
	return Valid
}

// Check verifies the certificate with code id at the module's clock and returns it
// with its data (nil for NotAuthentic).
func (m *Module) Check(ctx context.Context, id string) (Verdict, *Certificate, *Data, error) {
	c, err := m.find(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return NotAuthentic, nil, nil, nil
	}
	if err != nil {
		return "", nil, nil, err
	}
	d, err := m.intact(c)
	if err != nil {
		m.log.Error("certificate record fails its own stamp", "certificate", c.ID, "err", err)
		return NotAuthentic, nil, nil, nil
	}
	return verdictOf(c, m.now()), c, d, nil
}

// logVerification records a check. The row is queued and written within
// VerifyLogInterval (see verifylog.go); a failure is logged, never shown to the reader.
func (m *Module) logVerification(c echo.Context, certID, channel string) {
	if c.Request().Method == http.MethodHead {
		return
	}
	m.vlog.add(c.Request().Context(), Verification{CertificateID: certID, At: m.now().UTC(), Channel: channel, IP: AnonymizeIP(c.RealIP())})
}

// FlushVerifications writes the verification checks still queued in memory. The
// verification log is written in batches every VerifyLogInterval; pages that count
// checks show them after that, or after a flush.
func (m *Module) FlushVerifications(ctx context.Context) error {
	if m.vlog == nil {
		return nil
	}
	return m.vlog.flush(ctx)
}

// flushForRead writes the queued checks before a page counts or lists them, so that
// the holder and the staff always see every check (cheap when nothing is queued). A
// failure is logged: the page then shows what the database holds.
func (m *Module) flushForRead(ctx context.Context) {
	if err := m.FlushVerifications(ctx); err != nil {
		m.log.Warn("verification log not written before reading it", "err", err)
	}
}

// Stop implements services.Stopper: it writes the queued verification checks and ends
// the log's writer.
func (m *Module) Stop(ctx context.Context) error {
	if m.vlog == nil {
		return nil
	}
	return m.vlog.stop(ctx)
}

// AnonymizeIP clears the host part of an address: IPv4 keeps its /24 network
// (203.0.113.0), IPv6 its /48. Anything unparsable becomes "".
func AnonymizeIP(s string) string {
	ip := net.ParseIP(strings.TrimSpace(s))
	if ip == nil {
		return ""
	}
	if v4 := ip.To4(); v4 != nil {
		return v4.Mask(net.CIDRMask(24, 32)).String()
	}
	return ip.Mask(net.CIDRMask(48, 128)).String()
}

// verifyForm is the page where a code can be typed; with ?codice= it sends the reader
// to the certificate's page.
func (m *Module) verifyForm(c echo.Context) error {
	typed, asked := c.QueryParams()["codice"]
	data := map[string]any{"Errors": web.FormErrors{}, "Typed": ""}
	if asked {
		code := strings.TrimSpace(typed[0])
		norm, err := stamp.NormalizeCode(code)
		if err == nil {
			return web.Redirect(c, "/verifica/"+norm+"?via=codice")
		}
		errs := web.FormErrors{}
		if code == "" {
			errs.Add("codice", "validation.required")
		} else {
			errs.Add("codice", "certificati.verify.bad_code")
		}
		data["Errors"], data["Typed"] = errs, code
		return m.render.Render(c, http.StatusUnprocessableEntity, "certificati/verify_form.html", data)
	}
	return m.render.Render(c, http.StatusOK, "certificati/verify_form.html", data)
}

// VerifyPage is the data of the public verification page.
type VerifyPage struct {
	Verdict Verdict
	// Code is the code as asked for.
	Code string
	Cert *Certificate
	Body *Body
	// Unlimited is true for certificates valid without limit.
	Unlimited bool
}

// verifyPage is the page the QR code opens (and the typed code leads to): the verdict
// in large words, and the data as issued to compare with the paper. It needs no
// JavaScript; verify.js adds a check of the QR code's signed payload when present.
func (m *Module) verifyPage(c echo.Context) error {
	ctx := c.Request().Context()
	v, cert, d, err := m.Check(ctx, idParam(c))
	if err != nil {
		return err
	}
	page := VerifyPage{Verdict: v, Code: idParam(c), Cert: cert}
	c.Response().Header().Set("Cache-Control", "no-store")
	if cert == nil {
		return m.render.Render(c, http.StatusNotFound, "certificati/verify.html", page)
	}
	channel := ChannelQR
	if c.QueryParam("via") == "codice" {
		channel = ChannelCode
	}
	m.logVerification(c, cert.ID, channel)
	// The page shows the verdict and the record (its data found intact, so DataHash
	// stands for it): an anonymous visitor's page is rendered once for each of these.
	// publicData masks the tax codes of minors as of today, so the day is in the key.
	now := m.now()
	key := strings.Join([]string{string(v), page.Code, cert.ID, cert.DataHash, timeKey(cert.RevokedAt), timeKey(cert.ExpiresAt),
		now.In(web.Rome).Format("2006-01-02")}, "|")
	return m.render.RenderShared(c, http.StatusOK, "certificati/verify.html", key, func() any {
		b := m.body(m.tr(web.Lang(c)), cert, publicData(d, now))
		page.Body, page.Unlimited = &b, cert.ExpiresAt == nil
		return page
	})
}

// timeKey writes an optional time for a cache key.
func timeKey(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// APIResult is the JSON answer of the verification API (see the package comment).
type APIResult struct {
	Verdict       Verdict    `json:"verdict"`
	CertificateID string     `json:"certificate_id"`
	Type          string     `json:"type,omitempty"`
	TypeLabel     string     `json:"type_label,omitempty"`
	HolderName    string     `json:"holder_name,omitempty"`
	HolderCF      string     `json:"holder_cf,omitempty"`
	IssuedAt      *time.Time `json:"issued_at,omitempty"`
	// ExpiresAt is when validity ends; null for unlimited validity (or an unknown
	// certificate). ValidUntil is the last valid day, YYYY-MM-DD.
	ExpiresAt  *time.Time `json:"expires_at"`
	ValidUntil string     `json:"valid_until,omitempty"`
	RevokedAt  *time.Time `json:"revoked_at"`
	// Signature and KeyID answer POST /api/verifica: whether the payload's signature
	// verified ("valida" or "non_valida") and with which key.
	Signature string `json:"signature,omitempty"`
	KeyID     string `json:"key_id,omitempty"`
}

// apiResult is the API's answer; d (the certificate's data) masks a minor's tax code
// as the page does. Nothing of the certificate is given for NotAuthentic.
func (m *Module) apiResult(lang string, v Verdict, id string, cert *Certificate, d *Data) APIResult {
	r := APIResult{Verdict: v, CertificateID: id}
	if cert == nil || v == NotAuthentic {
		return r
	}
	t, _ := TypeByID(cert.Type)
	issued := cert.IssuedAt.UTC()
	r.CertificateID, r.Type, r.TypeLabel = cert.ID, cert.Type, m.i18n.T(lang, t.TitleKey())
	r.HolderName, r.HolderCF, r.IssuedAt = cert.HolderName, cert.HolderCF, &issued
	if d == nil || minorAt(d.Holder.BirthDate, m.now()) {
		r.HolderCF = MaskFiscalCode(cert.HolderCF)
	}
	if cert.ExpiresAt != nil {
		e := cert.ExpiresAt.UTC()
		r.ExpiresAt, r.ValidUntil = &e, cert.LastValidDay().Format(dateLayout)
	}
	if cert.RevokedAt != nil {
		ra := cert.RevokedAt.UTC()
		r.RevokedAt = &ra
	}
	return r
}

// verifyAPI answers GET /api/verifica/:id.
func (m *Module) verifyAPI(c echo.Context) error {
	v, cert, d, err := m.Check(c.Request().Context(), idParam(c))
	if err != nil {
		return err
	}
	status := http.StatusOK
	if cert == nil {
		status = http.StatusNotFound
	} else {
		m.logVerification(c, cert.ID, ChannelAPI)
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(status, m.apiResult(web.Lang(c), v, idParam(c), cert, d))
}

// payloadRequest is the body of POST /api/verifica.
type payloadRequest struct {
	// Payload is the QR code's fragment (the text after '#'), or the whole URL.
	Payload string `json:"payload"`
	// FromPage is set by the verification page's script, whose visit is already
	// logged.
	FromPage bool `json:"from_page"`
}

// verifyPayloadAPI answers POST /api/verifica: it verifies a stamp's signature with
// the comune's keys, then judges the certificate it names. Any altered byte, or a
// key the comune never had, gives "non_autentico".
func (m *Module) verifyPayloadAPI(c echo.Context) error {
	var req payloadRequest
	dec := json.NewDecoder(http.MaxBytesReader(c.Response(), c.Request().Body, 16<<10))
	if err := dec.Decode(&req); err != nil || strings.TrimSpace(req.Payload) == "" {
		return web.NewError(http.StatusBadRequest, "errors.400.text")
	}
	lang := web.Lang(c)
	p, err := m.verifyStamp(c.Request().Context(), strings.TrimSpace(req.Payload))
	if err != nil {
		r := m.apiResult(lang, NotAuthentic, "", nil, nil)
		r.Signature = "non_valida"
		return c.JSON(http.StatusOK, r)
	}
	v, cert, d, err := m.Check(c.Request().Context(), p.CertID)
	if err != nil {
		return err
	}
	if cert != nil && (!bytes.Equal(stamp.DataHash(d), p.DataHash) || cert.HolderCF != p.Holder || cert.Type != p.Type) {
		// Signed by us, but not what the register holds under that code.
		v, cert = NotAuthentic, nil
	}
	r := m.apiResult(lang, v, p.CertID, cert, d)
	r.Signature, r.KeyID = "valida", p.KeyID
	if cert != nil && !req.FromPage {
		m.logVerification(c, cert.ID, ChannelAPI)
	}
	return c.JSON(http.StatusOK, r)
}

// verifyStamp verifies a payload given as a fragment or as a whole verification URL.
// It uses the keys of the comune whose portal was asked.
func (m *Module) verifyStamp(ctx context.Context, s string) (stamp.Payload, error) {
	ring, err := m.ringOf(enteOf(ctx))
	if err != nil {
		return stamp.Payload{}, err
	}
	if strings.HasPrefix(s, "http://") || strings.HasPrefix(s, "https://") {
		return ring.VerifyURL(s)
	}
	msg, err := stamp.Decode(strings.TrimPrefix(s, "#"))
	if err != nil {
		return stamp.Payload{}, err
	}
	return ring.Verify(msg)
}

// idParam is the certificate code in the path, unescaped: a check character such as
// "*" arrives as %2A from a QR code made with url.PathEscape.
func idParam(c echo.Context) string {
	raw := c.Param("id")
	if s, err := url.PathUnescape(raw); err == nil {
		return s
	}
	return raw
}
