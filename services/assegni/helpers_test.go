package assegni_test

import (
	"bytes"
	"context"
	"fmt"
	"mime/multipart"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/comuni-italiani/sportello/app"
	"github.com/comuni-italiani/sportello/app/anagrafe"
	"github.com/comuni-italiani/sportello/app/apptest"
	"github.com/comuni-italiani/sportello/app/codicefiscale"
	"github.com/comuni-italiani/sportello/app/store"
	"github.com/comuni-italiani/sportello/app/web"
	"github.com/comuni-italiani/sportello/services"
	"github.com/comuni-italiani/sportello/services/assegni"
)

// register gives the test portal the population register's tables, until the
// platform migrates them itself (then it adds nothing).
type register struct{}

func (register) Info() services.Info {
	return services.Info{ID: "registro-test", Title: "assegni.title", Summary: "assegni.summary",
		Description: "assegni.description", Area: services.AreaAnagrafe, Order: 99}
}

func (register) Mount(*services.Mount) error { return nil }

func (register) Migrations() []*store.Migration {
	first := anagrafe.Migrations()[0].ID
	if slices.ContainsFunc(app.PlatformMigrations(), func(m *store.Migration) bool { return m.ID == first }) {
		return nil
	}
	return anagrafe.Migrations()
}

// People of the fictional register, built relative to today so that the births fall
// within the six months.
type people struct {
	Anna, Luca, Sara, Sofia, Giulia, Marco, Paolo, Pietro string
	// Elisa is Anna's younger sister, a minor in her household: never her child.
	Elisa                            string
	LucaBorn, SaraEntered, SofiaBorn time.Time
}

