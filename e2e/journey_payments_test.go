package e2e

import (
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// Texts the payments journey expects (Italian, the default language).
const (
	payStatePaid      = "Pagato"
	payStateToPay     = "Da pagare"
	payStateCancelled = "Annullato"
	payMsgFailed      = "Il pagamento non è riuscito"
	payMsgPaid        = "Pagamento riuscito"
	payReceiptLabel   = "Identificativo della ricevuta"
	payCancelReason   = "Richiesta duplicata: il certificato è già stato rilasciato con un altro pagamento."
)

// TestJourneyPayments is the browser journey of pagoPA payments, on one portal per
// database with the development pagoPA and the marca da bollo digitale switched on
// (modules.settings.certificati.bollo_province): the demo citizen asks a certificate
// in bollo and is sent to pay; a failed payment at the (development) Checkout issues
// nothing and she can retry; paid, the certificate is issued and its PDF and public
// verification page give pagoPA's receipt identifier; "I miei pagamenti" lists the
// states; the accounting office sees the list, downloads the day's reconciliation
// CSV with the paid notice and cancels an unpaid position (refused without a
// reason). Every page is axe-checked and laid out at 320 px (CheckA11y).
func TestJourneyPayments(t *testing.T) {
	Require(t)
	cfg := filepath.Join(t.TempDir(), "sportello.yaml")
	if err := os.WriteFile(cfg, []byte("modules:\n  settings:\n    certificati:\n      bollo_province: TO\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, db := range []struct {
		name     string
		postgres bool
	}{{"sqlite", false}, {"postgres", true}} {
		t.Run(db.name, func(t *testing.T) {
			t.Parallel()
			p := StartPortal(t, PortalOptions{Postgres: db.postgres, Env: []string{"SPORTELLO_CONFIG=" + cfg}})
			paymentsJourney(t, p)
		})
	}
}

var paymentPathRE = regexp.MustCompile(`^/area-personale/pagamenti/([^/]+)$`)

// askCertificateInBollo goes through the three steps of a certificate in bollo for
// the citizen herself and returns the payment position's id the portal sends her to.
func askCertificateInBollo(t *testing.T, cit *Browser, holder, typ string) string {
	t.Helper()
	cit.VisitAndCheck("/servizi/certificati/nuovo")
	self := ""
	for _, id := range eval[[]string](cit, `Array.from(document.querySelectorAll('input[name="persona"]'), e => e.id)`) {
		if strings.Contains(cit.Text(`label[for="`+id+`"]`), holder) {
			self = id
		}
	}
	if self == "" {
		t.Fatalf("step 1: no choice for %s", holder)
	}
	cit.Click(`label[for="` + self + `"]`)
	cit.Submit(`form[action="/servizi/certificati/nuovo/tipo"] button[type="submit"]`)
	cit.CheckA11y(t)
	typeID, ok := cit.Attr(`input[name="tipo"][value="`+typ+`"]`, "id")
	if !ok {
		t.Fatalf("step 2: no type %s", typ)
	}
	cit.Click(`label[for="` + typeID + `"]`)
	cit.Click(`label[for="bollo-due"]`)
	cit.Submit(`form[action="/servizi/certificati/nuovo/riepilogo"] button[type="submit"]`)
	cit.CheckA11y(t)
	if got := cit.Path(); got != "/servizi/certificati/nuovo/riepilogo" {
		t.Fatalf("step 3: at %s (alerts %q)", got, cit.Texts(".alert"))
	}
	if code := cit.Submit(`form[action="/servizi/certificati/nuovo"] button[type="submit"]`); code != http.StatusOK {
		t.Errorf("confirmation: status %d, want 200 after the redirect", code)
	}
	cit.CheckA11y(t)
	m := paymentPathRE.FindStringSubmatch(cit.Path())
	if m == nil {
		t.Fatalf("a certificate in bollo leads to %s (alerts %q), want the payment page", cit.Path(), cit.Texts(".alert"))
	}
	if main := cit.Text("main"); !strings.Contains(main, "marca da bollo") || !strings.Contains(main, "16,00") {
		t.Errorf("payment page: no marca da bollo of 16,00 €:\n%s", main)
	}
	return m[1]
}

// myCertificates returns the codes of the citizen's certificates listed at
// /servizi/certificati/miei.
func myCertificates(t *testing.T, cit *Browser) []string {
	t.Helper()
	cit.VisitAndCheck("/servizi/certificati/miei")
	return cit.Texts("main table tbody td .code-mono")
}

// payAtDevCheckout presses "Paga online", plays the payer on the development
// Checkout page with outcome ("esito-ok", "esito-ko") and returns to the portal.
func payAtDevCheckout(t *testing.T, cit *Browser, posID, outcome string) {
	t.Helper()
	cit.VisitAndCheck("/area-personale/pagamenti/" + posID)
	cit.Submit(`form[action="/area-personale/pagamenti/` + posID + `/paga"] button[type="submit"]`)
	cit.CheckA11y(t)
	if !strings.HasPrefix(cit.Path(), "/_pagopa-dev/pay/") {
		t.Fatalf("Paga online leads to %s, want the development Checkout", cit.Path())
	}
	if got := cit.Text("main"); !strings.Contains(got, "16,00") || !strings.Contains(got, "Ambiente di prova") {
		t.Errorf("development Checkout: %q", got)
	}
	cit.Click(`label[for="` + outcome + `"]`)
	if code := cit.Submit(`main form button[type="submit"]`); code != http.StatusOK {
		t.Errorf("return from Checkout: status %d", code)
	}
	cit.CheckA11y(t)
	if got, want := cit.Path(), "/area-personale/pagamenti/"+posID+"/esito/"; !strings.HasPrefix(got, want) {
		t.Fatalf("Checkout sends back to %s, want %s...", got, want)
	}
}

func paymentsJourney(t *testing.T, p *Portal) {
	giulia := p.DemoAccount(t, "giulia.bianchi")
	officer := p.DemoAccount(t, "demo.payments")
	holder := certHolderName(giulia.Name)

	cit := NewBrowser(t)
	cit.BaseURL = p.URL
	cit.LoginComune(p, giulia)
	cit.CheckA11y(t)
	before := myCertificates(t, cit)

	// 1. A certificate in bollo: nothing issued yet, a position to pay.
	posID := askCertificateInBollo(t, cit, holder, "stato_famiglia")
	if got := normSpace(definitions(cit, "main dl")["Stato"]); got != payStateToPay {
		t.Errorf("new position: state %q, want %q", got, payStateToPay)
	}
	cit.Screenshot("payment-page")

	// 2. The payment fails: nothing issued, the citizen can retry.
	payAtDevCheckout(t, cit, posID, "esito-ko")
	if got := strings.Join(cit.Texts(".alert"), " | "); !strings.Contains(got, payMsgFailed) {
		t.Errorf("after a failed payment: messages %q, want %q", got, payMsgFailed)
	}
	if n := cit.Count(`form[action$="/paga"] button[type="submit"]`); n != 1 {
		t.Errorf("after a failed payment: %d pay buttons, want 1 (retry)", n)
	}
	if after := myCertificates(t, cit); len(after) != len(before) {
		t.Fatalf("a failed payment issued a certificate: %q then %q", before, after)
	}

	// 3. Paid: the certificate is issued with the receipt's identifier.
	payAtDevCheckout(t, cit, posID, "esito-ok")
	if got := strings.Join(cit.Texts(".alert"), " | "); !strings.Contains(got, payMsgPaid) {
		t.Errorf("after the payment: messages %q, want %q", got, payMsgPaid)
	}
	dl := definitions(cit, "main dl")
	receipt := normSpace(dl[payReceiptLabel])
	if got := normSpace(dl["Stato"]); got != payStatePaid || receipt == "" {
		t.Fatalf("after the payment: state %q, receipt %q", got, receipt)
	}
	if n := cit.Count(`form[action$="/paga"]`); n != 0 {
		t.Errorf("a paid position still offers to pay (%d forms)", n)
	}
	t.Logf("paid, receipt %s", receipt)
	after := myCertificates(t, cit)
	if len(after) != len(before)+1 {
		t.Fatalf("after the payment: certificates %q, want one more than %q", after, before)
	}
	code := ""
	for _, c := range after {
		if !strings.Contains(strings.Join(before, " "), c) {
			code = c
		}
	}
	dlPDF := cit.Fetch("/servizi/certificati/miei/" + code + "/certificato.pdf")
	if dlPDF.Status != http.StatusOK {
		t.Fatalf("PDF: status %d", dlPDF.Status)
	}
	text := normSpace(PDFText(t, SaveOut(t, "certificate-in-bollo.pdf", dlPDF.Body), 0))
	if !strings.Contains(text, "marca da bollo digitale") || !strings.Contains(text, receipt) {
		t.Errorf("the PDF does not say the duty was paid with receipt %s:\n%s", receipt, text)
	}
	clerk := NewBrowser(t)
	clerk.BaseURL = p.URL
	clerk.VisitAndCheck("/verifica/" + code)
	if got := clerk.Text("main"); !strings.Contains(got, receipt) {
		t.Errorf("the verification page does not give the receipt %s:\n%s", receipt, got)
	}

	// 4. A second certificate in bollo, left unpaid.
	openID := askCertificateInBollo(t, cit, holder, "residenza")
	cit.VisitAndCheck("/area-personale/pagamenti")
	cit.Screenshot("my-payments")
	mine := tableRows(cit)
	if got := mine["/area-personale/pagamenti/"+posID]; !strings.Contains(got, payStatePaid) {
		t.Errorf("I miei pagamenti: the paid position reads %q, want %q", got, payStatePaid)
	}
	if got := mine["/area-personale/pagamenti/"+openID]; !strings.Contains(got, payStateToPay) {
		t.Errorf("I miei pagamenti: the open position reads %q, want %q", got, payStateToPay)
	}

	// 5. The accounting office: the list, the day's reconciliation, a cancellation.
	off := NewBrowser(t)
	off.BaseURL = p.URL
	off.LoginComune(p, officer)
	off.CheckA11y(t)
	off.VisitAndCheck("/backoffice/pagamenti")
	rows := off.Count("main table tbody tr")
	if rows < 2 {
		t.Errorf("staff list: %d rows, want both positions", rows)
	}
	paidNotice, openNotice := "", ""
	for _, r := range eval[[][]string](off, `Array.from(document.querySelectorAll('main table tbody tr'), tr =>
		[tr.querySelector('a').getAttribute('href'), tr.querySelector('a').innerText.trim(), tr.innerText])`) {
		switch {
		case strings.HasSuffix(r[0], "/"+posID):
			paidNotice = r[1]
			if !strings.Contains(r[2], payStatePaid) {
				t.Errorf("staff list: the paid position reads %q", r[2])
			}
		case strings.HasSuffix(r[0], "/"+openID):
			openNotice = r[1]
		}
	}
	if paidNotice == "" || openNotice == "" {
		t.Fatalf("staff list: no row for position %s or %s", posID, openID)
	}
	off.VisitAndCheck("/backoffice/pagamenti?stato=paid")
	if got := off.Text("main table"); !strings.Contains(got, paidNotice) {
		t.Errorf("filter paid: %q lacks %s", got, paidNotice)
	}
	day := time.Now().In(rome()).Format("2006-01-02")
	if v, _ := off.Attr("#giorno", "value"); v != day {
		t.Errorf("reconciliation day defaults to %q, want today %s", v, day)
	}
	csv := off.Fetch("/backoffice/pagamenti/riconciliazione.csv?giorno=" + day)
	if csv.Status != http.StatusOK || !strings.HasPrefix(csv.Header.Get("Content-Type"), "text/csv") {
		t.Fatalf("reconciliation: status %d, %s", csv.Status, csv.Header.Get("Content-Type"))
	}
	if body := string(csv.Body); !strings.Contains(body, paidNotice) || !strings.Contains(body, receipt) || !strings.Contains(body, ";16,00;1600;") {
		t.Errorf("reconciliation of %s lacks the paid notice %s with receipt %s:\n%s", day, paidNotice, receipt, body)
	}
	if strings.Contains(string(csv.Body), openNotice) {
		t.Errorf("reconciliation: the unpaid notice %s is in it", openNotice)
	}
	SaveOut(t, "riconciliazione.csv", csv.Body)

	off.VisitAndCheck("/backoffice/pagamenti/" + openID)
	cancel := `form[action="/backoffice/pagamenti/` + openID + `/annulla"] button[type="submit"]`
	if code := off.Submit(cancel); code != http.StatusUnprocessableEntity {
		t.Errorf("cancel without a reason: status %d, want 422", code)
	}
	off.CheckA11y(t)
	if got := off.Text("#motivo-err"); !strings.Contains(got, "motivo") {
		t.Errorf("cancel without a reason: field error %q", got)
	}
	off.Fill("#motivo", payCancelReason)
	off.Submit(cancel)
	off.CheckA11y(t)
	if got := normSpace(definitions(off, "main dl")["Stato"]); got != payStateCancelled {
		t.Errorf("after the cancellation: state %q, want %q", got, payStateCancelled)
	}
	off.Screenshot("staff-cancelled")

	// 6. The citizen sees the cancellation and its reason; nothing left to pay.
	cit.VisitAndCheck("/area-personale/pagamenti")
	mine = tableRows(cit)
	if got := mine["/area-personale/pagamenti/"+openID]; !strings.Contains(got, payStateCancelled) {
		t.Errorf("I miei pagamenti after the cancellation: the position reads %q, want %q", got, payStateCancelled)
	}
	if got := mine["/area-personale/pagamenti/"+posID]; !strings.Contains(got, payStatePaid) {
		t.Errorf("I miei pagamenti after the cancellation: the paid position reads %q", got)
	}
	cit.VisitAndCheck("/area-personale/pagamenti/" + openID)
	if got := cit.Text("main"); !strings.Contains(got, payCancelReason) || cit.Count(`form[action$="/paga"]`) != 0 {
		t.Errorf("cancelled position: %q", got)
	}
}

// tableRows maps the link of each row of the main table to the row's text.
func tableRows(b *Browser) map[string]string {
	b.t.Helper()
	return eval[map[string]string](b, `(() => { const out = {};
		for (const tr of document.querySelectorAll('main table tbody tr')) { const a = tr.querySelector('a');
			if (a) out[a.getAttribute('href')] = tr.innerText; }
		return out; })()`)
}
