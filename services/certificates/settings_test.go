package certificates_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/comuni-italiani/sportello/app/anagrafe"
	"github.com/comuni-italiani/sportello/app/apptest"
	"github.com/comuni-italiani/sportello/app/enti"
	"github.com/comuni-italiani/sportello/app/web"
	"github.com/comuni-italiani/sportello/config"
	"github.com/comuni-italiani/sportello/services"
	"github.com/comuni-italiani/sportello/services/certificates"
)

// borgomonteSettings are Borgomonte's own settings of the module: its registry
// office's name and a shorter list of stamp-duty exemptions.
const borgomonteSettings = `office_anagrafe: "Area Servizi al Cittadino - Anagrafe di Borgomonte"
exemptions:
  - code: pensioni
    text: "Pensioni, previdenza e assicurazioni sociali obbligatorie"
    reference: "art. 9 della Tabella B allegata al DPR 642/1972"
  - code: elettorale
    text: "Esercizio dei diritti elettorali"
    reference: "art. 1 della Tabella B allegata al DPR 642/1972"
`

// TestSettingsPerEnte: two comuni of one installation, the same demo register in
// both. Through real HTTP on each comune's host: Valdoria (the installation's
// settings) offers the exemption for amateur sports clubs and heads its certificates
// with the standard registry office; Borgomonte (enti[].modules.certificati) does not
// offer it, refuses it when typed into the request (422, nothing issued), and heads
// its certificates with its own office. An ente's setting of the installation-wide
// key_dir is refused: Borgomonte then falls back to the installation's settings.
func TestSettingsPerEnte(t *testing.T) {
	t.Parallel()
	apptest.Each(t, apptest.Options{
		NewModules: func() []services.Module { return []services.Module{register{}, certificates.New()} },
		Configure: func(c *config.Config) {
			var inst, bor yaml.Node
			if err := yaml.Unmarshal([]byte("verify_rate_per_minute: -1\n"), &inst); err != nil {
				t.Fatal(err)
			}
			if err := yaml.Unmarshal([]byte(borgomonteSettings), &bor); err != nil {
				t.Fatal(err)
			}
			c.Comune.Hosts = []string{"127.0.0.1", "valdoria.localhost"}
			c.Enti = []config.Comune{{ID: "borgomonte", Name: "Comune di Borgomonte", Hosts: []string{"borgomonte.localhost"},
				Email: "urp@comune.borgomonte.example", MailFrom: "Comune di Borgomonte <noreply@comune.borgomonte.example>",
				Modules: map[string]yaml.Node{certificates.ID: *bor.Content[0]}}}
			c.Modules.Settings = map[string]yaml.Node{certificates.ID: *inst.Content[0]}
		}}, func(t *testing.T, s *apptest.Server) {
		bg := context.Background()
		clients := map[string]*apptest.Client{}
		people := map[string]anagrafe.Person{}
		for _, id := range []string{"valdoria", "borgomonte"} {
			e, ok := s.App.Enti().Get(bg, id)
			if !ok {
				t.Fatalf("no ente %s", id)
			}
			if err := anagrafe.SeedDemo(enti.WithEnte(bg, e), s.DB); err != nil {
				t.Fatal(err)
			}
			var p anagrafe.Person
			if err := enti.Scoped(s.DB, id).Where("fiscal_code = ?", anagrafe.DemoCitizenCF).Take(&p).Error; err != nil {
				t.Fatal(err)
			}
			c := s.ClientFor(id + ".localhost")
			s.LoginAs(c, web.Viewer{Kind: "citizen", ID: p.FiscalCode, FiscalCode: p.FiscalCode, DisplayName: p.Name + " " + p.Surname})
			clients[id], people[id] = c, p
		}
		typePage := func(id string) string {
			r := clients[id].Get("/servizi/certificati/nuovo/tipo?persona=" + itoa(people[id].ID))
			if r.Status != http.StatusOK {
				t.Fatalf("%s: step 2: %d", id, r.Status)
			}
			return r.Body
		}
		if !strings.Contains(typePage("valdoria"), `value="sport"`) {
			t.Fatal("valdoria does not offer the installation's exemption for sports clubs")
		}
		if b := typePage("borgomonte"); strings.Contains(b, `value="sport"`) || !strings.Contains(b, `value="elettorale"`) {
			t.Fatal("borgomonte's page does not follow its own exemptions")
		}
		count := func(id string) (n int64) {
			enti.Scoped(s.DB, id).Model(&certificates.Certificate{}).Count(&n)
			return n
		}
		q := "persona=" + itoa(people["borgomonte"].ID) + "&tipo=residenza&bollo=esente&esenzione=sport"
		if r := clients["borgomonte"].Get("/servizi/certificati/nuovo/riepilogo?" + q); r.Status != http.StatusUnprocessableEntity ||
			!strings.Contains(r.Body, `id="esenzione-err"`) {
			t.Fatalf("borgomonte, exemption it does not grant: %d", r.Status)
		}
		form, err := url.ParseQuery(q)
		if err != nil {
			t.Fatal(err)
		}
		if r := clients["borgomonte"].PostForm("/servizi/certificati/nuovo", form); r.Status != http.StatusUnprocessableEntity || count("borgomonte") != 0 {
			t.Fatalf("borgomonte issued with an exemption it does not grant: %d, %d certificates", r.Status, count("borgomonte"))
		}

		office := map[string]string{"valdoria": "Servizi Demografici - Ufficio Anagrafe",
			"borgomonte": "Area Servizi al Cittadino - Anagrafe di Borgomonte"}
		exemption := map[string]string{"valdoria": "sport", "borgomonte": "elettorale"}
		for id, c := range clients {
			code := request(t, c, people[id], "residenza", "esente", exemption[id])
			var cert certificates.Certificate
			if err := enti.Scoped(s.DB, id).Order("issued_at DESC").Take(&cert).Error; err != nil {
				t.Fatal(err)
			}
			text := pdfText(t, []byte(c.Get("/servizi/certificati/miei/"+cert.ID+"/certificato.pdf").Body))
			other := office["valdoria"]
			if id == "valdoria" {
				other = office["borgomonte"]
			}
			if !strings.Contains(text, office[id]) || strings.Contains(text, other) {
				t.Fatalf("%s: certificate %s not headed by its own office %q:\n%s", id, code, office[id], text)
			}
		}

		// key_dir is installation-wide: Borgomonte setting it is refused and the
		// installation's settings (with the sports clubs' exemption) apply.
		st := enti.NewStore(s.DB)
		bor, err := st.Get(bg, "borgomonte")
		if err != nil {
			t.Fatal(err)
		}
		if err := bor.SetModuleSetting(certificates.ID, "key_dir", "/srv/sportello/chiavi-borgomonte"); err != nil {
			t.Fatal(err)
		}
		if err := st.Put(bg, bor); err != nil {
			t.Fatal(err)
		}
		if err := s.App.Enti().Load(bg); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(typePage("borgomonte"), `value="sport"`) {
			t.Fatal("borgomonte's refused settings still apply")
		}
	})
}
