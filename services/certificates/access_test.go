package certificates_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/comuni-italiani/sportello/app/anagrafe"
	"github.com/comuni-italiani/sportello/app/apptest"
	"github.com/comuni-italiani/sportello/app/audit"
	"github.com/comuni-italiani/sportello/app/store"
	"github.com/comuni-italiani/sportello/config"
	"github.com/comuni-italiani/sportello/services/certificates"
)

// A citizen may ask for themselves and their own family, nobody else: any other
// person is refused with 403, and the attempt is audited.
func TestOutsideHouseholdIsForbiddenAndAudited(t *testing.T) {
	t.Parallel()
	for _, d := range []store.Dialect{store.SQLite, store.Postgres} {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			s, _ := portal(t, d, "")
			giulia := person(t, s.DB, "BIANCHI", "GIULIA")
			ion := person(t, s.DB, "POPESCU", "ION")
			c := citizen(t, s, giulia)

			page := c.Get("/servizi/certificati/nuovo")
			if page.Status != http.StatusOK || !strings.Contains(page.Body, "ESPOSITO LUCA") || strings.Contains(page.Body, "POPESCU") {
				t.Fatalf("step 1 lists: %d", page.Status)
			}
			form := url.Values{"persona": {itoa(ion.ID)}, "tipo": {"residenza"}, "bollo": {"bollo"}}
			for _, r := range []*apptest.Response{
				c.Get("/servizi/certificati/nuovo/tipo?persona=" + itoa(ion.ID)),
				c.Get("/servizi/certificati/nuovo/riepilogo?" + form.Encode()),
				c.PostForm("/servizi/certificati/nuovo", form),
				c.Get("/servizi/certificati/nuovo/tipo?persona=999999"),
			} {
				if r.Status != http.StatusForbidden || strings.Contains(r.Body, "POPESCU") {
					t.Fatalf("outside the household: %d", r.Status)
				}
			}
			evs, n, err := audit.List(s.Ctx(ctx), s.DB, audit.Filter{Action: "certificates.denied"})
			if err != nil || n != 4 {
				t.Fatalf("denials audited: %d %v", n, err)
			}
			for _, e := range evs[1:] { // newest first: the unknown id is evs[0]
				if e.ActorID != giulia.FiscalCode || e.SubjectCF != ion.FiscalCode || e.Outcome != audit.Denied || e.ActorKind != audit.ActorCitizen {
					t.Fatalf("denial entry: %+v", e)
				}
			}
			var issued int64
			s.All().Model(&certificates.Certificate{}).Count(&issued)
			if issued != 0 {
				t.Fatal("a certificate was issued for someone outside the household")
			}

			// In a care home, the other residents are not family.
			ada := person(t, s.DB, "FONTANA", "ADA")
			ernesto := person(t, s.DB, "BARBIERI", "ERNESTO")
			if r := citizen(t, s, ada).Get("/servizi/certificati/nuovo/tipo?persona=" + itoa(ernesto.ID)); r.Status != http.StatusForbidden {
				t.Fatalf("care home neighbour: %d", r.Status)
			}
			if r := citizen(t, s, ada).Get("/servizi/certificati/nuovo"); strings.Contains(r.Body, "BARBIERI") || !strings.Contains(r.Body, "convivenza") {
				t.Fatal("care home: step 1 lists another resident")
			}
		})
	}
}

