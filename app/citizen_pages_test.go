package app_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/comuni-italiani/sportello/app/anagrafe"
	"github.com/comuni-italiani/sportello/app/apptest"
	"github.com/comuni-italiani/sportello/app/enti"
	"github.com/comuni-italiani/sportello/app/feedback"
	"github.com/comuni-italiani/sportello/app/web"
)

// The search box finds services, offices and FAQs in Italian as people type it
// (plurals, no accents, capitals), on both databases, and says so when nothing matches.
func TestSearchServicesOfficesFAQs(t *testing.T) {
	apptest.Each(t, apptest.Options{}, func(t *testing.T, s *apptest.Server) {
		if _, err := s.App.SeedDemo(context.Background()); err != nil {
			t.Fatal(err)
		}
		c := s.Client()
		cases := []struct {
			q    string
			want []string
		}{
			{"certificati", []string{`href="/servizi/certificati"`}},
			{"CERTIFICATO residenza", []string{`href="/servizi/certificati"`}},
			{"uffici anagrafe", []string{`href="/servizi/urp/#office-anagrafe"`}},
			{"orari", []string{`href="/servizi/urp"`, `href="/domande-frequenti#faq-6"`}},
			{"marche da bollo", []string{`href="/domande-frequenti#faq-3"`}},
			{"identita", []string{`href="/domande-frequenti#faq-1"`}},
		}
		for _, tc := range cases {
			r := c.Get("/cerca?q=" + url.QueryEscape(tc.q))
			if r.Status != http.StatusOK {
				t.Fatalf("search %q: status %d", tc.q, r.Status)
			}
			for _, w := range tc.want {
				if !strings.Contains(r.Body, w) {
					t.Errorf("search %q: no %s in the results", tc.q, w)
				}
			}
		}
		r := c.Get("/cerca?q=" + url.QueryEscape("astronave"))
		if !strings.Contains(r.Body, "0 risultati per «astronave»") || !strings.Contains(r.Body, "Nessun risultato") {
			t.Errorf("search with no match: no clear message")
		}
		r = c.Get("/cerca?q=" + url.QueryEscape("di la"))
		if !strings.Contains(r.Body, "Scrivi almeno una parola significativa") {
			t.Errorf("search of stop words only: no advice")
		}
		r = c.GetLang("/cerca?q=certificates", "en")
		if !strings.Contains(r.Body, `href="/servizi/certificati"`) || !strings.Contains(r.Body, "result") {
			t.Errorf("search in English: the certificates service is not found")
		}
		r = c.Get("/cerca?q=" + url.QueryEscape(`<script>alert(1)</script>`))
		if strings.Contains(r.Body, "<script>alert(1)</script>") {
			t.Errorf("search: the query is not escaped")
		}
	})
}

// The clarity question at the foot of every page records an answer for the page's
// ente, refuses a bad one with 422 and a message while leaving the table as it was,
// holds under tens of simultaneous answers, and one ente never sees another's answers.
func TestPageRating(t *testing.T) {
	apptest.Each(t, apptest.Options{}, func(t *testing.T, s *apptest.Server) {
		c := s.Client()
		home := c.Get("/privacy")
		if !strings.Contains(home.Body, "Quanto sono chiare le informazioni su questa pagina?") ||
			!strings.Contains(home.Body, `name="pagina" value="/privacy"`) {
			t.Fatalf("privacy page: no clarity question for the page")
		}
		count := func() int64 {
			var n int64
			if err := enti.AllEnti(s.DB, "test count").Model(&feedback.PageRating{}).Count(&n).Error; err != nil {
				t.Fatal(err)
			}
			return n
		}
		for _, bad := range []url.Values{
			{"pagina": {"/privacy"}, "voto": {"6"}},
			{"pagina": {"/privacy"}, "voto": {"x"}},
			{"pagina": {"https://evil.example/"}, "voto": {"3"}},
			{"pagina": {"/privacy"}, "voto": {"3"}, "commento": {strings.Repeat("a", 501)}},
		} {
			r := c.PostForm("/valutazione-pagina", bad)
			if r.Status != http.StatusUnprocessableEntity || !strings.Contains(r.Body, "Scegli quanto è chiara la pagina") {
				t.Errorf("bad rating %v: status %d, want 422 with a message", bad, r.Status)
			}
		}
		if n := count(); n != 0 {
			t.Fatalf("bad ratings stored %d rows", n)
		}
		r := c.PostForm("/valutazione-pagina", url.Values{"pagina": {"/privacy"}, "voto": {"4"}, "commento": {"chiara"}})
		if r.Status != http.StatusSeeOther || r.Header.Get("Location") != "/privacy" {
			t.Fatalf("rating: status %d to %q, want 303 to /privacy", r.Status, r.Header.Get("Location"))
		}
		if page := c.Get("/privacy"); !strings.Contains(page.Body, "Grazie per il tuo parere") {
			t.Errorf("after rating: no thanks")
		}

		const n = 30
		var wg sync.WaitGroup
		errs := make(chan string, n)
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				cl := s.Client()
				r := cl.PostForm("/valutazione-pagina", url.Values{"pagina": {"/servizi"}, "voto": {fmt.Sprint(i%5 + 1)}})
				if r.Status != http.StatusSeeOther {
					errs <- fmt.Sprintf("status %d", r.Status)
				}
			}()
		}
		wg.Wait()
		close(errs)
		for e := range errs {
			t.Errorf("simultaneous rating: %s", e)
		}
		if got := count(); got != n+1 {
			t.Errorf("%d ratings stored, want %d", got, n+1)
		}
		ente := s.App.Enti().All(context.Background())[0].ID
		sums, err := feedback.PageSummaries(context.Background(), enti.Scoped(s.DB, ente))
		if err != nil {
			t.Fatal(err)
		}
		if len(sums) != 2 || sums[1].Path != "/servizi" || sums[1].Count != n || sums[1].Average != 30 {
			t.Errorf("summaries %+v, want /privacy 1 and /servizi %d at average 3.0", sums, n)
		}
		// Another ente sees none of them, and an unscoped statement is refused.
		other, err := feedback.PageSummaries(context.Background(), enti.Scoped(s.DB, "altro-ente"))
		if err != nil || len(other) != 0 {
			t.Errorf("another ente sees %+v (%v), want nothing", other, err)
		}
		if err := feedback.RecordPage(context.Background(), s.DB, "/privacy", 3, ""); err == nil {
			t.Errorf("an unscoped rating was stored")
		}
		// Back-office pages carry no clarity question.
		staff := s.Client()
		s.LoginAs(staff, web.Viewer{Kind: "staff", ID: "op1", DisplayName: "Operatrice", Roles: []string{"admin"}})
		if r := staff.Get("/backoffice"); r.Status != http.StatusOK || strings.Contains(r.Body, "Quanto sono chiare") {
			t.Errorf("back office: status %d, clarity question shown %v", r.Status, strings.Contains(r.Body, "Quanto sono chiare"))
		}
	})
}

