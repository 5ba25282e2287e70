package e2e

import (
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp/kb"

	"github.com/comuni-italiani/sportello/app/codicefiscale"
)

// Texts the login journeys expect (Italian, the default language).
const (
	msgWrongPassword = "Nome utente o password non corretti"
	msgLoggedOut     = "Uscita dall'area personale completata"
	msgForbidden     = "Accesso negato"
	msgCFCheckChar   = "Il carattere di controllo (l'ultimo) non corrisponde: il codice fiscale contiene un errore di trascrizione."
	msgActivated     = "Credenziali attivate"
)

// TestLoginJourneys runs the journeys of the login with the comune's own credentials
// on one portal per database: the demo citizen (also on PostgreSQL), the URP desk that
// registers a new citizen who then activates the credentials and logs in, the limits
// of a staff member's roles, and the login page with the keyboard alone. The journeys
// share the portal: they use different accounts, or none that another one changes.
func TestLoginJourneys(t *testing.T) {
	EachDatabase(t, func(t *testing.T, p *Portal) {
		t.Run("citizen", func(t *testing.T) {
			t.Parallel()
			citizenJourney(t, p)
		})
		if p.DatabaseURL != "" {
			return
		}
		t.Run("desk-activation", func(t *testing.T) {
			t.Parallel()
			deskActivationJourney(t, p)
		})
		t.Run("staff-boundaries", func(t *testing.T) {
			t.Parallel()
			staffBoundariesJourney(t, p)
		})
		t.Run("keyboard", func(t *testing.T) {
			t.Parallel()
			loginKeyboardJourney(t, p)
		})
	})
}

// citizenJourney: the demo citizen logs in from the home page (first with a wrong
// password), finds her name and codice fiscale in the personal area, logs out, and can
// no longer open the personal area.
func citizenJourney(t *testing.T, p *Portal) {
	giulia := p.DemoAccount(t, "giulia.bianchi")
	b := NewBrowser(t)
	b.BaseURL = p.URL

	b.VisitAndCheck("/")
	if code := b.FollowLink("Accedi all'area personale"); code != http.StatusOK {
		t.Errorf("login page: status %d, want 200", code)
	}
	b.CheckA11y(t)
	if got := b.Path(); got != LoginPath {
		t.Fatalf("the home's login link leads to %s, want %s", got, LoginPath)
	}
	if got := b.Text("h1"); got != "Accedi all'area personale" {
		t.Errorf("login page: h1 %q", got)
	}

	// One page: the comune's credentials form is on the login page itself (no
	// chooser first), and with no SPID or CIE configured the page does not speak of them.
	if got := b.Text("#login-comune"); got != "Credenziali del Comune" {
		t.Errorf("login page: the credentials section is headed %q", got)
	}
	if b.Count(`form[action="/idp/accedi"] #username`) != 1 || b.Count(`form[action="/idp/accedi"] #password`) != 1 {
		t.Fatalf("login page: no username and password form")
	}
	if main := b.Text("main"); strings.Contains(main, "SPID") || strings.Contains(main, "CIE") {
		t.Errorf("login page speaks of SPID or CIE, none configured: %q", main)
	}

	// A wrong password: a generic message (it must not tell whether the username
	// exists), announced and tied to the form.
	b.Fill("#username", giulia.Username)
	b.Fill("#password", "not-"+giulia.Password)
	if code := b.Submit(`form[action="/idp/accedi"] button[type="submit"]`); code != http.StatusUnprocessableEntity {
		t.Errorf("wrong password: status %d, want 422", code)
	}
	b.CheckA11y(t)
	checkAccessLog(t, p, b, http.StatusUnprocessableEntity)
	if got := b.Path(); got != IdPLoginPath {
		t.Fatalf("wrong password: at %s, want the login page %s again", got, IdPLoginPath)
	}
	alert := b.Text("#form-alert")
	if !strings.Contains(alert, msgWrongPassword) {
		t.Errorf("wrong password: alert %q, want %q", alert, msgWrongPassword)
	}
	if role, _ := b.Attr("#form-alert", "role"); role != "alert" {
		t.Errorf("wrong password: the message has role=%q, want alert (announced by screen readers)", role)
	}
	if ids, _ := b.Attr(`form[action="/idp/accedi"]`, "aria-describedby"); !slices.Contains(strings.Fields(ids), "form-alert") {
		t.Errorf("wrong password: the form's aria-describedby is %q, want it to name the message #form-alert", ids)
	}
	if got := eval[string](b, `document.querySelector('#username').value`); got != giulia.Username {
		t.Errorf("wrong password: the username field holds %q, want %q kept", got, giulia.Username)
	}
	if got := eval[string](b, `document.querySelector('#password').value`); got != "" {
		t.Errorf("wrong password: the password field is not emptied")
	}
	if n := b.Count(`main #form-alert`); n != 1 {
		t.Errorf("wrong password: the message is not inside the main content")
	}

	// The right password, from the error page.
	b.Fill("#username", giulia.Username)
	b.Fill("#password", giulia.Password)
	if code := b.Submit(`form[action="/idp/accedi"] button[type="submit"]`); code != http.StatusOK {
		t.Errorf("personal area: status %d, want 200", code)
	}
	b.CheckA11y(t)
	if got := b.Path(); got != "/area-personale" {
		t.Fatalf("after the login at %s, want /area-personale", got)
	}
	main := b.Text("main")
	for _, want := range []string{"Giulia Bianchi", giulia.FiscalCode} {
		if !strings.Contains(main, want) {
			t.Errorf("personal area: no %q in the page", want)
		}
	}
	if got := b.Text("main h1"); got != "Area personale" {
		t.Errorf("personal area: h1 %q", got)
	}

	// Logout: through the provider's end of session, back to the portal.
	if code := b.Logout(); code != http.StatusOK {
		t.Errorf("logged-out page: status %d, want 200", code)
	}
	b.CheckA11y(t)
	if got := b.Text("h1"); got != msgLoggedOut {
		t.Errorf("logged-out page: h1 %q, want %q", got, msgLoggedOut)
	}
	if n := b.Count(LogoutButton); n != 0 {
		t.Errorf("logged-out page: the header still offers %q", "Esci")
	}

	// The personal area now asks for a login again, and so does the provider: the
	// logout ended its session too (no silent login with the button).
	b.VisitAndCheck("/area-personale")
	if got := b.Path(); got != LoginPath {
		t.Fatalf("/area-personale after the logout: at %s, want the login page %s", got, LoginPath)
	}
	b.VisitAndCheck(ComuneLoginStart)
	if got := b.Path(); got != IdPLoginPath || b.Count("#password") != 1 {
		t.Errorf("after the logout %s leads to %s, want the provider's login form at %s", ComuneLoginStart, got, IdPLoginPath)
	}
}