// One citizen cannot see or download another's certificate: it is "not found".
func TestOthersCertificatesAreNotFound(t *testing.T) {
	t.Parallel()
	for _, d := range []store.Dialect{store.SQLite, store.Postgres} {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			s, m := portal(t, d, "")
			giulia := person(t, s.DB, "BIANCHI", "GIULIA")
			luca := person(t, s.DB, "ESPOSITO", "LUCA")
			own := issue(t, m, giulia, giulia, certificates.TypeResidence)
			forSon := issue(t, m, giulia, luca, certificates.TypeCitizenship)

			for _, other := range []anagrafe.Person{person(t, s.DB, "POPESCU", "ION"), person(t, s.DB, "ESPOSITO", "MARCO")} {
				c := citizen(t, s, other)
				for _, p := range []string{"/servizi/certificati/miei/" + own.ID, "/servizi/certificati/miei/" + own.ID + "/certificato.pdf",
					"/servizi/certificati/emesso/" + own.ID, "/servizi/certificati/miei/" + own.ID + "/copia"} {
					if r := c.Get(p); r.Status != http.StatusNotFound || strings.Contains(r.Body, "BIANCHI") {
						t.Fatalf("%s sees %s: %d", other.Name, p, r.Status)
					}
				}
				if r := c.Get("/servizi/certificati/miei"); strings.Contains(r.Body, own.ID) {
					t.Fatalf("%s's list shows another's certificate", other.Name)
				}
			}
			// Each attempt is a security event (2 people × 4 pages).
			evs, n, err := audit.List(s.Ctx(ctx), s.DB, audit.Filter{Action: "security.certificate_access_denied"})
			if err != nil || n != 8 {
				t.Fatalf("attempts audited: %d %v", n, err)
			}
			for _, e := range evs {
				if e.Outcome != audit.Denied || e.ObjectID != own.ID || e.ActorKind != audit.ActorCitizen {
					t.Fatalf("security event: %+v", e)
				}
			}
			// The requester and the holder see it.
			g := citizen(t, s, giulia)
			for _, id := range []string{own.ID, forSon.ID} {
				if r := g.Get("/servizi/certificati/miei/" + id); r.Status != http.StatusOK {
					t.Fatalf("requester: %d", r.Status)
				}
			}
			if r := g.Get("/servizi/certificati/miei"); !strings.Contains(r.Body, own.ID) || !strings.Contains(r.Body, forSon.ID) {
				t.Fatal("requester's list")
			}
			if r := citizen(t, s, luca).Get("/servizi/certificati/miei/" + forSon.ID + "/certificato.pdf"); r.Status != http.StatusOK {
				t.Fatalf("holder: %d", r.Status)
			}
			// Not logged in: to the login page; staff are not citizens.
			if r := s.Client().Get("/servizi/certificati/miei/" + own.ID); r.Status != http.StatusSeeOther ||
				!strings.HasPrefix(r.Header.Get("Location"), "/auth/login") {
				t.Fatalf("anonymous: %d %s", r.Status, r.Header.Get("Location"))
			}
			if r := officer(t, s).Get("/servizi/certificati/miei/" + own.ID); r.Status != http.StatusForbidden {
				t.Fatalf("staff on the citizen page: %d", r.Status)
			}
		})
	}
}

