package e2e

import (
	"net/http"
	"os"
	"path/filepath"
	"testing"
)

// TestDocScreenshots remakes docs/screenshots: the main pages at 390 px, as a phone
// shows them (see README, "Screenshots"). It runs only with SPORTELLO_SCREENSHOTS=1
// (and the e2e settings), on SQLite, with the demo data:
//
//	make build && SPORTELLO_E2E=1 SPORTELLO_SCREENSHOTS=1 SPORTELLO_BIN=$PWD/bin/sportello \
//	    go test -count=1 -run TestDocScreenshots ./e2e/
//
// Every page still gets axe-core and the reflow check.
func TestDocScreenshots(t *testing.T) {
	if os.Getenv("SPORTELLO_SCREENSHOTS") != "1" {
		t.Skip("set SPORTELLO_SCREENSHOTS=1 to remake docs/screenshots")
	}
	t.Setenv("SPORTELLO_E2E_SCREENSHOTS", "1")
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	// The demo of `make run` (config/demo.yaml): Valdoria with its coat of arms.
	p := StartPortal(t, PortalOptions{Env: []string{"SPORTELLO_CONFIG=" + filepath.Join(root, "config", "demo.yaml")}})
	b := NewBrowser(t)
	b.BaseURL = p.URL
	page := func(path, name string) {
		t.Helper()
		if code := b.VisitAndCheck(path); code != http.StatusOK {
			t.Errorf("%s: status %d", path, code)
		}
		b.DocScreenshot(name)
	}
	page("/", "home")
	page("/servizi", "catalogo")
	page("/servizi/certificati", "scheda-servizio")
	page("/verifica", "verifica")
	page("/segnala-disservizio", "segnala-disservizio")
	page(LoginPath, "accesso")

	// A citizen: personal area, certificates, a case form, an appointment.
	if code := b.LoginComune(p, p.DemoAccount(t, "giulia.bianchi")); code != http.StatusOK {
		t.Errorf("citizen login: %d", code)
	}
	b.CheckA11y(t)
	page("/area-personale", "area-personale")
	page("/servizi/certificati/miei", "certificati-miei")
	page("/servizi/appuntamenti/nuovo", "prenota-appuntamento")
	page("/servizi/ztl", "ztl")
	b.FollowLink("Vai al servizio")
	b.CheckA11y(t)
	if code := b.Submit(`form[action="/servizi/ztl/domanda"] button[type="submit"]`); code == http.StatusOK {
		b.CheckA11y(t)
		b.DocScreenshot("domanda-ztl")
	} else {
		t.Errorf("ZTL case form: status %d", code)
	}
	b.Logout()
	b.CheckA11y(t)

	// The URP desk.
	if code := b.LoginComune(p, p.DemoAccount(t, "demo.urp")); code != http.StatusOK {
		t.Errorf("URP login: %d", code)
	}
	b.CheckA11y(t)
	page("/backoffice/credenziali/anagrafe?cf=BNCGLI85C52L219J", "sportello-credenziali")
	page("/backoffice/disservizi", "disservizi-backoffice")
	page("/backoffice/valutazioni", "valutazioni-pagine")
}
