package certificates_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/comuni-italiani/sportello/app/anagrafe"
	"github.com/comuni-italiani/sportello/app/apptest"
	"github.com/comuni-italiani/sportello/app/audit"
	"github.com/comuni-italiani/sportello/app/stamp"
	"github.com/comuni-italiani/sportello/app/store"
	"github.com/comuni-italiani/sportello/services/certificates"
)

func issue(t testing.TB, m *certificates.Module, requester, holder anagrafe.Person, typ string) *certificates.Certificate {
	t.Helper()
	c, err := m.Issue(ctx, certificates.Request{RequesterCF: requester.FiscalCode, HolderCF: holder.FiscalCode,
		Type: typ, Bollo: certificates.BolloDue})
	if err != nil {
		t.Fatalf("issue %s for %s: %v", typ, holder.FiscalCode, err)
	}
	return c
}

func verdictOf(t testing.TB, s *apptest.Server, id string) certificates.APIResult {
	t.Helper()
	var res certificates.APIResult
	r := s.Client().Get("/api/verifica/" + url.PathEscape(id))
	if err := jsonUnmarshal(r.Body, &res); err != nil {
		t.Fatalf("GET /api/verifica/%s: %d %s", id, r.Status, r.Body)
	}
	return res
}

// Each verdict: valid, expired (by the clock), revoked (by staff), not authentic
// (unknown code, any changed byte, a foreign key, a record altered in the database).
func TestVerdicts(t *testing.T) {
	t.Parallel()
	for _, d := range []store.Dialect{store.SQLite, store.Postgres} {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			start := time.Date(2026, 1, 12, 9, 30, 0, 0, time.UTC)
			clk := newClock(start)
			s, m := portal(t, d, "", certificates.WithClock(clk.now))
			giulia := person(t, s.DB, "BIANCHI", "GIULIA")
			sofia := person(t, s.DB, "ESPOSITO", "SOFIA")
			res := issue(t, m, giulia, giulia, certificates.TypeResidence)
			birth := issue(t, m, giulia, sofia, certificates.TypeBirth)

			// Valid, with the data as issued.
			v := verdictOf(t, s, res.ID)
			if v.Verdict != certificates.Valid || v.HolderCF != giulia.FiscalCode || v.HolderName != "BIANCHI GIULIA" ||
				v.Type != "residenza" || v.TypeLabel != "Certificato di residenza" || v.ValidUntil != "2026-07-12" ||
				v.ExpiresAt == nil || !v.ExpiresAt.Equal(time.Date(2026, 7, 12, 22, 0, 0, 0, time.UTC)) || v.RevokedAt != nil {
				t.Fatalf("valid: %+v", v)
			}
			if v := verdictOf(t, s, birth.ID); v.Verdict != certificates.Valid || v.ExpiresAt != nil {
				t.Fatalf("birth certificate: %+v", v)
			}
			// The code as a person types it.
			typed := strings.ToLower(strings.ReplaceAll(res.ID, "-", " "))
			r := s.Client().Get("/verifica?codice=" + url.QueryEscape(typed))
			if r.Status != http.StatusSeeOther || r.Header.Get("Location") != "/verifica/"+res.ID+"?via=codice" {
				t.Fatalf("typed code: %d %s", r.Status, r.Header.Get("Location"))
			}
			if r := s.Client().Get("/verifica?codice=ABCD"); r.Status != http.StatusUnprocessableEntity || !strings.Contains(r.Body, `aria-invalid="true"`) {
				t.Fatalf("bad typed code: %d", r.Status)
			}

			// Expired: the last valid day is 12/07/2026, Europe/Rome.
			clk.set(time.Date(2026, 7, 12, 21, 59, 0, 0, time.UTC))
			if v := verdictOf(t, s, res.ID); v.Verdict != certificates.Valid {
				t.Fatalf("on its last day: %s", v.Verdict)
			}
			clk.set(time.Date(2026, 7, 12, 22, 0, 0, 0, time.UTC))
			if v := verdictOf(t, s, res.ID); v.Verdict != certificates.Expired {
				t.Fatalf("after its last day: %s", v.Verdict)
			}
			page := s.Client().Get("/verifica/" + res.ID)
			if page.Status != http.StatusOK || !strings.Contains(page.Body, ">SCADUTO<") || !strings.Contains(page.Body, "alert-warning") {
				t.Fatalf("expired page: %d", page.Status)
			}
			clk.set(start.AddDate(30, 0, 0))
			if v := verdictOf(t, s, birth.ID); v.Verdict != certificates.Valid {
				t.Fatalf("birth certificate after 30 years: %s", v.Verdict)
			}
			clk.set(start)

			// Revoked by an officer, with a reason, audited.
			staff := officer(t, s)
			if r := staff.PostForm("/backoffice/certificati/"+res.ID+"/revoca", url.Values{"motivo": {"  "}}); r.Status != http.StatusUnprocessableEntity ||
				!strings.Contains(r.Body, "Indica il motivo della revoca.") {
				t.Fatalf("revoke without reason: %d", r.Status)
			}
			// Without the explicit confirmation nothing changes.
			if r := staff.PostForm("/backoffice/certificati/"+res.ID+"/revoca", url.Values{"motivo": {"Emesso per errore"}}); r.Status != http.StatusUnprocessableEntity ||
				!strings.Contains(r.Body, "Per revocare il certificato spunta la conferma.") {
				t.Fatalf("revoke without confirmation: %d", r.Status)
			}
			if v := verdictOf(t, s, res.ID); v.Verdict != certificates.Valid {
				t.Fatalf("revoke without confirmation changed the certificate: %s", v.Verdict)
			}
			if r := staff.PostForm("/backoffice/certificati/"+res.ID+"/revoca", url.Values{"motivo": {"Emesso per errore sull'indirizzo"}, "conferma": {"1"}}); r.Status != http.StatusSeeOther {
				t.Fatalf("revoke: %d %s", r.Status, r.Body)
			}
			if v := verdictOf(t, s, res.ID); v.Verdict != certificates.Revoked || v.RevokedAt == nil {
				t.Fatalf("revoked: %+v", v)
			}
			page = s.Client().Get("/verifica/" + res.ID)
			if !strings.Contains(page.Body, ">REVOCATO<") || !strings.Contains(page.Body, "alert-danger") {
				t.Fatal("revoked page")
			}
			if strings.Contains(page.Body, ">Validità<") {
				t.Error("the verification page of a revoked certificate still says how long it is valid")
			}
			evs, n, err := audit.List(s.Ctx(ctx), s.DB, audit.Filter{Action: "certificates.revoke"})
			if err != nil || n != 1 || evs[0].ObjectID != res.ID || evs[0].ActorID != "m.rossi" || evs[0].SubjectCF != giulia.FiscalCode ||
				!strings.Contains(evs[0].Details, "Emesso per errore") {
				t.Fatalf("revoke audit: %+v %v", evs, err)
			}
			// Revoking twice changes nothing.
			staff.PostForm("/backoffice/certificati/"+res.ID+"/revoca", url.Values{"motivo": {"di nuovo"}, "conferma": {"1"}})
			if _, n, _ := audit.List(s.Ctx(ctx), s.DB, audit.Filter{Action: "certificates.revoke"}); n != 1 {
				t.Fatalf("second revocation audited: %d", n)
			}

			// Not authentic: an unknown code, well-formed or not.
			other, _ := stamp.NewCode()
			for _, id := range []string{other, "NIENTE", "0000-0000-0000-0"} {
				if v := verdictOf(t, s, id); v.Verdict != certificates.NotAuthentic || v.HolderCF != "" {
					t.Fatalf("unknown %s: %+v", id, v)
				}
				page := s.Client().Get("/verifica/" + url.PathEscape(id))
				if page.Status != http.StatusNotFound || !strings.Contains(page.Body, ">NON AUTENTICO<") {
					t.Fatalf("unknown %s page: %d", id, page.Status)
				}
			}

			// Not authentic: any changed byte of the signed stamp.
			msg, err := stamp.Decode(birth.Stamp)
			if err != nil {
				t.Fatal(err)
			}
			var good certificates.APIResult
			if postJSON(t, s, "/api/verifica", map[string]any{"payload": birth.Stamp}, &good); good.Verdict != certificates.Valid {
				t.Fatalf("untouched payload: %+v", good)
			}
			client := s.Client()
			token := client.CSRF()
			for i := range msg {
				bad := append([]byte(nil), msg...)
				bad[i] ^= 0x01 << (i % 8)
				var r certificates.APIResult
				postJSONWith(t, client, s, token, map[string]any{"payload": stamp.Encode(bad)}, &r)
				if r.Verdict != certificates.NotAuthentic || r.HolderCF != "" {
					t.Fatalf("byte %d changed: %+v", i, r)
				}
			}
			// ... and the text form with a character changed, and the whole URL.
			txt := []byte(birth.Stamp)
			// Another base64url letter: flipping a bit could make a control character,
			// which the portal refuses at the edge with 400 before any verification.
			if txt[len(txt)/2] == 'A' {
				txt[len(txt)/2] = 'B'
			} else {
				txt[len(txt)/2] = 'A'
			}
			if postJSON(t, s, "/api/verifica", map[string]any{"payload": string(txt)}, &good); good.Verdict != certificates.NotAuthentic {
				t.Fatalf("changed text: %+v", good)
			}
			full := stamp.VerificationURL(s.URL, birth.ID, msg)
			if postJSON(t, s, "/api/verifica", map[string]any{"payload": full}, &good); good.Verdict != certificates.Valid {
				t.Fatalf("whole URL: %+v", good)
			}

			// Not authentic: the same content signed with a key the comune never had.
			ring, _, err := stamp.LoadOrCreateDir(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			p := stamp.Payload{Issuer: "Comune di Valdoria", CertID: birth.ID, Type: birth.Type, Holder: birth.HolderCF,
				IssuedAt: birth.IssuedAt, ExpiresAt: certificates.UnlimitedStampExpiry, DataHash: mustHex(t, birth.DataHash)}
			forged, err := ring.Sign(p)
			if err != nil {
				t.Fatal(err)
			}
			var fr certificates.APIResult
			postJSON(t, s, "/api/verifica", map[string]any{"payload": stamp.Encode(forged)}, &fr)
			if fr.Verdict != certificates.NotAuthentic || fr.Signature != "non_valida" {
				t.Fatalf("foreign key: %+v", fr)
			}

			// Not authentic: a record altered in the database no longer matches its stamp.
			if err := s.All().Model(&certificates.Certificate{}).Where("id = ?", birth.ID).
				Update("data", strings.Replace(birth.Data, "ESPOSITO", "ESPOSTO", 1)).Error; err != nil {
				t.Fatal(err)
			}
			// A change made behind the portal's back (like another replica's) is seen
			// within certificates.LookupTTL: the looked-up record is kept that long.
			altered := time.Now()
			for {
				v := verdictOf(t, s, birth.ID)
				if v.Verdict == certificates.NotAuthentic {
					break
				}
				if time.Since(altered) > certificates.LookupTTL+200*time.Millisecond {
					t.Fatalf("altered record still %s after %s", v.Verdict, time.Since(altered))
				}
				time.Sleep(50 * time.Millisecond)
			}
		})
	}
}