// The steps of the form: only the available types are offered, with the reasons for
// the others; errors are tied to their fields and keep what was chosen.
func TestRequestSteps(t *testing.T) {
	t.Parallel()
	s, _ := portal(t, store.SQLite, "")
	giulia := person(t, s.DB, "BIANCHI", "GIULIA")
	c := citizen(t, s, giulia)
	id := itoa(giulia.ID)
	r := c.Get("/servizi/certificati/nuovo/tipo?persona=" + id)
	if r.Status != http.StatusOK {
		t.Fatal(r.Status)
	}
	for _, w := range []string{`value="residenza"`, `value="matrimonio"`, "<legend", "Certificato di stato libero</strong>: La persona risulta coniugata",
		"Certificato di nascita</strong>: L&#39;atto di nascita non è registrato in questo Comune", "16,00 €",
		"art. 11 della Tabella B allegata al DPR 642/1972"} {
		if !strings.Contains(r.Body, w) {
			t.Errorf("step 2 lacks %q", w)
		}
	}
	if strings.Contains(r.Body, `value="stato_libero"`) || strings.Contains(r.Body, `value="nascita"`) {
		t.Error("step 2 offers a certificate the rules refuse")
	}
	// Nothing chosen.
	r = c.Get("/servizi/certificati/nuovo/riepilogo?persona=" + id)
	if r.Status != http.StatusUnprocessableEntity || !strings.Contains(r.Body, `id="tipo-err"`) || !strings.Contains(r.Body, `id="bollo-err"`) ||
		!strings.Contains(r.Body, "Scegli il certificato da richiedere.") {
		t.Fatalf("empty step 2: %d", r.Status)
	}
	// Exempt without a use: the error is on the select, the choice kept.
	r = c.Get("/servizi/certificati/nuovo/riepilogo?persona=" + id + "&tipo=residenza&bollo=esente")
	if r.Status != http.StatusUnprocessableEntity || !strings.Contains(r.Body, `id="esenzione-err"`) ||
		!strings.Contains(r.Body, `value="residenza" aria-describedby="desc-residenza" checked`) {
		t.Fatalf("exempt without a use: %d", r.Status)
	}
	// A type the rules refuse, typed into the URL.
	r = c.Get("/servizi/certificati/nuovo/riepilogo?persona=" + id + "&tipo=stato_libero&bollo=bollo")
	if r.Status != http.StatusUnprocessableEntity || !strings.Contains(r.Body, "lo stato libero non può essere certificato") {
		t.Fatalf("refused type: %d", r.Status)
	}
	if r := c.PostForm("/servizi/certificati/nuovo", url.Values{"persona": {id}, "tipo": {"stato_libero"}, "bollo": {"bollo"}}); r.Status != http.StatusUnprocessableEntity {
		t.Fatalf("refused type posted: %d", r.Status)
	}
	// Civil-status certificates need no stamp-duty choice.
	r = c.Get("/servizi/certificati/nuovo/riepilogo?persona=" + id + "&tipo=matrimonio")
	if r.Status != http.StatusOK || !strings.Contains(r.Body, "art. 7, comma 5, della L. 29 dicembre 1990, n. 405") {
		t.Fatalf("civil-status summary: %d", r.Status)
	}
	// The summary says honestly that the duty is due and not paid here.
	r = c.Get("/servizi/certificati/nuovo/riepilogo?persona=" + id + "&tipo=residenza&bollo=bollo")
	if r.Status != http.StatusOK || !strings.Contains(r.Body, "non si paga su questo portale") || !strings.Contains(r.Body, "autocertificazione") {
		t.Fatalf("summary: %d", r.Status)
	}
	// In English.
	if r := c.GetLang("/servizi/certificati/nuovo/tipo?persona="+id, "en"); !strings.Contains(r.Body, "Certificate of residence") {
		t.Fatal("English step 2")
	}
	// Stamp duty recorded with the certificate.
	cid := request(t, c, giulia, "stato_civile", "esente", "assegni_familiari")
	var cert certificates.Certificate
	s.All().Where("id = ?", cid).Take(&cert)
	if cert.Bollo != certificates.BolloExempt || cert.Exemption != "assegni_familiari" || cert.BolloCents != 0 || cert.RequesterCF != giulia.FiscalCode {
		t.Fatalf("recorded: %+v", cert)
	}
	cid = request(t, c, giulia, "stato_civile", "bollo", "")
	cert = certificates.Certificate{}
	s.All().Where("id = ?", cid).Take(&cert)
	if cert.Bollo != certificates.BolloDue || cert.BolloCents != 1600 {
		t.Fatalf("recorded: %+v", cert)
	}
	evs, n, _ := audit.List(s.Ctx(ctx), s.DB, audit.Filter{Action: "certificates.issue"})
	if n != 2 || evs[0].ObjectID != cid || evs[0].SubjectCF != giulia.FiscalCode {
		t.Fatalf("issue audit: %d %+v", n, evs)
	}
	// Someone not in the register.
	stranger := s.Client()
	s.LoginAs(stranger, webViewer("TSTTST80A01H501X"))
	if r := stranger.Get("/servizi/certificati/nuovo"); r.Status != http.StatusOK || !strings.Contains(r.Body, "Non risulti iscritto") {
		t.Fatalf("not in the register: %d", r.Status)
	}
}