// The personal area greets the person in agreement with the sex the register knows,
// neutrally when it does not know the person, and shows dates as dd/mm/yyyy; it has
// a breadcrumb. On both databases.
func TestPersonalAreaWords(t *testing.T) {
	apptest.Each(t, apptest.Options{}, func(t *testing.T, s *apptest.Server) {
		if _, err := s.App.SeedDemo(context.Background()); err != nil {
			t.Fatal(err)
		}
		giulia := s.Client()
		s.LoginAs(giulia, web.Viewer{Kind: "citizen", ID: "giulia", DisplayName: "Giulia Bianchi", FiscalCode: anagrafe.DemoCitizenCF})
		r := giulia.Get("/area-personale")
		if r.Status != http.StatusOK || !strings.Contains(r.Body, "Benvenuta, Giulia Bianchi.") {
			t.Errorf("personal area of a woman in the register: status %d, no %q", r.Status, "Benvenuta, Giulia Bianchi.")
		}
		if !strings.Contains(r.Body, `aria-label="Percorso di navigazione"`) {
			t.Errorf("personal area: no breadcrumb")
		}
		for _, tab := range []string{"Scrivania", "Messaggi", "Attività", "Servizi"} {
			if !strings.Contains(r.Body, ">"+tab+"</a>") {
				t.Errorf("personal area: no tab %q", tab)
			}
		}
		if r := giulia.Get("/area-personale?scheda=attivita"); r.Status != http.StatusOK || !strings.Contains(r.Body, "I tuoi certificati") ||
			!strings.Contains(r.Body, `aria-current="page">Attività`) {
			t.Errorf("activity tab: status %d, no certificates section or tab not current", r.Status)
		}
		if r := giulia.Get("/area-personale?scheda=messaggi"); !strings.Contains(r.Body, "Nessun messaggio") || strings.Contains(r.Body, "I tuoi certificati") {
			t.Errorf("messages tab: want the empty notice and no certificates")
		}
		if r := giulia.Get("/area-personale?scheda=servizi"); !strings.Contains(r.Body, `href="/servizi/certificati"`) {
			t.Errorf("services tab: no link to the certificates service")
		}
		if r := giulia.Get("/area-personale?scheda=%3Cx%3E"); r.Status != http.StatusOK || !strings.Contains(r.Body, `aria-current="page">Scrivania`) {
			t.Errorf("unknown tab: status %d, want the desk", r.Status)
		}
		other := s.Client()
		s.LoginAs(other, web.Viewer{Kind: "citizen", ID: "x", DisplayName: "Alex Rossi", FiscalCode: "RSSLXA90A01H501X"})
		r = other.Get("/area-personale")
		if !strings.Contains(r.Body, "Ti diamo il benvenuto, Alex Rossi.") || strings.Contains(r.Body, "Benvenut") {
			t.Errorf("personal area of a person the register does not know: no neutral greeting")
		}
	})
}
