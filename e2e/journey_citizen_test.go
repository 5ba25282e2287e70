package e2e

import (
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestCitizenModelJourney walks the parts every comune site must have in the
// Designers Italia model, as a citizen would: the header (coat of arms, first-level
// menu, search box), the footer (contacts, tax code, transparency, legal notes,
// privacy, accessibility, "segnala disservizio", /verifica), breadcrumbs on every page
// below home, the service card with all its sections, services by life event, the
// search in Italian, the clarity question at the foot of every page, and the personal
// area's words. Every page gets axe-core and the 320 px reflow check (CheckA11y). With
// SPORTELLO_E2E_SCREENSHOTS=1 it also saves the 390 px screenshots in docs/screenshots.
func TestCitizenModelJourney(t *testing.T) {
	EachDatabase(t, func(t *testing.T, p *Portal) {
		b := NewBrowser(t)
		b.BaseURL = p.URL
		shots := strings.HasSuffix(t.Name(), "sqlite")
		shot := func(name string) {
			if shots {
				b.DocScreenshot(name)
			}
		}

		// Home: header and footer of the model.
		b.VisitAndCheck("/")
		if alt, _ := b.Attr("header img.coat-of-arms", "alt"); alt != "Stemma del Comune di Valdoria" {
			t.Errorf("header: coat of arms alt %q", alt)
		}
		menu := b.Texts("#nav-main .nav-link")
		for _, want := range []string{"Amministrazione", "Novità", "Servizi", "Vivere il Comune"} {
			if !slices.Contains(menu, want) {
				t.Errorf("first-level menu %q: no %q", menu, want)
			}
		}
		footer := b.Text("footer")
		for _, want := range []string{"Codice fiscale e partita IVA", "Amministrazione trasparente", "Note legali",
			"Informativa privacy", "Dichiarazione di accessibilità", "Segnala un disservizio", "Verifica un certificato",
			"urp@comune.valdoria.example"} {
			if !strings.Contains(footer, want) {
				t.Errorf("footer: no %q", want)
			}
		}
		if n := b.Count(`footer a[href="/verifica"]`); n != 1 {
			t.Errorf("footer: %d links to /verifica, want 1", n)
		}
		if n := b.Count("main nav.breadcrumb-container, .breadcrumb-container"); n != 0 {
			t.Errorf("home: a breadcrumb on the home page")
		}
		shot("home")

		// The search box of the header, in Italian: plural and no accent.
		b.Fill("#header-q", "uffici anagrafe")
		if code := b.Submit(`form.header-search button[type="submit"]`); code != http.StatusOK {
			t.Errorf("search: status %d", code)
		}
		b.CheckA11y(t)
		if got := b.Texts(".search-results a"); len(got) == 0 || !strings.HasPrefix(got[0], "Ufficio Anagrafe") {
			t.Errorf("search %q: results %q, want first the office %q", "uffici anagrafe", got, "Ufficio Anagrafe ...")
		}
		b.Fill("#q", "certificati")
		b.Submit(`main form[role="search"] button[type="submit"]`)
		b.CheckA11y(t)
		if got := b.Texts(".search-results a"); len(got) == 0 || !strings.HasPrefix(got[0], "Certificati anagrafici") {
			t.Errorf("search %q: results %q, want first the service %q", "certificati", got, "Certificati anagrafici ...")
		}
		shot("cerca")

		// The catalogue, with services by life event, and the service card.
		b.VisitAndCheck("/servizi")
		if got := b.Texts("#eventi-della-vita h3"); !slices.Contains(got, "Cambio di residenza") {
			t.Errorf("catalogue: life events %q", got)
		}
		shot("catalogo")
		b.VisitAndCheck("/servizi/certificati")
		h2 := b.Texts("main h2")
		for _, want := range []string{"Descrizione", "A chi è rivolto", "Come fare", "Cosa serve", "Cosa si ottiene",
			"Tempi e scadenze", "Quanto costa", "Accedi al servizio", "Condizioni di servizio", "Contatti", "Argomenti"} {
			if !slices.Contains(h2, want) {
				t.Errorf("service card: sections %q, no %q", h2, want)
			}
		}
		if got := b.Text("main time"); !regexp.MustCompile(`^\d\d/\d\d/\d{4}$`).MatchString(got) {
			t.Errorf("service card: last update %q, want dd/mm/yyyy", got)
		}
		shot("scheda-servizio")

		// Breadcrumbs and the clarity question on the pages below home.
		for _, path := range []string{"/privacy", "/accessibilita", "/verifica", "/domande-frequenti", "/segnala-disservizio", "/auth/login"} {
			b.VisitAndCheck(path)
			if crumbs := b.Texts(".breadcrumb-item"); len(crumbs) < 2 || crumbs[0] != "Home/" && crumbs[0] != "Home" {
				t.Errorf("%s: breadcrumb %q", path, crumbs)
			}
			if got := b.Text("#pagerating-title"); got != "Quanto sono chiare le informazioni su questa pagina?" {
				t.Errorf("%s: clarity question %q", path, got)
			}
		}
		b.VisitAndCheck("/privacy")
		b.Click("#pagina-voto-4")
		if code := b.Submit(`.page-rating button[type="submit"]`); code != http.StatusOK {
			t.Errorf("page rating: status %d", code)
		}
		b.CheckA11y(t)
		if got := b.Path(); got != "/privacy" {
			t.Errorf("after the page rating: at %s, want /privacy", got)
		}
		if got := b.Text("main .alert-success"); !strings.Contains(got, "Grazie per il tuo parere") {
			t.Errorf("after the page rating: %q", got)
		}

		// The personal area: the greeting agrees with the register, dates dd/mm/yyyy,
		// and "Esci" is reachable at 320 px (the reflow check of CheckA11y).
		giulia := p.DemoAccount(t, "giulia.bianchi")
		b.LoginComune(p, giulia)
		b.CheckA11y(t)
		if got := b.Text("main .lead"); !strings.HasPrefix(got, "Benvenuta, Giulia") {
			t.Errorf("personal area: greeting %q, want %q", got, "Benvenuta, Giulia ...")
		}
		if main := b.Text("main"); regexp.MustCompile(`\b\d{4}-\d\d-\d\d\b`).MatchString(main) {
			t.Errorf("personal area: a date as yyyy-mm-dd in %q", abbrev(main))
		}
		if tabs := b.Texts(".area-tabs .nav-link"); !slices.Equal(tabs, []string{"Scrivania", "Messaggi", "Attività", "Servizi"}) {
			t.Errorf("personal area: tabs %q", tabs)
		}
		shot("area-personale")
		b.FollowLink("Attività")
		b.CheckA11y(t)
		if got := b.Texts("main h2"); !slices.Contains(got, "I tuoi certificati") {
			t.Errorf("activity tab: sections %q", got)
		}
		b.VisitAndCheck("/servizi/certificati/miei")
		shot("certificati-miei")
		b.Logout()
		b.CheckA11y(t)
	})
}