// The stamp duty and the office come from the module's settings.
func TestSettings(t *testing.T) {
	t.Parallel()
	s, m := portal(t, store.SQLite, `
verify_rate_per_minute: -1
bollo_cents: 3200
office_anagrafe: "Ufficio Demografico Unico"
exemptions:
  - {code: sport, text: "Tesseramento sportivo", text_en: "Sports membership", reference: "art. 8-bis della Tabella B allegata al DPR 642/1972"}
`)
	giulia := person(t, s.DB, "BIANCHI", "GIULIA")
	c := citizen(t, s, giulia)
	r := c.Get("/servizi/certificati/nuovo/tipo?persona=" + itoa(giulia.ID))
	if !strings.Contains(r.Body, "32,00 €") || !strings.Contains(r.Body, "Tesseramento sportivo") {
		t.Fatal("settings not applied to the form")
	}
	if strings.Contains(r.Body, `value="pensioni"`) {
		t.Fatal("default exemptions still offered")
	}
	cert := issue(t, m, giulia, giulia, certificates.TypeResidence)
	pdf, err := m.PDF(context.Background(), cert)
	if err != nil {
		t.Fatal(err)
	}
	if text := pdfText(t, pdf); !strings.Contains(text, "32,00 €") || !strings.Contains(text, "Ufficio Demografico Unico") {
		t.Fatalf("PDF: %s", text)
	}
	// A bad exemption list is refused at start, naming the setting.
	cfg := config.Default()
	if _, err := certificates.LoadSettings(withSettings(t, cfg, "exemptions: [{code: x}]")); err == nil ||
		!strings.Contains(err.Error(), "modules.settings.certificati.exemptions[0]") {
		t.Fatalf("bad exemptions: %v", err)
	}
}

func TestProductionNeedsProvisionedKeys(t *testing.T) {
	t.Parallel()
	cfg := config.Default()
	cfg.Env = "production"
	cfg.DataDir = t.TempDir()
	s, err := certificates.LoadSettings(cfg)
	if err != nil {
		t.Fatal(err)
	}
	_, err = certificates.LoadKeys(cfg, s, nil)
	if err == nil || !strings.Contains(err.Error(), "modules.settings.certificati.key_dir") || !strings.Contains(err.Error(), "sportello certificati keys init") {
		t.Fatalf("production without keys: %v", err)
	}
	// Development creates them.
	cfg.Env = "development"
	if _, err := certificates.LoadKeys(cfg, s, nil); err != nil {
		t.Fatal(err)
	}
	cfg.Env = "production"
	if ring, err := certificates.LoadKeys(cfg, s, nil); err != nil || ring.ActiveKID() == "" {
		t.Fatalf("production with keys: %v", err)
	}
}