// deskActivationJourney: the URP operator registers a new citizen (after a typo in the
// codice fiscale) and issues the credentials; the citizen activates them, skips the
// authenticator app, and logs in.
func deskActivationJourney(t *testing.T, p *Portal) {
	urp := p.DemoAccount(t, "demo.urp")
	b := NewBrowser(t)
	b.BaseURL = p.URL

	// A fictional person, with a codice fiscale that passes the check.
	const given, family, birth, docNumber = "Carla", "Esposito", "1972-09-30", "CA12345BB"
	born, _ := time.Parse("2006-01-02", birth)
	cf, err := codicefiscale.Compute(family, given, born, true, "L219")
	if err != nil {
		t.Fatal(err)
	}
	// The same code with the next letter as check character: a typo the check catches.
	wrongCF := cf[:15] + string(rune('A'+(cf[15]-'A'+1)%26))

	if code := b.LoginComune(p, urp); code != http.StatusOK {
		t.Errorf("back office: status %d, want 200", code)
	}
	b.CheckA11y(t)
	if got := b.Path(); got != "/backoffice" {
		t.Fatalf("demo.urp lands at %s, want /backoffice", got)
	}
	if got := b.Text("main h1"); got != "Cruscotto" {
		t.Errorf("back office: h1 %q, want %q", got, "Cruscotto")
	}

	// The credential desk, from the staff menu.
	b.FollowLink("Credenziali dei cittadini")
	b.CheckA11y(t)
	if got := b.Path(); got != "/backoffice/credenziali" {
		t.Fatalf("the desk is at %s, want /backoffice/credenziali", got)
	}
	b.Fill("#q", cf)
	b.Submit(`main form[role="search"] button[type="submit"]`)
	b.CheckA11y(t)
	if got := b.Text(`main p[role="status"]`); got != "0 account trovati." {
		t.Errorf("search for a new codice fiscale: status %q, want %q", got, "0 account trovati.")
	}
	if got := b.Text("main"); !strings.Contains(got, "Nessun account corrisponde alla ricerca.") {
		t.Errorf("search for a new codice fiscale: no %q", "Nessun account corrisponde alla ricerca.")
	}
	b.FollowLink("Registra un nuovo cittadino")
	b.CheckA11y(t)

	// The form, first with a wrong check character.
	b.Fill("#fiscal_code", wrongCF)
	b.Fill("#given_name", given)
	b.Fill("#family_name", family)
	b.SetValue("#birth_date", birth)
	b.Fill("#email", "carla.esposito@example.org")
	b.Fill("#phone", "+39 0000 000000")
	b.SetValue("#id_doc_type", "cie")
	b.Fill("#id_doc_number", docNumber)
	b.Fill("#id_doc_issuer", "Comune di Valdoria")
	b.SetValue("#id_doc_expires", "2032-01-31")
	b.Click(`label[for="document_seen"]`)
	if !eval[bool](b, `document.querySelector('#document_seen').checked`) {
		t.Fatalf("clicking the label of %q did not tick it", "document_seen")
	}
	if code := b.Submit(`form[action$="/nuovo"] button[type="submit"]`); code != http.StatusUnprocessableEntity {
		t.Errorf("wrong check character: status %d, want 422", code)
	}
	b.CheckA11y(t)
	checkAccessLog(t, p, b, http.StatusUnprocessableEntity)
	if got := b.Text("#fiscal_code-err"); got != msgCFCheckChar {
		t.Errorf("wrong check character: field error %q, want %q", got, msgCFCheckChar)
	}
	if v, _ := b.Attr("#fiscal_code", "aria-invalid"); v != "true" {
		t.Errorf("wrong check character: #fiscal_code has aria-invalid=%q, want true", v)
	}
	if ids, _ := b.Attr("#fiscal_code", "aria-describedby"); !slices.Contains(strings.Fields(ids), "fiscal_code-err") {
		t.Errorf("wrong check character: #fiscal_code aria-describedby=%q, want it to name #fiscal_code-err", ids)
	}
	if links := b.Count(`#error-summary a[href="#fiscal_code"]`); links != 1 {
		t.Errorf("wrong check character: the error summary has %d links to #fiscal_code, want 1", links)
	}
	if errs := b.Count(".invalid-feedback"); errs != 1 {
		t.Errorf("wrong check character: %d field errors (%q), want only the codice fiscale's", errs, b.Texts(".invalid-feedback"))
	}
	for sel, want := range map[string]string{"#given_name": given, "#family_name": family, "#birth_date": birth,
		"#id_doc_type": "cie", "#id_doc_number": docNumber} {
		if got := eval[string](b, `document.querySelector('`+sel+`').value`); got != want {
			t.Errorf("wrong check character: %s holds %q, want %q kept", sel, got, want)
		}
	}
	if !eval[bool](b, `document.querySelector('#document_seen').checked`) {
		t.Errorf("wrong check character: %q is no longer ticked", "document_seen")
	}

	// Corrected, the citizen is registered.
	b.Fill("#fiscal_code", cf)
	if code := b.Submit(`form[action$="/nuovo"] button[type="submit"]`); code != http.StatusOK {
		t.Errorf("registered citizen: status %d, want 200", code)
	}
	b.CheckA11y(t)
	if got := b.Path(); !regexp.MustCompile(`^/backoffice/credenziali/\d+$`).MatchString(got) {
		t.Fatalf("after the registration at %s, want the account page /backoffice/credenziali/<id>", got)
	}
	if got := b.Text("main h1"); !strings.Contains(got, given) || !strings.Contains(got, family) {
		t.Errorf("account page: h1 %q, want the citizen's name", got)
	}
	if got := b.Text("main"); !strings.Contains(got, cf) {
		t.Errorf("account page: no codice fiscale %s", cf)
	}
	if got := strings.Join(b.Texts(".alert"), " | "); !strings.Contains(got, "Cittadino registrato.") {
		t.Errorf("account page: messages %q, want %q", got, "Cittadino registrato. Ora rilascia le credenziali.")
	}

	// Credentials: username and activation code, shown once.
	if code := b.Submit(`form[action$="/rilascio"] button[type="submit"]`); code != http.StatusOK {
		t.Errorf("credentials page: status %d, want 200", code)
	}
	b.CheckA11y(t)
	if got := b.Text("main h1"); got != "Credenziali rilasciate" {
		t.Errorf("credentials page: h1 %q", got)
	}
	username := b.Text("dl.credentials dd strong")
	activation := b.Text("#activation-code")
	if username == "" || activation == "" {
		t.Fatalf("credentials page: username %q, activation code %q", username, activation)
	}
	t.Logf("issued username %s", username)
	if n := b.Count(`form[action$="/lettera.pdf"] button[type="submit"]`); n != 1 {
		t.Errorf("credentials page: no button for the credential letter (PDF)")
	}

	if code := b.Logout(); code != http.StatusOK {
		t.Errorf("staff logout: status %d", code)
	}
	b.CheckA11y(t)

	// The citizen, at home with the letter: activation.
	b.VisitAndCheck("/idp/attiva")
	if got := b.Text("h1"); got != "Attiva le credenziali" {
		t.Errorf("activation: h1 %q", got)
	}
	b.Fill("#username", username)
	b.Fill("#code", strings.ToLower(activation))
	if code := b.Submit(`form[action="/idp/attiva"] button[type="submit"]`); code != http.StatusOK {
		t.Errorf("activation, password step: status %d", code)
	}
	b.CheckA11y(t)
	if got := b.Path(); got != "/idp/attiva/password" {
		t.Fatalf("activation: after the code at %s (alerts %q), want /idp/attiva/password", got, b.Texts(".alert"))
	}
	const password = "Lanterna-Verde-sul-Colle-42"
	b.Fill("#password", password)
	b.Fill("#password_confirm", password)
	b.Submit(`form[action="/idp/attiva/password"] button[type="submit"]:not([name])`)
	b.CheckA11y(t)
	if got := b.Path(); got != "/idp/attiva/codice" {
		t.Fatalf("activation: after the password at %s (alerts %q), want the optional TOTP step", got, b.Texts(".alert"))
	}
	// The authenticator app's code is not called like the certificates' code.
	if got := b.Text(`label[for="code"]`); got != "Codice dell'app di autenticazione" {
		t.Errorf("activation: the TOTP field is labelled %q", got)
	}
	b.Submit(`form[action="/idp/attiva/codice"] button[name="skip"]`)
	b.CheckA11y(t)
	if got := b.Text("h1"); got != msgActivated {
		t.Fatalf("activation: h1 %q at %s, want %q", got, b.Path(), msgActivated)
	}
	// The skipped step reads "saltato", never "completato".
	if got := b.Text(".steppers li:last-child"); !strings.Contains(got, "(saltato)") || strings.Contains(got, "completato") {
		t.Errorf("activation: the skipped step reads %q", got)
	}
	if got := b.Text(`[role="status"]`); !strings.Contains(got, username) {
		t.Errorf("activation: confirmation %q does not name the username %s", got, username)
	}

	// And the first login, from the link on that page.
	b.FollowLink("Accedi")
	b.CheckA11y(t)
	if got := b.Path(); got != LoginPath {
		t.Errorf("the activation's link leads to %s, want %s", got, LoginPath)
	}
	carla := Account{Username: username, Password: password}
	if code := b.LoginComune(p, carla); code != http.StatusOK {
		t.Errorf("personal area: status %d", code)
	}
	b.CheckA11y(t)
	if got := b.Path(); got != "/area-personale" {
		t.Fatalf("the new citizen lands at %s, want /area-personale", got)
	}
	main := b.Text("main")
	for _, want := range []string{given + " " + family, cf} {
		if !strings.Contains(main, want) {
			t.Errorf("personal area: no %q", want)
		}
	}
	b.Logout()
	b.CheckA11y(t)
}