// The verification log: each channel counted, the client's network anonymized, and
// shown to the holder.
func TestVerificationLog(t *testing.T) {
	t.Parallel()
	for _, d := range []store.Dialect{store.SQLite, store.Postgres} {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			s, m := portal(t, d, "")
			giulia := person(t, s.DB, "BIANCHI", "GIULIA")
			c := issue(t, m, giulia, giulia, certificates.TypeCivilStatus)
			anon := s.Client()
			anon.Get("/verifica/" + c.ID)                 // the QR code
			anon.Get("/verifica/" + c.ID + "?via=codice") // the typed code
			anon.Get("/api/verifica/" + c.ID)             // the API
			postJSON(t, s, "/api/verifica", map[string]any{"payload": c.Stamp}, nil)
			postJSON(t, s, "/api/verifica", map[string]any{"payload": c.Stamp, "from_page": true}, nil) // the page's script: not counted twice
			// The log is written in batches off the request path: flush it.
			if err := m.FlushVerifications(ctx); err != nil {
				t.Fatal(err)
			}
			var vs []certificates.Verification
			s.All().Where("certificate_id = ?", c.ID).Order("id").Find(&vs)
			var channels []string
			for _, v := range vs {
				channels = append(channels, v.Channel)
				if v.IP != "127.0.0.0" {
					t.Errorf("IP not anonymized: %q", v.IP)
				}
			}
			if strings.Join(channels, ",") != "qr,codice,api,api" {
				t.Fatalf("channels: %v", channels)
			}
			sections, err := m.PersonalArea(ctx, giulia.FiscalCode, "it")
			if err != nil || len(sections) != 1 || len(sections[0].Items) != 1 {
				t.Fatalf("personal area: %+v %v", sections, err)
			}
			item := sections[0].Items[0]
			if item.Label != "Certificato di stato civile" || !strings.Contains(item.Detail, "verificato 4 volte") ||
				item.Status != "certificati.status.valido" || item.Href != "/servizi/certificati/miei/"+c.ID {
				t.Fatalf("personal area item: %+v", item)
			}
			page := citizen(t, s, giulia).Get("/servizi/certificati/miei/" + c.ID)
			for _, w := range []string{"Il certificato è stato verificato 4 volte.", "Codice QR", "Codice digitato", "Servizio di verifica (API)"} {
				if !strings.Contains(page.Body, w) {
					t.Errorf("holder's page lacks %q", w)
				}
			}
			if strings.Contains(page.Body, "127.0.0") {
				t.Error("the holder's page shows the verifiers' network")
			}
			if sections, _ := m.PersonalArea(ctx, giulia.FiscalCode, "en"); !strings.Contains(sections[0].Items[0].Detail, "checked 4 times") {
				t.Errorf("English personal area: %+v", sections[0].Items[0])
			}
		})
	}
}

