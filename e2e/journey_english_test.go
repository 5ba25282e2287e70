package e2e

import (
	"net/http"
	"strings"
	"testing"
)

// TestEnglishPages: a visitor whose browser asks for English gets every public and
// login page in English (html lang="en", English headings), each axe-clean.
func TestEnglishPages(t *testing.T) {
	Require(t)
	t.Parallel()
	p := StartPortal(t, PortalOptions{})
	b := NewBrowser(t)
	b.BaseURL = p.URL
	b.SetLanguage("en-GB,en;q=0.9")
	pages := []struct{ path, h1 string }{
		{"/", "Online services"},
		{"/servizi", "Service catalogue"},
		{"/servizi/certificati", ""},
		{"/auth/login", "Log in to your personal area"},
		{"/verifica", ""},
		{"/privacy", "Personal data and cookie notice"},
		{"/accessibilita", "Accessibility statement"},
		{"/idp/attiva", ""},
		{"/idp/password/recupero", ""},
	}
	for _, pg := range pages {
		if code := b.VisitAndCheck(pg.path); code != http.StatusOK {
			t.Errorf("%s: status %d", pg.path, code)
			continue
		}
		if got := b.Lang(); got != "en" {
			t.Errorf("%s: html lang=%q, want en", pg.path, got)
		}
		h1 := b.Text("h1")
		if pg.h1 != "" && h1 != pg.h1 {
			t.Errorf("%s: h1 %q, want %q", pg.path, h1, pg.h1)
		}
		if strings.Contains(h1, "[") {
			t.Errorf("%s: a raw message key in the heading: %q", pg.path, h1)
		}
	}
}
