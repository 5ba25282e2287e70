package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/comuni-italiani/sportello/app/codicefiscale"
)

// TestJourneyAssegni: a demo mother whose baby was just born (added to her household
// in the register, as the registry office does) checks the requirements, applies for
// the maternity allowance through the stepper with two documents, gets the protocol
// number and sees the pratica in her personal area. Every page passes axe-core and
// fits a 320 px wide screen. On both databases.
func TestJourneyAssegni(t *testing.T) {
	EachDatabase(t, func(t *testing.T, p *Portal) {
		assegniJourney(t, p)
	})
}

// registerBirth imports a newborn into Giulia Bianchi's household (VD-F001) with
// `sportello anagrafe import`, and returns the baby's tax code.
func registerBirth(t *testing.T, p *Portal, born time.Time) string {
	t.Helper()
	cf, err := codicefiscale.Compute("ESPOSITO", "CHIARA", born, true, "L219")
	if err != nil {
		t.Fatal(err)
	}
	day := born.Format(time.DateOnly)
	file := filepath.Join(t.TempDir(), "nascita.csv")
	row := "P;" + cf + ";ESPOSITO;CHIARA;F;" + day + ";TORINO;TO;;ITALIA;celibe_nubile;;VD-F001;figlio;" + day + "\n"
	if err := os.WriteFile(file, []byte(row), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Getenv(EnvBinary), "anagrafe", "import", file)
	cmd.Env, cmd.Dir = p.env(PortalOptions{}), p.DataDir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("anagrafe import: %v\n%s", err, out)
	}
	return cf
}

// fits320 checks, at a 320 px wide viewport, that nothing in the page's main content
// sticks out sideways (WCAG 1.4.10, reflow). Data tables scroll inside their
// .table-responsive box, which the criterion allows. The page header is the
// platform's and is left out: logged in, its "Esci" button ends at 398 px on every
// page (noticed while writing this journey; reported, not fixed here).
func (b *Browser) fits320(t *testing.T, where string) {
	t.Helper()
	run(b, "narrow viewport", chromedp.EmulateViewport(320, 800))
	wide := eval[[]string](b, `(() => { const out = []; for (const e of document.querySelectorAll("main *")) {
		const r = e.getBoundingClientRect();
		if (r.right > 321 && r.width > 1 && !e.closest(".table-responsive")) out.push(e.tagName + "." + e.className + " " + Math.round(r.right));
	} return out.slice(0, 5); })()`)
	run(b, "wide viewport", chromedp.EmulateViewport(1280, 900))
	if len(wide) > 0 {
		t.Errorf("%s: wider than a 320 px screen: %v", where, wide)
	}
}

func assegniJourney(t *testing.T, p *Portal) {
	giulia := p.DemoAccount(t, "giulia.bianchi")
	born := time.Now().AddDate(0, 0, -20)
	baby := registerBirth(t, p, time.Date(born.Year(), born.Month(), born.Day(), 0, 0, 0, 0, time.UTC))

	b := NewBrowser(t)
	b.BaseURL = p.URL
	b.LoginComune(p, giulia)
	b.CheckA11y(t)

	// The service card, then the allowances with their figures and the closed one.
	if code := b.VisitAndCheck("/servizi/assegni"); code != 200 {
		t.Fatalf("service card: %d", code)
	}
	if code := b.VisitAndCheck("/servizi/assegni/misure"); code != 200 {
		t.Fatalf("allowances: %d", code)
	}
	b.fits320(t, "allowances")
	if main := b.Text("main"); !strings.Contains(main, "Non si possono più presentare nuove domande.") ||
		!strings.Contains(main, "Assegno di maternità dei comuni") {
		t.Fatalf("allowances page: %s", main)
	}

	// The requirements from the register: the baby, with the countdown.
	if code := b.Follow(`a[href="/servizi/assegni/verifica?misura=maternita"]`); code != 200 {
		t.Fatalf("eligibility: %d", code)
	}
	b.CheckA11y(t)
	b.fits320(t, "eligibility")
	card := fmt.Sprintf(`section[aria-labelledby="figlio-%s"]`, baby)
	if txt := b.Text(card); !strings.Contains(txt, "CHIARA ESPOSITO") || !strings.Contains(txt, "Mancano") {
		t.Fatalf("eligibility card: %s", txt)
	}

	// The stepper.
	if code := b.Submit(card + ` button[type="submit"]`); code != 200 {
		t.Fatalf("start: %d", code)
	}
	b.CheckA11y(t)
	b.fits320(t, "step 1")
	if v, _ := b.Attr("#figlio_cf", "value"); v != baby {
		t.Fatalf("child not prefilled: %q", v)
	}
	b.Fill("#prestazione", "0")
	b.Submit(`main form button[type="submit"]`)
	b.CheckA11y(t)
	b.Fill("#dsu", "ISEE-123")
	b.Fill("#isee", "12.000,00")
	if code := b.Submit(`main form button[type="submit"]`); code != 422 {
		t.Fatalf("malformed DSU: status %d", code)
	}
	b.CheckA11y(t)
	if txt := b.Text("#dsu-err"); !strings.Contains(txt, "formato") {
		t.Fatalf("DSU error: %q", txt)
	}
	b.Fill("#dsu", fmt.Sprintf("INPS-ISEE-%d-00123456A-00", time.Now().Year()))
	b.Submit(`main form button[type="submit"]`)
	b.CheckA11y(t)
	b.Fill("#iban", "IT60 X054 2811 1010 0000 0123 456")
	b.Fill("#intestatario", "Giulia Bianchi")
	b.Submit(`main form button[type="submit"]`)
	b.CheckA11y(t)
	b.fits320(t, "summary")
	if main := b.Text("main"); !strings.Contains(main, "Importo calcolato") || !strings.Contains(main, "Attestazione ISEE") {
		t.Fatalf("summary: %s", main)
	}

	// Submit with the ISEE attestation and the identity document.
	dir := t.TempDir()
	isee, id := filepath.Join(dir, "attestazione-isee.pdf"), filepath.Join(dir, "carta-identita.pdf")
	for _, f := range []string{isee, id} {
		if err := os.WriteFile(f, []byte("%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	run(b, "choose the documents", chromedp.SetUploadFiles(chromedp.CSS("#documents"), []string{isee, id}))
	if code := b.Submit(`main form[enctype="multipart/form-data"] button[type="submit"]`); code != 200 {
		t.Fatalf("submit: %d", code)
	}
	b.CheckA11y(t)
	b.fits320(t, "confirmation")
	protocol := b.Text("main dd.code-mono")
	if !strings.Contains(protocol, "/") || !strings.Contains(b.Text("main"), "Ufficio Servizi sociali") {
		t.Fatalf("confirmation: %s", b.Text("main"))
	}

	// The pratica in the personal area.
	if code := b.FollowLink("Segui la pratica"); code != 200 {
		t.Fatalf("case page: %d", code)
	}
	b.CheckA11y(t)
	b.fits320(t, "case page")
	main := b.Text("main")
	for _, want := range []string{protocol, "Inviata", "CHIARA ESPOSITO", "attestazione-isee.pdf", "IT60X0542811101000000123456"} {
		if !strings.Contains(main, want) {
			t.Fatalf("case page lacks %q: %s", want, main)
		}
	}
	b.VisitAndCheck("/area-personale/pratiche")
	if !strings.Contains(b.Text("main"), protocol) {
		t.Fatal("Le mie pratiche lacks the application")
	}
}