func TestVerificationIsRateLimited(t *testing.T) {
	t.Parallel()
	s, _ := portal(t, store.SQLite, "verify_rate_per_minute: 3")
	c := s.Client()
	for i := range 3 {
		if r := c.Get("/verifica/0000-0000-0000-0"); r.Status != http.StatusNotFound {
			t.Fatalf("request %d: %d", i, r.Status)
		}
	}
	r := c.Get("/api/verifica/0000-0000-0000-0")
	if r.Status != http.StatusTooManyRequests || r.Header.Get("Retry-After") == "" || !strings.Contains(r.Body, `"status":429`) {
		t.Fatalf("4th request: %d %s", r.Status, r.Body)
	}
	if r := c.Get("/verifica"); r.Status != http.StatusTooManyRequests {
		t.Fatalf("form after the limit: %d", r.Status)
	}
}

// The published keys verify a stamp offline, with no access to the portal's keys.
func TestPublishedKeys(t *testing.T) {
	t.Parallel()
	s, m := portal(t, store.SQLite, "")
	giulia := person(t, s.DB, "BIANCHI", "GIULIA")
	c := issue(t, m, giulia, giulia, certificates.TypeResidence)
	r := s.Client().Get(certificates.KeysPath)
	if r.Status != http.StatusOK || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		t.Fatalf("keys: %d %s", r.Status, r.Header.Get("Content-Type"))
	}
	ring, err := stamp.KeyRingFromJWKS([]byte(r.Body))
	if err != nil {
		t.Fatal(err)
	}
	msg, _ := stamp.Decode(c.Stamp)
	p, err := ring.Verify(msg)
	if err != nil || p.CertID != c.ID || p.Holder != giulia.FiscalCode || p.KeyID != c.KeyID {
		t.Fatalf("offline verification: %+v %v", p, err)
	}
	if strings.Contains(r.Body, `"d"`) {
		t.Fatal("the published keys include a private part")
	}
}