// staffBoundariesJourney: a register officer reaches the back office but not the pages
// of other roles; a citizen does not reach the back office at all.
func staffBoundariesJourney(t *testing.T, p *Portal) {
	officer := p.DemoAccount(t, "demo.anagrafe")
	b := NewBrowser(t)
	b.BaseURL = p.URL

	if code := b.LoginComune(p, officer); code != http.StatusOK {
		t.Errorf("back office: status %d, want 200", code)
	}
	b.CheckA11y(t)
	if got := b.Path(); got != "/backoffice" {
		t.Fatalf("demo.anagrafe lands at %s, want /backoffice", got)
	}
	if menu := b.Texts(`main nav ul a`); !slices.Contains(menu, "Cruscotto") || slices.Contains(menu, "Credenziali dei cittadini") {
		t.Errorf("the back-office menu of demo.anagrafe is %q: want the dashboard, not the credential desk", menu)
	}
	for _, path := range []string{"/backoffice/personale", "/backoffice/audit", "/backoffice/credenziali"} {
		code := b.VisitAndCheck(path)
		if code != http.StatusForbidden {
			t.Errorf("demo.anagrafe on %s: status %d, want 403", path, code)
		}
		if got := b.Text("main h1"); got != msgForbidden {
			t.Errorf("demo.anagrafe on %s: h1 %q, want %q", path, got, msgForbidden)
		}
		checkAccessLog(t, p, b, code)
	}
	b.Logout()
	b.CheckA11y(t)

	giulia := p.DemoAccount(t, "giulia.bianchi")
	b.LoginComune(p, giulia)
	b.CheckA11y(t)
	if got := b.Path(); got != "/area-personale" {
		t.Fatalf("the citizen lands at %s, want /area-personale", got)
	}
	if code := b.VisitAndCheck("/backoffice"); code != http.StatusForbidden {
		t.Errorf("the citizen on /backoffice: status %d, want 403", code)
	}
	if got := b.Text("main h1"); got != msgForbidden {
		t.Errorf("the citizen on /backoffice: h1 %q, want %q", got, msgForbidden)
	}
	checkAccessLog(t, p, b, http.StatusForbidden)
	b.Logout()
	b.CheckA11y(t)
}

