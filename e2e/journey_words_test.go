package e2e

import (
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/comuni-italiani/sportello/services/certificates"
)

// wordsConfig configures a SPID broker (with two identity providers in its menu) and
// a CIE broker next to the comune's own credentials. The login page draws their
// buttons without contacting them; the journey does not press them.
const wordsConfig = `auth:
  embedded: true
  providers:
    - id: spid
      kind: spid
      label: SPID
      issuer: https://spid-broker.valdoria.example/realms/spid
      client_id: sportello
      idp_hint_param: kc_idp_hint
      idps:
        - {id: demo-uno, name: "Gestore SPID Demo Uno", hint: spid-demo-1}
        - {id: demo-due, name: "Gestore SPID Demo Due", hint: spid-demo-2}
    - id: cie
      kind: cie
      label: CIE
      issuer: https://cie-broker.valdoria.example/realms/cie
      client_id: sportello
`

// TestJourneyWords walks the points of issue 13 that are words and small pages, on
// both databases: the one login page (AgID's SPID button with its list of identity
// providers, the CIE button and the comune's credentials form on the same page); the
// certificate request naming the household by their relation to the person asking,
// with "nata/nato"; the exemption list shown only once an exemption is chosen, each
// use in words with its legal reference after it; "mai verificato" and "verificato 1
// volta"; the accessible HTML copy of a certificate, refused (404) for a code that is
// not the citizen's; the public verification page masking a minor's tax code and
// showing nothing of the certificate when the QR code's payload is not authentic; the
// audit log in words, with the client address and the security event. Every page gets
// axe-core and the 320 px reflow check.
func TestJourneyWords(t *testing.T) {
	Require(t)
	cfg := filepath.Join(t.TempDir(), "sportello.yaml")
	if err := os.WriteFile(cfg, []byte(wordsConfig), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, db := range []struct {
		name     string
		postgres bool
	}{{"sqlite", false}, {"postgres", true}} {
		t.Run(db.name, func(t *testing.T) {
			t.Parallel()
			p := StartPortal(t, PortalOptions{Postgres: db.postgres, Env: []string{"SPORTELLO_CONFIG=" + cfg}})
			wordsJourney(t, p, db.name == "sqlite")
		})
	}
}

func wordsJourney(t *testing.T, p *Portal, shots bool) {
	giulia := p.DemoAccount(t, "giulia.bianchi")
	var admin Account
	for _, a := range p.DemoAccounts(t) {
		if a.Role == "admin" {
			admin = a
		}
	}
	if admin.Username == "" {
		t.Fatal("no demo administrator")
	}
	shot := func(b *Browser, name string) {
		if shots {
			b.setWidth(DocScreenshotWidth)
			t.Logf("screenshot at %d px: %s", DocScreenshotWidth, b.Screenshot(name))
			b.setWidth(0)
		}
	}

	// 1. One login page: SPID, CIE and the comune's credentials together.
	b := NewBrowser(t)
	b.BaseURL = p.URL
	b.VisitAndCheck(LoginPath)
	if got := b.Text("main h1"); got != "Accedi all'area personale" {
		t.Errorf("login: h1 %q", got)
	}
	if got := b.Text("button.btn-spid"); got != "Entra con SPID" {
		t.Errorf("login: the SPID button reads %q", got)
	}
	if got := b.Text("a.btn-cie"); got != "Entra con CIE" {
		t.Errorf("login: the CIE button reads %q", got)
	}
	if href, _ := b.Attr("a.btn-cie", "href"); href != "/auth/login/cie" {
		t.Errorf("login: the CIE button leads to %q", href)
	}
	if n := b.Count(`form[action="/idp/accedi"] #username`) + b.Count(`form[action="/idp/accedi"] #password`); n != 2 {
		t.Errorf("login: the comune's credentials form is not on the page")
	}
	if got := b.Text("#login-comune"); got != "Credenziali del Comune" {
		t.Errorf("login: credentials section %q", got)
	}
	if !strings.Contains(b.Text("main"), "Non hai SPID, CIE o credenziali?") {
		t.Errorf("login: no help for who has neither")
	}
	// The SPID button opens the list of identity providers (AgID's menu).
	if n := b.Count(".spid-idp-list a"); n != 2 || !eval[bool](b, `document.getElementById('spid-idps').hidden`) {
		t.Errorf("login: the SPID menu (%d entries) is not closed at first", n)
	}
	b.Click("button.btn-spid")
	if v, _ := b.Attr("button.btn-spid", "aria-expanded"); v != "true" {
		t.Errorf("login: the open SPID menu has aria-expanded=%q", v)
	}
	idps := b.Texts(".spid-idp-list a")
	if len(idps) != 2 || idps[0] != "Gestore SPID Demo Uno" || idps[1] != "Gestore SPID Demo Due" {
		t.Errorf("login: the SPID menu lists %q", idps)
	}
	if href, _ := b.Attr(".spid-idp-list a", "href"); href != "/auth/login/spid?idp=demo-uno" {
		t.Errorf("login: the first identity provider leads to %q", href)
	}
	b.CheckA11y(t)
	shot(b, "login")

	// The citizen logs in with the form on that very page.
	b.LoginComune(p, giulia)
	b.CheckA11y(t)
	if got := b.Path(); got != "/area-personale" {
		t.Fatalf("after the login at %s, want /area-personale", got)
	}

	// 2. The request: the household named from Giulia's side.
	b.VisitAndCheck("/servizi/certificati/nuovo")
	labels := strings.Join(b.Texts(`label[for^="persona-"]`), "\n")
	for _, want := range []string{"nata il 12/03/1985 (tu)", "nato il 04/07/1982 (tuo marito)",
		"nato il 20/09/2014 (tuo figlio)", "nata il 11/02/2017 (tua figlia)"} {
		if !strings.Contains(labels, want) {
			t.Errorf("request: no %q among\n%s", want, labels)
		}
	}
	if strings.Contains(labels, "intestatari") || strings.Contains(labels, "nato/a") {
		t.Errorf("request: register words in\n%s", labels)
	}
	sofia := ""
	for _, id := range eval[[]string](b, `Array.from(document.querySelectorAll('input[name="persona"]'), e => e.id)`) {
		if strings.Contains(b.Text(`label[for="`+id+`"]`), "tua figlia") {
			sofia = id
		}
	}
	if sofia == "" {
		t.Fatal("request: no daughter to choose")
	}
	b.Click(`label[for="` + sofia + `"]`)
	b.Submit(`form[action="/servizi/certificati/nuovo/tipo"] button[type="submit"]`)
	b.CheckA11y(t)

	// The exemption list only once an exemption is chosen; uses in words, the law after.
	visible := func() bool {
		return eval[bool](b, `getComputedStyle(document.querySelector('.exemption-choice')).display !== 'none'`)
	}
	if visible() {
		t.Errorf("type: the exemption list shows before an exemption is chosen")
	}
	b.Click(`label[for="bollo-exempt"]`)
	if !visible() {
		t.Errorf("type: the exemption list does not show once an exemption is chosen")
	}
	uses := b.Texts(`#esenzione option:not([value=""])`)
	law := regexp.MustCompile(`^\p{Lu}.*[\p{Ll})] \((art\.|L\.|D\.)[^()]*\)$`)
	if len(uses) < 5 {
		t.Errorf("type: %d exemptions listed", len(uses))
	}
	for _, u := range uses {
		if !law.MatchString(u) {
			t.Errorf("type: the exemption %q is not words followed by its legal reference", u)
		}
	}
	b.CheckA11y(t)
	b.Click(`label[for="bollo-due"]`)
	resID, ok := b.Attr(`input[name="tipo"][value="residenza"]`, "id")
	if !ok {
		t.Fatalf("type: no residence certificate offered; offered %q", b.Texts(`label[for^="tipo-"]`))
	}
	b.Click(`label[for="` + resID + `"]`)
	if code := b.Submit(`form[action="/servizi/certificati/nuovo/riepilogo"] button[type="submit"]`); code != http.StatusOK {
		t.Fatalf("summary: status %d (alerts %q)", code, b.Texts(".alert"))
	}
	b.CheckA11y(t)
	b.Submit(`form[action="/servizi/certificati/nuovo"] button[type="submit"]`)
	b.CheckA11y(t)
	code := b.Text("#cert-code")
	if !strings.HasPrefix(b.Path(), "/servizi/certificati/emesso/") || code == "" {
		t.Fatalf("issue: at %s (alerts %q)", b.Path(), b.Texts(".alert"))
	}

	// 3. I miei certificati: "mai verificato", and the accessible copy.
	rowOf := func() string {
		b.VisitAndCheck("/servizi/certificati/miei")
		for _, r := range b.Texts("main tbody tr") {
			if strings.Contains(r, code) {
				return r
			}
		}
		t.Fatalf("mine: no row for %s", code)
		return ""
	}
	if got := rowOf(); !strings.Contains(got, "mai verificato") {
		t.Errorf("mine: the new certificate's row reads %q", got)
	}
	// As pages and the browser write it: the code's characters need no escaping in a path
	// (services/certificates TestCheckSymbolsInAddresses).
	copyPath := "/servizi/certificati/miei/" + code + "/copia"
	if n := b.Count(`main a[href="` + copyPath + `"]`); n != 1 {
		t.Fatalf("mine: %d links to the accessible copy %s", n, copyPath)
	}
	b.Follow(`main a[href="` + copyPath + `"]`)
	b.CheckA11y(t)
	if got := b.Path(); got != copyPath {
		t.Fatalf("copy: at %s", got)
	}
	if lang, _ := b.Attr("main article", "lang"); lang != "it" {
		t.Errorf("copy: the certificate's text has lang %q", lang)
	}
	copyText := b.Text("main article")
	data := definitions(b, "main article dl")
	sofiaCF := data["Codice fiscale"]
	if len(sofiaCF) != 16 {
		t.Fatalf("copy: the holder's tax code is %q; data %q", sofiaCF, data)
	}
	for _, want := range []string{"ESPOSITO SOFIA", "nata a TORINO", "Timbro digitale", code, "Comune di Valdoria", "Indirizzo di verifica"} {
		if !strings.Contains(copyText, want) {
			t.Errorf("copy: no %q in\n%s", want, copyText)
		}
	}
	if n := b.Count("main article h2") + b.Count("main article dl"); n < 3 {
		t.Errorf("copy: %d headings and lists; the copy is not structured", n)
	}
	shot(b, "copy")
	// A code that is not one of hers: the same 404, and a security event.
	if code := b.Visit("/servizi/certificati/miei/ABCD-EFGH-JKMN-P/copia"); code != http.StatusNotFound {
		t.Errorf("copy of a certificate that is not hers: status %d, want 404", code)
	}
	b.CheckA11y(t)

	// 4. The public verification page, in another browser: VALIDO, the minor's tax
	// code masked; the mine list then says "verificato 1 volta".
	clerk := NewBrowser(t)
	clerk.BaseURL = p.URL
	clerk.VisitAndCheck("/verifica/" + url.PathEscape(code))
	page := clerk.Text("main")
	masked := certificates.MaskFiscalCode(sofiaCF)
	if !strings.Contains(page, "VALIDO") || !strings.Contains(page, masked) || strings.Contains(page, sofiaCF) {
		t.Errorf("verify: want VALIDO and %s (not %s) in\n%s", masked, sofiaCF, page)
	}
	if strings.Contains(page, "JWKS") || regexp.MustCompile(`(?i)\bkid\b|key id`).MatchString(page) {
		t.Errorf("verify: key identifiers on a public page")
	}
	shot(clerk, "verify")
	// The holder's list counts the check in words (the log is written in batches).
	waitRow := func(want string) {
		deadline := time.Now().Add(15 * time.Second)
		for {
			row := rowOf()
			if strings.Contains(row, want) {
				return
			}
			if time.Now().After(deadline) {
				t.Errorf("mine: the row reads %q, want %q", row, want)
				return
			}
			time.Sleep(time.Second)
		}
	}
	waitRow("verificato 1 volta")
	// A QR code whose payload is not the comune's: NON AUTENTICO and no data (from
	// another page, so that the fragment loads the page anew).
	clerk.VisitAndCheck("/verifica")
	clerk.Visit("/verifica/" + url.PathEscape(code) + "#AAECAwQFBgcICQ")
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(clerk.Text("#verdict"), "NON AUTENTICO") && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	if got := clerk.Text("#verdict"); !strings.Contains(got, "NON AUTENTICO") {
		t.Errorf("forged QR payload: verdict %q", got)
	}
	if n := clerk.Count("#cert-data"); n != 0 || strings.Contains(clerk.Text("main"), "ESPOSITO") {
		t.Errorf("forged QR payload: the certificate's data is still shown")
	}
	clerk.CheckA11y(t)
	// An unknown code: NON AUTENTICO, nothing else.
	if code := clerk.Visit("/verifica/ABCD-EFGH-JKMN-P"); code != http.StatusNotFound {
		t.Errorf("unknown code: status %d", code)
	}
	clerk.CheckA11y(t)
	if got := clerk.Text("main"); !strings.Contains(got, "NON AUTENTICO") || clerk.Count("#cert-data") != 0 {
		t.Errorf("unknown code: %q", got)
	}
	// The page shown with the forged payload was a check of the code too.
	waitRow("verificato 2 volte")
	b.Logout()
	b.CheckA11y(t)

	// 5. The audit log in words: the administrator sees the security event of the
	// copy asked for by code, with the client address, and no bare action code.
	a := NewBrowser(t)
	a.BaseURL = p.URL
	a.LoginComune(p, admin)
	a.CheckA11y(t)
	a.VisitAndCheck("/backoffice/audit?action=security.")
	rows := a.Texts("main tbody tr")
	found := false
	for _, r := range rows {
		if strings.Contains(r, "Tentato accesso al certificato di un'altra persona") && strings.Contains(r, "Cittadino o cittadina") &&
			strings.Contains(r, "127.0.0.1") {
			found = true
		}
	}
	if !found {
		t.Errorf("audit: no security event of the refused copy in words with the address; rows %q", rows)
	}
	a.VisitAndCheck("/backoffice/audit")
	for _, cell := range eval[[]string](a, `Array.from(document.querySelectorAll('main tbody tr td:nth-child(3)'), td => td.firstChild ? td.firstChild.textContent.trim() : '')`) {
		if regexp.MustCompile(`^[a-z_]+\.[a-z_.]+$`).MatchString(cell) {
			t.Errorf("audit: the action %q is shown as a code", cell)
		}
	}
	if heads := a.Texts("main thead th"); !strings.Contains(strings.Join(heads, "|"), "Indirizzo IP del client") {
		t.Errorf("audit: headings %q", heads)
	}
}
