package e2e

import (
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/comuni-italiani/sportello/app/codicefiscale"
)

// TestDeskJourney walks the URP's side of issue 13: a visitor rates a page and reports
// a disservice (first with a mistake, then with the reference number shown); the URP
// operator works the report (status in progress), reads the page ratings with a period
// filter, and at the credential desk looks a resident up in the register (the form is
// prefilled without JavaScript), is refused an expired identity document, registers
// the citizen and issues the credentials, whose page a reload shows again without
// reissuing. Every page gets axe-core and the 320 px reflow check.
func TestDeskJourney(t *testing.T) {
	EachDatabase(t, func(t *testing.T, p *Portal) {
		b := NewBrowser(t)
		b.BaseURL = p.URL
		shots := strings.HasSuffix(t.Name(), "sqlite")
		shot := func(name string) {
			if shots {
				b.DocScreenshot(name)
			}
		}

		// A visitor rates a page, with a comment.
		b.VisitAndCheck("/privacy")
		b.Click("#pagina-voto-2")
		b.Fill("#pagina-commento", "Non trovo per quanto tempo sono conservati i dati")
		if code := b.Submit(`.page-rating button[type="submit"]`); code != http.StatusOK {
			t.Errorf("page rating: status %d", code)
		}
		b.CheckA11y(t)

		// "Segnala disservizio", from the footer: first without a category.
		b.Follow(`footer a[href="/segnala-disservizio"]`)
		b.CheckA11y(t)
		if got := b.Path(); got != "/segnala-disservizio" {
			t.Fatalf("footer link leads to %s", got)
		}
		shot("segnala-disservizio")
		b.Fill("#descrizione", "Il pagamento della mensa scolastica non va a buon fine dal 3 marzo.")
		if code := b.Submit(`form[action="/segnala-disservizio"] button[type="submit"]`); code != http.StatusUnprocessableEntity {
			t.Errorf("report without category: status %d, want 422", code)
		}
		b.CheckA11y(t)
		if got := b.Text("#categoria-err"); got != "Scegli la categoria del disservizio." {
			t.Errorf("report without category: field error %q", got)
		}
		if n := b.Count(`#error-summary a[href="#categoria"]`); n != 1 {
			t.Errorf("error summary: %d links to #categoria", n)
		}
		if got := eval[string](b, `document.querySelector('#descrizione').value`); !strings.HasPrefix(got, "Il pagamento della mensa") {
			t.Errorf("the description was not kept: %q", got)
		}
		b.SetValue("#categoria", "servizio_online")
		b.Fill("#email", "anna.neri@example.org")
		if code := b.Submit(`form[action="/segnala-disservizio"] button[type="submit"]`); code != http.StatusOK {
			t.Errorf("report: status %d", code)
		}
		b.CheckA11y(t)
		ref := b.Text("#disservice-reference")
		if !regexp.MustCompile(`^DS-\d{4}-[A-Z0-9]{6}$`).MatchString(ref) || b.Path() != "/segnala-disservizio/inviata" {
			t.Fatalf("sent page at %s: reference %q", b.Path(), ref)
		}

		// The URP operator works the report.
		if code := b.LoginComune(p, p.DemoAccount(t, "demo.urp")); code != http.StatusOK {
			t.Errorf("back office: status %d", code)
		}
		b.CheckA11y(t)
		b.FollowLink("Segnalazioni di disservizio")
		b.CheckA11y(t)
		if got := b.Text("#disservice-list"); !strings.Contains(got, ref) || !strings.Contains(got, "Il pagamento della mensa") ||
			!strings.Contains(got, "anna.neri@example.org") {
			t.Errorf("staff list: no report %s", ref)
		}
		b.SetValue("#stato-"+ref, "in_lavorazione")
		if code := b.Submit(`form[action="/backoffice/disservizi/` + ref + `/stato"] button[type="submit"]`); code != http.StatusOK {
			t.Errorf("status change: %d", code)
		}
		b.CheckA11y(t)
		if got := strings.Join(b.Texts(".alert"), " | "); !strings.Contains(got, "Stato aggiornato.") {
			t.Errorf("after the status change: alerts %q", got)
		}
		if got := b.Text("#disservice-list .badge"); got != "In lavorazione" {
			t.Errorf("status shown %q", got)
		}

		// The page ratings.
		b.FollowLink("Valutazioni delle pagine")
		b.CheckA11y(t)
		if got := b.Text("#ratings-pages"); !strings.Contains(got, "/privacy") {
			t.Errorf("ratings: no row for /privacy in %q", got)
		}
		if got := b.Text("#ratings-comments"); !strings.Contains(got, "Non trovo per quanto tempo sono conservati i dati") {
			t.Errorf("ratings: comment missing from %q", got)
		}
		shot("valutazioni-pagine")
		b.SetValue("#dal", "2026-02-01")
		b.SetValue("#al", "2026-01-01")
		if code := b.Submit(`form[action="/backoffice/valutazioni"] button[type="submit"]`); code != http.StatusUnprocessableEntity {
			t.Errorf("reversed period: status %d, want 422", code)
		}
		b.CheckA11y(t)
		if got := b.Text("#al-err"); got != "La data finale è precedente a quella iniziale." {
			t.Errorf("reversed period: %q", got)
		}

		// The desk: a resident of the demo register, looked up by tax code.
		born := time.Date(1990, 10, 5, 0, 0, 0, 0, time.UTC)
		cf, err := codicefiscale.Compute("CONTI", "FRANCESCA", born, true, "H501")
		if err != nil {
			t.Fatal(err)
		}
		b.FollowLink("Credenziali dei cittadini")
		b.CheckA11y(t)
		b.FollowLink("Registra un nuovo cittadino")
		b.CheckA11y(t)
		b.Fill("#cf", strings.ToLower(cf))
		if code := b.Submit(`form[action$="/anagrafe"] button[type="submit"]`); code != http.StatusOK {
			t.Errorf("register lookup: status %d", code)
		}
		b.CheckA11y(t)
		if b.Count("#lookup-found") != 1 {
			t.Errorf("lookup of %s: no %q notice (alerts %q)", cf, "Persona trovata", b.Texts(".alert"))
		}
		for sel, want := range map[string]string{"#fiscal_code": cf, "#given_name": "Francesca", "#family_name": "Conti", "#birth_date": "1990-10-05"} {
			if got := eval[string](b, `document.querySelector('`+sel+`').value`); got != want {
				t.Errorf("prefilled %s = %q, want %q", sel, got, want)
			}
		}
		shot("sportello-credenziali")
		b.SetValue("#id_doc_type", "carta_identita")
		b.Fill("#id_doc_number", "CA00000AA")
		b.Fill("#id_doc_issuer", "Comune di Valdoria")
		b.SetValue("#id_doc_expires", "2024-01-31")
		b.Click(`label[for="document_seen"]`)
		if code := b.Submit(`form[action$="/nuovo"] button[type="submit"]`); code != http.StatusUnprocessableEntity {
			t.Errorf("expired document: status %d, want 422", code)
		}
		b.CheckA11y(t)
		if got := b.Text("#id_doc_expires-err"); !strings.HasPrefix(got, "Il documento è scaduto") {
			t.Errorf("expired document: field error %q", got)
		}
		b.SetValue("#id_doc_expires", "2033-01-31")
		if code := b.Submit(`form[action$="/nuovo"] button[type="submit"]`); code != http.StatusOK {
			t.Errorf("registration: status %d", code)
		}
		b.CheckA11y(t)
		if got := b.Path(); !regexp.MustCompile(`^/backoffice/credenziali/\d+$`).MatchString(got) {
			t.Fatalf("after the registration at %s", got)
		}
		if got := b.Text("main"); !strings.Contains(got, "Comune di Valdoria") || !strings.Contains(got, "31/01/2033") {
			t.Errorf("account page: no document issuer and expiry")
		}
		if code := b.Submit(`form[action$="/rilascio"] button[type="submit"]`); code != http.StatusOK {
			t.Errorf("issue: status %d", code)
		}
		b.CheckA11y(t)
		issued := b.Path()
		if !regexp.MustCompile(`^/backoffice/credenziali/\d+/rilascio/[A-Z2-7]{26}$`).MatchString(issued) {
			t.Fatalf("the issue did not redirect to its page: at %s", issued)
		}
		code := b.Text("#activation-code")
		// A reload (GET) shows the same code: nothing is reissued.
		b.VisitAndCheck(issued)
		if again := b.Text("#activation-code"); again != code || code == "" {
			t.Errorf("reload of the credentials page: code %q, was %q", again, code)
		}
		if n := b.Count(`form[action$="/lettera.pdf"] button[type="submit"]`); n != 1 {
			t.Errorf("credentials page: no button for the letter")
		}
	})
}
