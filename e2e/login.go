package e2e

import (
	"fmt"
	"strings"
)

// Paths and labels of the login, as journeys meet them.
const (
	// LoginPath is the portal's login page: the SPID and CIE buttons when configured,
	// and the comune's own credentials form.
	LoginPath = "/auth/login"
	// ComuneLoginButton is the submit button of the comune's credentials form.
	ComuneLoginButton = "Accedi con le credenziali del Comune"
	// ComuneLoginStart starts a login at the comune's provider (its own login page).
	ComuneLoginStart = "/auth/login/comune"
	// IdPLoginPath is the embedded provider's login page (username and password).
	IdPLoginPath = "/idp/accedi"
	// IdPCodePath is its page asking for the TOTP code.
	IdPCodePath = "/idp/accedi/codice"
	// LoggedOutPath is where the logout ends.
	LoggedOutPath = "/auth/uscita"
	// LogoutButton is the "Esci" button of the header's logout form.
	LogoutButton = `header form[action="/auth/logout"] button[type="submit"]`
)

// LoginComune logs a in with the comune's own credentials, as a person does: the
// login page (visited unless the browser is on it already) with its username and
// password form and, when a has a TOTPSecret, the provider's page asking for the
// code (from Portal.TOTPCode). Every
// page on the way gets an accessibility check; the page where the login lands (the
// personal area, the back office, or the page that asked for the login) is left to
// the caller to check. It returns that page's HTTP status, and fails the test when the
// login stays on the provider's or the login's pages.
func (b *Browser) LoginComune(p *Portal, a Account) int {
	b.t.Helper()
	if b.Path() != LoginPath {
		b.VisitAndCheck(LoginPath)
	}
	b.Fill("#username", a.Username)
	b.Fill("#password", a.Password)
	code := b.Submit(`form[action="/idp/accedi"] button[type="submit"]`)
	if a.TOTPSecret != "" {
		b.CheckA11y(b.t)
		if got := b.Path(); got != IdPCodePath {
			b.t.Fatalf("e2e: login of %s: after the password at %s (status %d, alerts %q), want the TOTP page %s",
				a.Username, got, code, b.Texts(".alert"), IdPCodePath)
		}
		b.Fill("#code", p.TOTPCode(b.t, a.TOTPSecret))
		code = b.Submit(`form[action="/idp/accedi/codice"] button[type="submit"]`)
	}
	if got := b.Path(); strings.HasPrefix(got, "/idp/") || strings.HasPrefix(got, "/auth/") {
		b.t.Fatalf("e2e: login of %s did not complete: at %s (status %d, alerts %q)", a.Username, got, code, b.Texts(".alert"))
	}
	return code
}

// Logout presses "Esci" in the header and returns the HTTP status of the page where
// the logout ends (checked to be LoggedOutPath); that page is left to the caller to
// check.
func (b *Browser) Logout() int {
	b.t.Helper()
	code := b.Submit(LogoutButton)
	if got := b.Path(); got != LoggedOutPath {
		b.t.Errorf("e2e: the logout ends at %s (status %d), want %s", got, code, LoggedOutPath)
	}
	return code
}

// SetValue sets the value of the form field matching sel directly and fires its input
// and change events, for fields whose typing depends on the browser's locale (date
// inputs) and for selects (the option's value). Prefer Fill for text.
func (b *Browser) SetValue(sel, value string) {
	b.t.Helper()
	ok := eval[bool](b, fmt.Sprintf(`(e => { if (!e) return false; e.value = %s;
		e.dispatchEvent(new Event('input', {bubbles: true})); e.dispatchEvent(new Event('change', {bubbles: true}));
		return e.value === %[1]s; })(document.querySelector(%s))`, jsString(value), jsString(sel)))
	if !ok {
		b.t.Fatalf("e2e: set %s to %q (on %s): no such field, or it refused the value", sel, value, b.location())
	}
}