func cf(t testing.TB, surname, name string, born time.Time, female bool) string {
	t.Helper()
	v, err := codicefiscale.Compute(surname, name, born, female, "H501")
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// seed imports the register: Anna Bianchi with her newborn Luca, Sara (born in 2019,
// adopted: in the family for 60 days), Sofia (born five months and 25 days ago) and
// her sister Elisa (born in 2012);
// Giulia Verdi with her newborn Marco; Paolo Rossi (a father) with Pietro.
func seed(t testing.TB, s *apptest.Server) people {
	t.Helper()
	return seedIn(t, s, s.Ctx(context.Background()))
}

// seedIn is seed in the ente of ctx.
func seedIn(t testing.TB, s *apptest.Server, ctx context.Context) people {
	t.Helper()
	today := assegni.Day(time.Now())
	var p people
	p.LucaBorn = today.AddDate(0, 0, -40)
	p.SaraEntered = today.AddDate(0, 0, -60)
	p.SofiaBorn = today.AddDate(0, -6, 5)
	annaBorn, giuliaBorn, paoloBorn, saraBorn := time.Date(1990, 5, 10, 0, 0, 0, 0, time.UTC),
		time.Date(1992, 7, 1, 0, 0, 0, 0, time.UTC), time.Date(1985, 3, 3, 0, 0, 0, 0, time.UTC),
		time.Date(2019, 3, 3, 0, 0, 0, 0, time.UTC)
	p.Anna = cf(t, "BIANCHI", "ANNA", annaBorn, true)
	p.Luca = cf(t, "BIANCHI", "LUCA", p.LucaBorn, false)
	p.Sara = cf(t, "BIANCHI", "SARA", saraBorn, true)
	p.Sofia = cf(t, "BIANCHI", "SOFIA", p.SofiaBorn, true)
	p.Giulia = cf(t, "VERDI", "GIULIA", giuliaBorn, true)
	p.Elisa = cf(t, "BIANCHI", "ELISA", time.Date(2012, 4, 4, 0, 0, 0, 0, time.UTC), true)
	p.Marco = cf(t, "VERDI", "MARCO", p.LucaBorn, false)
	p.Paolo = cf(t, "ROSSI", "PAOLO", paoloBorn, false)
	p.Pietro = cf(t, "ROSSI", "PIETRO", p.LucaBorn, false)
	ds := func(t time.Time) string { return t.Format(time.DateOnly) }
	csv := strings.Join([]string{
		"F;A-F01;famiglia;;Via dei Tigli 3",
		"F;A-F02;famiglia;;Via del Mulino 8",
		"F;A-F03;famiglia;;Piazza Grande 1",
		"P;" + p.Anna + ";BIANCHI;ANNA;F;" + ds(annaBorn) + ";ROMA;RM;;ITALIA;coniugato;;A-F01;intestatario;2015-01-01",
		"P;" + p.Luca + ";BIANCHI;LUCA;M;" + ds(p.LucaBorn) + ";ROMA;RM;;ITALIA;celibe_nubile;;A-F01;figlio;" + ds(p.LucaBorn),
		"P;" + p.Sara + ";BIANCHI;SARA;F;" + ds(saraBorn) + ";ROMA;RM;;ITALIA;celibe_nubile;;A-F01;figlio;" + ds(p.SaraEntered),
		"P;" + p.Sofia + ";BIANCHI;SOFIA;F;" + ds(p.SofiaBorn) + ";ROMA;RM;;ITALIA;celibe_nubile;;A-F01;figlio;" + ds(p.SofiaBorn),
		"P;" + p.Elisa + ";BIANCHI;ELISA;F;2012-04-04;ROMA;RM;;ITALIA;celibe_nubile;;A-F01;fratello;2015-01-01",
		"P;" + p.Giulia + ";VERDI;GIULIA;F;" + ds(giuliaBorn) + ";ROMA;RM;;ITALIA;celibe_nubile;;A-F02;intestatario;2016-01-01",
		"P;" + p.Marco + ";VERDI;MARCO;M;" + ds(p.LucaBorn) + ";ROMA;RM;;ITALIA;celibe_nubile;;A-F02;figlio;" + ds(p.LucaBorn),
		"P;" + p.Paolo + ";ROSSI;PAOLO;M;" + ds(paoloBorn) + ";ROMA;RM;;ITALIA;coniugato;;A-F03;intestatario;2010-01-01",
		"P;" + p.Pietro + ";ROSSI;PIETRO;M;" + ds(p.LucaBorn) + ";ROMA;RM;;ITALIA;celibe_nubile;;A-F03;figlio;" + ds(p.LucaBorn),
	}, "\n") + "\n"
	if _, err := anagrafe.Import(ctx, s.DB, strings.NewReader(csv), false); err != nil {
		t.Fatalf("register: %v", err)
	}
	return p
}

// portal runs the test on both databases with the assegni module over the register.
func portal(t *testing.T, fn func(t *testing.T, s *apptest.Server, m *assegni.Module, p people)) {
	apptest.Each(t, apptest.Options{NewModules: func() []services.Module {
		return []services.Module{register{}, assegni.New()}
	}}, func(t *testing.T, s *apptest.Server) {
		var m *assegni.Module
		for _, mod := range s.App.Modules() {
			if x, ok := mod.(*assegni.Module); ok {
				m = x
			}
		}
		if m == nil {
			t.Fatal("module not mounted")
		}
		fn(t, s, m, seed(t, s))
	})
}

func citizen(s *apptest.Server, cf, name, email string) *apptest.Client {
	c := s.Client()
	s.LoginWithEmail(c, web.Viewer{Kind: "citizen", ID: cf, DisplayName: name, FiscalCode: cf}, email)
	return c
}

func officer(s *apptest.Server) *apptest.Client {
	c := s.Client()
	s.LoginAs(c, web.Viewer{Kind: "staff", ID: "sociale1", DisplayName: "Carla Neri", Roles: []string{assegni.RoleOfficer}})
	return c
}

type file struct {
	name    string
	content []byte
}

var (
	pdfDoc = []byte("%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n")
	pngDoc = append([]byte("\x89PNG\r\n\x1a\n"), bytes.Repeat([]byte{0}, 32)...)
)

// postMultipart posts fields and files as a browser's multipart form, with the
// client's CSRF token.
func postMultipart(c *apptest.Client, base, path string, fields url.Values, files ...file) *apptest.Response {
	var body bytes.Buffer
	w := multipart.NewWriter(&body)
	w.WriteField("_csrf", c.CSRF())
	for k, vs := range fields {
		for _, v := range vs {
			w.WriteField(k, v)
		}
	}
	for _, f := range files {
		fw, _ := w.CreateFormFile("documents", f.name)
		fw.Write(f.content)
	}
	w.Close()
	req, _ := http.NewRequest(http.MethodPost, base+path, &body)
	req.Header.Set("Content-Type", w.FormDataContentType())
	return c.Do(req)
}

func want(t *testing.T, r *apptest.Response, status int, texts ...string) {
	t.Helper()
	if r.Status != status {
		t.Fatalf("%s: status %d, want %d\n%s", r.URL, r.Status, status, r.Body)
	}
	for _, s := range texts {
		if !strings.Contains(r.Body, s) {
			t.Fatalf("%s: body lacks %q\n%s", r.URL, s, r.Body)
		}
	}
}

var draftRE = regexp.MustCompile(`/servizi/assegni/domanda/(\d+)/figlio$`)

// startDraft opens a draft from the eligibility page's button and returns its path.
func startDraft(t *testing.T, c *apptest.Client, child string) string {
	t.Helper()
	r := c.PostForm("/servizi/assegni/domanda", url.Values{"misura": {"maternita"}, "figlio": {child}})
	want(t, r, http.StatusSeeOther)
	m := draftRE.FindStringSubmatch(r.Header.Get("Location"))
	if m == nil {
		t.Fatalf("no draft location: %q", r.Header.Get("Location"))
	}
	return "/servizi/assegni/domanda/" + m[1]
}

// Valid form values.
var (
	goodIBAN = "IT60 X054 2811 1010 0000 0123 456"
	goodDSU  = fmt.Sprintf("INPS-ISEE-%d-00123456A-00", time.Now().Year())
)

// fill completes the three steps of a draft.
func fill(t *testing.T, c *apptest.Client, form, child, benefit, isee string) {
	t.Helper()
	want(t, c.PostForm(form+"/figlio", url.Values{"figlio_cf": {child}, "evento": {"nascita"}, "prestazione": {benefit}}), http.StatusSeeOther)
	want(t, c.PostForm(form+"/isee", url.Values{"dsu": {goodDSU}, "isee": {isee}}), http.StatusSeeOther)
	want(t, c.PostForm(form+"/pagamento", url.Values{"iban": {goodIBAN}, "intestatario": {"Anna Bianchi"}}), http.StatusSeeOther)
}