// loginKeyboardJourney: on the provider's login page the keyboard reaches the
// username, the password and the button in this order, and Enter submits.
func loginKeyboardJourney(t *testing.T, p *Portal) {
	giulia := p.DemoAccount(t, "giulia.bianchi")
	b := NewBrowser(t)
	b.BaseURL = p.URL

	b.VisitAndCheck(LoginPath)

	const maxTabs = 40
	var seen []string
	for i := 0; ; i++ {
		if i == maxTabs {
			t.Fatalf("%d presses of Tab did not reach #username; focus went through %q", maxTabs, seen)
		}
		b.Tab()
		f := b.Focused()
		if f.ID == "username" {
			break
		}
		seen = append(seen, f.String())
	}
	b.Press(giulia.Username)
	b.Tab()
	if f := b.Focused(); f.ID != "password" {
		t.Fatalf("Tab after the username focuses %s, want the password", f)
	}
	b.Press(giulia.Password)
	b.Tab()
	if f := b.Focused(); f.Tag != "button" || f.Text != ComuneLoginButton {
		t.Errorf("Tab after the password focuses %s, want the button %q", f, ComuneLoginButton)
	}
	b.ShiftTab()
	if f := b.Focused(); f.ID != "password" {
		t.Fatalf("Shift+Tab from the button focuses %s, want the password", f)
	}

	// Enter in the password field submits the form.
	code := b.PressFollow(kb.Enter)
	b.CheckA11y(t)
	if code != http.StatusOK || b.Path() != "/area-personale" {
		t.Errorf("Enter in the password field: at %s with status %d, want /area-personale", b.Path(), code)
	}
	b.Logout()
	b.CheckA11y(t)
}

// checkAccessLog checks that the portal's access log records the current page's
// request with the status the browser got: monitoring and audits read that log.
func checkAccessLog(t *testing.T, p *Portal, b *Browser, got int) {
	t.Helper()
	r := p.RequestLogged(t, b.ResponseHeader("X-Request-Id"))
	if r.Status != got {
		t.Errorf("the access log records %s %s (request %s) with status %d, but the browser got %d",
			r.Method, r.Path, r.RequestID, r.Status, got)
	}
}