func TestStaffPagesAndStats(t *testing.T) {
	t.Parallel()
	for _, d := range []store.Dialect{store.SQLite, store.Postgres} {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			clk := newClock(time.Date(2026, 3, 10, 10, 0, 0, 0, time.UTC))
			s, m := portal(t, d, "", certificates.WithClock(clk.now))
			giulia := person(t, s.DB, "BIANCHI", "GIULIA")
			rosa := person(t, s.DB, "GALLO", "ROSA")
			old := issue(t, m, giulia, giulia, certificates.TypeResidence)
			clk.set(time.Date(2026, 9, 20, 10, 0, 0, 0, time.UTC)) // the first has expired
			a := issue(t, m, rosa, rosa, certificates.TypeAlive)
			b := issue(t, m, giulia, giulia, certificates.TypeFamily)
			st := officer(t, s)

			r := st.Get("/backoffice/certificati/?cf=" + giulia.FiscalCode)
			if r.Status != http.StatusOK || !strings.Contains(r.Body, old.ID) || !strings.Contains(r.Body, b.ID) || strings.Contains(r.Body, a.ID) ||
				!strings.Contains(r.Body, "Scaduto") {
				t.Fatalf("search by tax code: %d", r.Status)
			}
			r = st.Get("/backoffice/certificati/?codice=" + url.QueryEscape(strings.ToLower(a.ID)))
			if !strings.Contains(r.Body, a.ID) || strings.Contains(r.Body, b.ID) {
				t.Fatal("search by code")
			}
			r = st.Get("/backoffice/certificati/?dal=2026-03-01&al=2026-03-31")
			if !strings.Contains(r.Body, old.ID) || strings.Contains(r.Body, a.ID) {
				t.Fatal("search by date")
			}
			if r := st.Get("/backoffice/certificati/?dal=ieri"); r.Status != http.StatusUnprocessableEntity {
				t.Fatalf("bad date: %d", r.Status)
			}
			s.Client().Get("/verifica/" + a.ID)
			if err := m.FlushVerifications(ctx); err != nil { // the log is written in batches
				t.Fatal(err)
			}
			r = st.Get("/backoffice/certificati/" + a.ID)
			if r.Status != http.StatusOK || !strings.Contains(r.Body, "Codice QR") || !strings.Contains(r.Body, "127.0.0.0") || !strings.Contains(r.Body, `name="motivo"`) {
				t.Fatalf("staff detail: %d", r.Status)
			}
			if r := st.Get("/backoffice/certificati/0000-0000-0000-0"); r.Status != http.StatusNotFound {
				t.Fatalf("unknown: %d", r.Status)
			}
			// Staff without the role, and citizens, are refused.
			other := s.Client()
			s.LoginAs(other, staffViewer("urp.desk", "urp_operator"))
			if r := other.Get("/backoffice/certificati/"); r.Status != http.StatusForbidden {
				t.Fatalf("staff without the role: %d", r.Status)
			}
			if r := citizen(t, s, giulia).Get("/backoffice/certificati/"); r.Status != http.StatusForbidden {
				t.Fatalf("citizen in the back office: %d", r.Status)
			}
			st.PostForm("/backoffice/certificati/"+b.ID+"/revoca", url.Values{"motivo": {"prova"}, "conferma": {"1"}})
			stats, err := m.Stats(ctx)
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]int64{}
			for _, x := range stats {
				got[x.Label] = x.Value
			}
			if got["certificati.stats.today"] != 2 || got["certificati.stats.valid"] != 1 || got["certificati.stats.revoked"] != 1 {
				t.Fatalf("stats: %v", got)
			}
		})
	}
}

func TestServiceInCatalogue(t *testing.T) {
	t.Parallel()
	s, m := portal(t, store.SQLite, "")
	for range 2 { // idempotent
		if err := m.SeedDemo(s.Ctx(ctx), s.DB); err != nil {
			t.Fatal(err)
		}
	}
	var n int64
	s.All().Model(&certificates.Certificate{}).Where("holder_cf = ?", anagrafe.DemoCitizenCF).Count(&n)
	if n != 2 { // the sample one and the one issued by the demo marca da bollo (bollo.go)
		t.Fatalf("demo certificates: %d", n)
	}
	r := s.Client().Get("/servizi/certificati")
	if r.Status != http.StatusOK || !strings.Contains(r.Body, "Certificati anagrafici e di stato civile") || !strings.Contains(r.Body, `href="/servizi/certificati/nuovo"`) {
		t.Fatalf("service sheet: %d", r.Status)
	}
	if r := s.Client().Get("/verifica"); r.Status != http.StatusOK || !strings.Contains(r.Body, `<label for="codice"`) {
		t.Fatalf("verification form: %d", r.Status)
	}
	if r := s.Client().Get("/verifica.js"); r.Status != http.StatusOK || !strings.Contains(r.Header.Get("Content-Type"), "javascript") {
		t.Fatalf("script: %d", r.Status)
	}
}
