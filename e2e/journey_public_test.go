package e2e

import (
	"net/http"
	"slices"
	"strings"
	"testing"
)

// TestPublicJourney walks the public part of the portal as a visitor who needs an
// office's opening hours: home, catalogue, English, the service page, the offices.
// It runs once on embedded SQLite and once on PostgreSQL.
func TestPublicJourney(t *testing.T) {
	EachDatabase(t, func(t *testing.T, p *Portal) {
		if !strings.Contains(p.DemoOutput, "Comune di Valdoria") {
			t.Errorf("sportello demo printed %q, want the demo comune", p.DemoOutput)
		}
		b := NewBrowser(t)
		b.BaseURL = p.URL

		// Home, in Italian by default.
		if code := b.VisitAndCheck("/"); code != http.StatusOK {
			t.Errorf("home: status %d, want 200", code)
		}
		if got := b.Lang(); got != "it" {
			t.Errorf("home: html lang=%q, want it", got)
		}
		if got := b.Text("h1"); got != "Servizi online" {
			t.Errorf("home: h1 %q, want %q", got, "Servizi online")
		}

		// The catalogue, grouped by thematic area.
		b.FollowLink("Tutti i servizi")
		b.CheckA11y(t)
		if got := b.Path(); got != "/servizi" {
			t.Errorf("catalogue: at %s, want /servizi", got)
		}
		if h2 := b.Texts("main h2"); !slices.Contains(h2, "Il Comune: uffici e contatti") {
			t.Errorf("catalogue: area headings %q, want one %q", h2, "Il Comune: uffici e contatti")
		}
		if cards := b.Texts(".service-card .card-title"); !slices.Contains(cards, "Uffici, orari e contatti") {
			t.Errorf("catalogue: service cards %q, want one %q", cards, "Uffici, orari e contatti")
		}

		// English, with the link in the header.
		b.FollowLink("English")
		b.CheckA11y(t)
		if got := b.Lang(); got != "en" {
			t.Errorf("catalogue in English: html lang=%q, want en", got)
		}
		if got := b.Text("h1"); got != "Service catalogue" {
			t.Errorf("catalogue in English: h1 %q, want %q", got, "Service catalogue")
		}

		// The service page, from its card.
		b.FollowLink("Offices, opening hours and contacts")
		b.CheckA11y(t)
		if got := b.Path(); got != "/servizi/urp" {
			t.Errorf("service page: at %s, want /servizi/urp", got)
		}
		if got := b.Text("h1"); got != "Offices, opening hours and contacts" {
			t.Errorf("service page: h1 %q", got)
		}
		if links := b.Texts("main a.btn"); !slices.Contains(links, "Go to the service") {
			t.Errorf("service page: buttons %q, want %q", links, "Go to the service")
		}

		// The service itself: the offices with their opening hours.
		if code := b.FollowLink("Go to the service"); code != http.StatusOK {
			t.Errorf("offices: status %d, want 200", code)
		}
		b.CheckA11y(t)
		if got := b.Path(); got != "/servizi/urp/" {
			t.Errorf("offices: at %s, want /servizi/urp/", got)
		}
		if got := b.Lang(); got != "en" {
			t.Errorf("offices: html lang=%q, want en (the choice is remembered)", got)
		}
		if n := b.Count("main table.hours-table"); n == 0 {
			t.Errorf("offices: no table of opening hours")
		}
		if caps := b.Texts("main table.hours-table caption"); len(caps) == 0 || caps[0] == "" {
			t.Errorf("offices: the hours table has no caption")
		}
	})
}

// TestHomeKeyboard checks the home page with the keyboard alone: the first Tab reaches
// the skip link, which becomes visible, and Enter moves the focus to the main content.
func TestHomeKeyboard(t *testing.T) {
	Require(t)
	t.Parallel()
	p := StartPortal(t, PortalOptions{})
	b := NewBrowser(t)
	b.BaseURL = p.URL
	b.VisitAndCheck("/")

	b.Tab()
	skip := b.Focused()
	if skip.Tag != "a" || skip.Text != "Vai al contenuto principale" || skip.Href != "#main" {
		t.Fatalf("first Tab focuses %s, want the skip link to #main %q", skip, "Vai al contenuto principale")
	}
	if skip.Width <= 1 || skip.Height <= 1 {
		t.Errorf("the focused skip link is %gx%g px: it must be visible when focused (WCAG 2.4.7)", skip.Width, skip.Height)
	}

	b.Enter()
	if got := b.Focused(); got.Tag != "main" || got.ID != "main" {
		t.Errorf("Enter on the skip link focuses %s, want <main id=\"main\">", got)
	}
	if loc := b.Location(); !strings.HasSuffix(loc, "#main") {
		t.Errorf("after the skip link the address is %s, want #main", loc)
	}
	b.Tab()
	if got := b.Focused(); !got.InMain {
		t.Errorf("the Tab after the skip link focuses %s, outside the main content", got)
	}
}

// TestNotFound checks the 404 page: Italian, the right status and accessible.
func TestNotFound(t *testing.T) {
	Require(t)
	t.Parallel()
	p := StartPortal(t, PortalOptions{})
	b := NewBrowser(t)
	b.BaseURL = p.URL

	if code := b.VisitAndCheck("/pagina-inesistente"); code != http.StatusNotFound {
		t.Errorf("status %d, want 404", code)
	}
	if got := b.Lang(); got != "it" {
		t.Errorf("html lang=%q, want it", got)
	}
	if got := b.Text("h1"); got != "Pagina non trovata" {
		t.Errorf("h1 %q, want %q", got, "Pagina non trovata")
	}
}
