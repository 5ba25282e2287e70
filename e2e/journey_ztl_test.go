package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestJourneyZTL is the browser journey of the ZTL permits, with the permit fees
// paid through the (development) pagoPA (modules.settings.ztl.pagopa_fees): the demo
// citizen applies for a temporary permit, the mobility officer takes and approves the
// application, the citizen sees the permit "da pagare" with what to do and by when,
// pays online at the development Checkout, and then sees it valid with its plate; the
// permit's public check says it is valid. Every page is axe-checked and must fit a
// 320 px wide screen.
func TestJourneyZTL(t *testing.T) {
	Require(t)
	cfg := filepath.Join(t.TempDir(), "sportello.yaml")
	if err := os.WriteFile(cfg, []byte("modules:\n  settings:\n    ztl:\n      pagopa_fees: true\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, db := range []struct {
		name     string
		postgres bool
	}{{"sqlite", false}, {"postgres", true}} {
		t.Run(db.name, func(t *testing.T) {
			t.Parallel()
			ztlJourney(t, StartPortal(t, PortalOptions{Postgres: db.postgres, Env: []string{"SPORTELLO_CONFIG=" + cfg}}))
		})
	}
}

// fits320 checks that nothing in the page's main content reaches beyond a 320 CSS
// pixel wide screen (WCAG 2.1 reflow); a table inside .table-responsive scrolls on its
// own, as data tables may. Only the main content: the header and footer are the
// platform's (checked by its own journeys). The desktop window is restored after.
func fits320(t *testing.T, b *Browser) {
	t.Helper()
	b.fits320(t, b.Path())
}

func ztlJourney(t *testing.T, p *Portal) {
	giulia := p.DemoAccount(t, "giulia.bianchi")
	officer := p.DemoAccount(t, "demo.mobility")
	today := time.Now().In(rome()).Format("2006-01-02")
	plate := "GB 482 KL"

	cit := NewBrowser(t)
	cit.BaseURL = p.URL
	cit.LoginComune(p, giulia)
	cit.CheckA11y(t)
	cit.VisitAndCheck("/servizi/ztl")
	fits320(t, cit)
	cit.FollowLink("Vai al servizio")
	cit.CheckA11y(t)
	cit.Submit(`form[action="/servizi/ztl/domanda"] button[type="submit"]`)
	cit.CheckA11y(t)
	if !strings.HasSuffix(cit.Path(), "/permesso") {
		t.Fatalf("first step at %s", cit.Path())
	}
	fits320(t, cit)
	// A temporary permit for two days from today (no documents needed).
	eval[bool](cit, `(s => { s.value = 'temporaneo'; return true })(document.querySelector('#category'))`)
	eval[bool](cit, fmt.Sprintf(`(e => { e.value = %q; return true })(document.querySelector('#start'))`, today))
	cit.Fill("#days", "2")
	cit.Submit(`main form button[type="submit"]`)
	cit.CheckA11y(t)
	if !strings.HasSuffix(cit.Path(), "/veicoli") {
		t.Fatalf("after the first step at %s (alerts %q)", cit.Path(), cit.Texts(".invalid-feedback"))
	}
	// A malformed plate is refused next to its field.
	cit.Fill("#plate1", "12")
	cit.Submit(`main form button[type="submit"]`)
	cit.CheckA11y(t)
	fits320(t, cit)
	cit.Submit(`main form button[type="submit"]`) // badge step: nothing to say
	cit.CheckA11y(t)
	if !strings.HasSuffix(cit.Path(), "/riepilogo") {
		t.Fatalf("summary expected, at %s", cit.Path())
	}
	cit.Submit(`form[enctype="multipart/form-data"] button[type="submit"]`)
	cit.CheckA11y(t)
	if got := cit.Texts("main .text-danger"); len(got) == 0 || !strings.Contains(strings.Join(got, " "), "formato") {
		t.Fatalf("a malformed plate was not refused at submission: %q", got)
	}
	// Back to the vehicles step, with a good plate.
	m := regexp.MustCompile(`/servizi/ztl/domanda/([0-9]+)/`).FindStringSubmatch(cit.Path() + "/")
	if m == nil {
		t.Fatalf("no case id in %s", cit.Path())
	}
	caseID := m[1]
	cit.VisitAndCheck("/servizi/ztl/domanda/" + caseID + "/veicoli")
	cit.Fill("#plate1", plate)
	cit.Submit(`main form button[type="submit"]`)
	cit.CheckA11y(t)
	cit.Submit(`main form button[type="submit"]`)
	cit.CheckA11y(t)
	fits320(t, cit)
	cit.Submit(`form[enctype="multipart/form-data"] button[type="submit"]`)
	cit.CheckA11y(t)
	fits320(t, cit)
	if !strings.Contains(cit.Text("main"), "protocollo") {
		t.Fatalf("no confirmation with the protocol number: %q", cit.Text("main"))
	}

	// The mobility officer takes and approves the application.
	off := NewBrowser(t)
	off.BaseURL = p.URL
	off.LoginComune(p, officer)
	off.CheckA11y(t)
	off.VisitAndCheck("/backoffice/ztl/pratiche/" + caseID)
	off.Submit(`form[action$="/azione/take"] button[type="submit"]`)
	off.CheckA11y(t)
	off.Submit(`form[action$="/azione/approve"] button[type="submit"]`)
	off.CheckA11y(t)
	fits320(t, off)

	// The citizen sees the permit granted, its fee to pay: what to do and by when.
	cit.VisitAndCheck("/servizi/ztl/permessi")
	fits320(t, cit)
	if main := cit.Text("main"); !strings.Contains(main, "Da pagare") {
		t.Fatalf("the permit list lacks the state: %q", main)
	}
	cit.Follow(`main table a.code-mono`)
	cit.CheckA11y(t)
	fits320(t, cit)
	code := strings.TrimPrefix(cit.Path(), "/servizi/ztl/permessi/")
	if got := cit.Text("#fee-how"); !strings.Contains(got, "Cosa devi fare: pagare la tariffa entro il") {
		t.Errorf("the unpaid permit's page says %q", got)
	}
	if got := cit.Text("main"); !strings.Contains(got, "il permesso decade") || !strings.Contains(got, "avviso di pagamento pagoPA") {
		t.Errorf("the unpaid permit's page does not say how to pay and what happens if not: %q", got)
	}
	cit.setWidth(DocScreenshotWidth)
	eval[bool](cit, `(e => { e.scrollIntoView(); return true })(document.querySelector('#fee-how'))`)
	cit.Screenshot("permit-unpaid-390")
	cit.setWidth(0)

	// She pays online at the development Checkout: the permit becomes valid.
	cit.Follow(`main a[href^="/area-personale/pagamenti/"]`)
	cit.CheckA11y(t)
	cit.Submit(`form[action$="/paga"] button[type="submit"]`)
	cit.CheckA11y(t)
	if !strings.HasPrefix(cit.Path(), "/_pagopa-dev/pay/") {
		t.Fatalf("Paga online leads to %s, want the development Checkout", cit.Path())
	}
	if got := cit.Text("main"); !strings.Contains(got, "5,00") {
		t.Errorf("development Checkout: %q", got)
	}
	cit.Click(`label[for="esito-ok"]`)
	cit.Submit(`main form button[type="submit"]`)
	cit.CheckA11y(t)
	cit.VisitAndCheck("/servizi/ztl/permessi")
	main := cit.Text("main")
	if !strings.Contains(main, "GB482KL") || !strings.Contains(main, "Valido") {
		t.Fatalf("the permit list lacks the plate or the state after the payment: %q", main)
	}
	cit.VisitAndCheck("/servizi/ztl/permessi/" + code)
	fits320(t, cit)
	if got := cit.Text("main"); !strings.Contains(got, "5,00 euro pagati con pagoPA") {
		t.Errorf("the paid permit's page says %q", got)
	}

	// The police check of the permit's QR code.
	pol := NewBrowser(t)
	pol.BaseURL = p.URL
	pol.VisitAndCheck("/verifica/ztl/" + code)
	fits320(t, pol)
	if got := pol.Text("#verdict"); got != "PERMESSO VALIDO" {
		t.Errorf("the check says %q, want PERMESSO VALIDO", got)
	}
}

// rome is the comune's time zone (the portal's "today").
func rome() *time.Location {
	l, err := time.LoadLocation("Europe/Rome")
	if err != nil {
		panic(err)
	}
	return l
}
