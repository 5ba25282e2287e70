package e2e

import (
	"bytes"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/comuni-italiani/sportello/app/stamp"
)

// Texts the certificate journeys expect (Italian, the default language).
const (
	certServiceCard    = "Certificati anagrafici e di stato civile"
	certFamilyType     = "Certificato di stato di famiglia"
	certPDFHeading     = "CERTIFICATO DI STATO DI FAMIGLIA"
	msgExemptionNeeded = "Scegli l'uso per cui è prevista l'esenzione."
	msgIssuedNext      = "Cosa succede adesso"
	msgIssuedFlash     = "Il certificato è stato rilasciato."
	msgStampOK         = "Il codice QR è firmato dal Comune e corrisponde a questo certificato."
	msgReasonRequired  = "Indica il motivo della revoca."
	msgRevoked         = "Il certificato è stato revocato."
	verdictValid       = "VALIDO"
	verdictRevoked     = "REVOCATO"
	verdictNotGenuine  = "NON AUTENTICO"
	revokeReason       = "Rilasciato per errore durante il collaudo: dati da ricontrollare."
)

// TestCertificateJourney is the acceptance test of the certificates service, on one
// portal per database: the demo citizen requests a "stato di famiglia" in bollo and
// downloads the PDF; a bank clerk scans its QR code (decoded from the rendered PDF,
// as a phone does) and types its code; the register officer finds it, sees the
// checks, and revokes it; the clerk sees REVOCATO and the citizen sees the revocation
// and the checks in her personal area; unknown codes and a tampered QR code are not
// VALIDO.
func TestCertificateJourney(t *testing.T) {
	EachDatabase(t, func(t *testing.T, p *Portal) {
		certificateJourney(t, p)
	})
}

// verifyPage is what the public verification page shows.
type verifyPage struct {
	Verdict  string  // the verdict in large words
	FontSize float64 // its font size, CSS pixels
	Class    string  // the class of the box around it
	Stamp    string  // what verify.js says of the QR code's signed payload ("" if nothing)
	Main     string  // the text of the main content
}

func certificateJourney(t *testing.T, p *Portal) {
	giulia := p.DemoAccount(t, "giulia.bianchi")
	officer := p.DemoAccount(t, "demo.anagrafe")
	holder := certHolderName(giulia.Name) // BIANCHI GIULIA, as certificates print names

	// 1. The citizen logs in and finds the service in the catalogue.
	cit := NewBrowser(t)
	cit.BaseURL = p.URL
	cit.LoginComune(p, giulia)
	cit.CheckA11y(t)
	if got := cit.Path(); got != "/area-personale" {
		t.Fatalf("the citizen lands at %s, want /area-personale", got)
	}
	cit.FollowLink("Tutti i servizi")
	cit.CheckA11y(t)
	if got := cit.Path(); got != "/servizi" {
		t.Fatalf("catalogue: at %s, want /servizi", got)
	}
	cit.FollowLink(certServiceCard)
	cit.CheckA11y(t)
	if got := cit.Path(); got != "/servizi/certificati" {
		t.Fatalf("service sheet: at %s, want /servizi/certificati", got)
	}
	if got := cit.Text("main h1"); got != certServiceCard {
		t.Errorf("service sheet: h1 %q, want %q", got, certServiceCard)
	}
	if code := cit.FollowLink("Vai al servizio"); code != http.StatusOK {
		t.Errorf("step 1: status %d, want 200", code)
	}
	cit.CheckA11y(t)
	if got := cit.Path(); got != "/servizi/certificati/nuovo" {
		t.Fatalf("the service starts at %s, want /servizi/certificati/nuovo", got)
	}
	checkStep(t, cit, 1)

	// Step 1: for whom. Herself, among the members of her household.
	self := ""
	for _, id := range eval[[]string](cit, `Array.from(document.querySelectorAll('input[name="persona"]'), e => e.id)`) {
		if label := cit.Text(`label[for="` + id + `"]`); strings.Contains(label, holder) {
			self = id
			if !strings.Contains(label, "(tu)") {
				t.Errorf("step 1: the citizen's own choice reads %q, want it marked %q", label, "(tu)")
			}
		}
	}
	if self == "" {
		t.Fatalf("step 1: no choice for %s among %q", holder, cit.Texts(`label[for^="persona-"]`))
	}
	if n := cit.Count(`input[name="persona"]`); n < 2 {
		t.Errorf("step 1: %d people offered, want the citizen and the members of her household", n)
	}
	cit.Click(`label[for="` + self + `"]`)
	cit.Submit(`form[action="/servizi/certificati/nuovo/tipo"] button[type="submit"]`)
	cit.CheckA11y(t)
	if got := cit.Path(); got != "/servizi/certificati/nuovo/tipo" {
		t.Fatalf("step 2: at %s, want /servizi/certificati/nuovo/tipo", got)
	}
	checkStep(t, cit, 2)

	// Step 2: the type, and the stamp duty. An exemption without its use is refused.
	typeRadio := `input[name="tipo"][value="stato_famiglia"]`
	typeID, ok := cit.Attr(typeRadio, "id")
	if !ok {
		t.Fatalf("step 2: no choice of the type stato_famiglia; offered %q", cit.Texts(`label[for^="tipo-"]`))
	}
	if got := cit.Text(`label[for="` + typeID + `"]`); got != certFamilyType {
		t.Errorf("step 2: the type's label is %q, want %q", got, certFamilyType)
	}
	cit.Click(`label[for="` + typeID + `"]`)
	cit.Click(`label[for="bollo-exempt"]`)
	nextStep := `form[action="/servizi/certificati/nuovo/riepilogo"] button[type="submit"]`
	if code := cit.Submit(nextStep); code != http.StatusUnprocessableEntity {
		t.Errorf("exemption without its use: status %d, want 422", code)
	}
	cit.CheckA11y(t)
	checkAccessLog(t, p, cit, http.StatusUnprocessableEntity)
	if got := cit.Text("#esenzione-err"); got != msgExemptionNeeded {
		t.Errorf("exemption without its use: field error %q, want %q", got, msgExemptionNeeded)
	}
	if v, _ := cit.Attr("#esenzione", "aria-invalid"); v != "true" {
		t.Errorf("exemption without its use: #esenzione has aria-invalid=%q, want true", v)
	}
	if ids, _ := cit.Attr("#esenzione", "aria-describedby"); !slices.Contains(strings.Fields(ids), "esenzione-err") {
		t.Errorf("exemption without its use: #esenzione aria-describedby=%q, want it to name #esenzione-err", ids)
	}
	if n := cit.Count(`#errors-summary a[href="#esenzione"]`); n != 1 {
		t.Errorf("exemption without its use: the error summary has %d links to #esenzione, want 1", n)
	}
	if f := cit.Focused(); f.ID != "errors-summary" {
		t.Errorf("exemption without its use: the focus is on %s, want the error summary", f)
	}
	if errs := cit.Texts(".invalid-feedback"); len(errs) != 1 {
		t.Errorf("exemption without its use: field errors %q, want only the exemption's", errs)
	}
	if !eval[bool](cit, `document.querySelector('`+typeRadio+`').checked && document.querySelector('#bollo-exempt').checked`) {
		t.Errorf("exemption without its use: the type and the exemption chosen are not kept")
	}

	// In bollo, then.
	cit.Click(`label[for="bollo-due"]`)
	if code := cit.Submit(nextStep); code != http.StatusOK {
		t.Errorf("step 3: status %d, want 200", code)
	}
	cit.CheckA11y(t)
	if got := cit.Path(); got != "/servizi/certificati/nuovo/riepilogo" {
		t.Fatalf("step 3: at %s (alerts %q), want /servizi/certificati/nuovo/riepilogo", got, cit.Texts(".alert"))
	}
	checkStep(t, cit, 3)
	summary := definitions(cit, "main dl")
	for label, want := range map[string]string{
		"Certificato":      certFamilyType,
		"Intestatario":     holder + " (" + giulia.FiscalCode + ")",
		"Imposta di bollo": "In bollo: 16,00 €",
	} {
		if got := normSpace(summary[label]); got != want {
			t.Errorf("summary: %s is %q, want %q", label, got, want)
		}
	}
	if got := summary["Validità"]; !strings.Contains(got, "Sei mesi") {
		t.Errorf("summary: validity %q, want six months", got)
	}

	// Confirm: the certificate is issued.
	if code := cit.Submit(`form[action="/servizi/certificati/nuovo"] button[type="submit"]`); code != http.StatusOK {
		t.Errorf("issued: status %d, want 200", code)
	}
	cit.CheckA11y(t)
	m := regexp.MustCompile(`^/servizi/certificati/emesso/([^/]+)$`).FindStringSubmatch(cit.Path())
	if m == nil {
		t.Fatalf("after the confirmation at %s (alerts %q), want /servizi/certificati/emesso/<code>", cit.Path(), cit.Texts(".alert"))
	}
	code := cit.Text("#cert-code")
	if norm, err := stamp.NormalizeCode(code); err != nil || norm != code {
		t.Fatalf("issued: the certificate number %q is not a well-formed verification code", code)
	}
	if pathCode, _ := url.PathUnescape(m[1]); pathCode != code {
		t.Errorf("issued: the page's address names %q, the page shows %q", pathCode, code)
	}
	t.Logf("issued certificate %s", code)
	if got := strings.Join(cit.Texts(".alert"), " | "); !strings.Contains(got, msgIssuedFlash) {
		t.Errorf("issued: messages %q, want %q", got, msgIssuedFlash)
	}
	if got := cit.Text("main .lead"); !strings.Contains(got, holder) || !strings.Contains(strings.ToLower(got), "stato di famiglia") {
		t.Errorf("issued: lead %q, want the type and %s", got, holder)
	}
	if h2 := cit.Texts("main h2"); !slices.Contains(h2, msgIssuedNext) {
		t.Errorf("issued: headings %q, want %q", h2, msgIssuedNext)
	}
	next := strings.Join(cit.Texts("main ul li"), "\n")
	for _, want := range []string{"Scarica il PDF", "marca da bollo", "/verifica", "Validità:", "autocertificazione"} {
		if !strings.Contains(next, want) {
			t.Errorf("issued: what happens next does not mention %q:\n%s", want, next)
		}
	}

	// The PDF, downloaded with the citizen's session.
	// The code's characters (Crockford base32, hyphens and the check symbols *~$=U) are
	// all allowed in a path: pages and the browser write it as it is.
	pdfPath := "/servizi/certificati/miei/" + code + "/certificato.pdf"
	if href, _ := cit.Attr("main a[download]", "href"); href != pdfPath {
		t.Errorf("issued: the download link is %q, want %q", href, pdfPath)
	}
	if got := FetchAnonymous(t, p.URL+pdfPath); got.Status == http.StatusOK || bytes.HasPrefix(got.Body, []byte("%PDF")) {
		t.Errorf("the PDF without a session: status %d, %d bytes: want no certificate", got.Status, len(got.Body))
	}
	dl := cit.Fetch(pdfPath)
	if dl.Status != http.StatusOK {
		t.Fatalf("PDF: status %d, want 200", dl.Status)
	}
	if ct := dl.Header.Get("Content-Type"); ct != "application/pdf" {
		t.Errorf("PDF: Content-Type %q, want application/pdf", ct)
	}
	if cd := dl.Header.Get("Content-Disposition"); !strings.HasPrefix(cd, "attachment") || !strings.Contains(cd, code) {
		t.Errorf("PDF: Content-Disposition %q, want an attachment named after the code", cd)
	}
	if !bytes.HasPrefix(dl.Body, []byte("%PDF-")) {
		t.Fatalf("PDF: the body is not a PDF (%d bytes: %q)", len(dl.Body), abbrev(string(dl.Body)))
	}
	pdf := SaveOut(t, "certificate.pdf", dl.Body)
	text := PDFText(t, pdf, 0)
	for _, want := range []string{certPDFHeading, holder, giulia.FiscalCode, code} {
		if !strings.Contains(text, want) {
			t.Errorf("PDF text has no %q:\n%s", want, text)
		}
	}
	pages := PDFPages(t, pdf)
	t.Logf("PDF: %d bytes, %d pages (%s)", len(dl.Body), pages, pdf)

	// 2. The QR code, read from page 1 at 150 dpi as a phone's camera would. Each page
	// is rendered (for a person to look at, too); the stamp belongs on page 1, with
	// the text it certifies.
	qrURL, qrPage := "", 0
	for pg := 1; pg <= pages; pg++ {
		png := RenderPDFPage(t, pdf, pg, 150)
		t.Logf("PDF page %d rendered at 150 dpi: %s", pg, png)
		if u, err := DecodeQRFile(png); err == nil && qrPage == 0 {
			qrURL, qrPage = u, pg
		} else if pg == 1 && err != nil {
			t.Logf("PDF page 1: %v", err)
		}
	}
	if qrPage == 0 {
		t.Fatalf("PDF: no readable QR code on any of its %d pages", pages)
	}
	if qrPage != 1 {
		has := "neither the QR code nor the verification code"
		if strings.Contains(PDFText(t, pdf, 1), code) {
			has = "no QR code (only the verification code in text)"
		}
		t.Errorf("PDF: the stamp (QR code) is alone on page %d of %d; page 1, with all the certified text, has %s. "+
			"Given page 1 alone a reader cannot verify the certificate, and the stamp's page could be attached to another text",
			qrPage, pages, has)
	}
	wantPrefix := p.URL + "/v/" + url.PathEscape(stamp.CompactCode(code)) + "#"
	if !strings.HasPrefix(qrURL, wantPrefix) || len(qrURL) == len(wantPrefix) {
		t.Fatalf("the QR code holds %q, want %s<signed payload>", qrURL, wantPrefix)
	}
	if !strings.Contains(text, strings.TrimSuffix(wantPrefix, "#")) {
		t.Errorf("PDF: the verification address %s is not printed in clear", strings.TrimSuffix(wantPrefix, "#"))
	}

	// The bank clerk, in a fresh browser without cookies, opens the QR code's URL.
	clerk := NewBrowser(t)
	clerk.BaseURL = p.URL
	verifications := 0 // checks of the certificate, each logged by the portal
	if code := clerk.Visit(qrURL); code != http.StatusOK {
		t.Errorf("verification by QR code: status %d, want 200", code)
	}
	verifications++
	v := readVerifyPage(t, clerk, true)
	clerk.CheckA11y(t)
	checkValid(t, "QR code", v, holder, giulia.FiscalCode, code)
	if v.Stamp != msgStampOK {
		t.Errorf("verification by QR code: the check of the signed payload says %q, want %q", v.Stamp, msgStampOK)
	}

	// 3. The code typed by hand, lower case with spaces.
	clerk.VisitAndCheck("/verifica")
	typed := strings.ToLower(strings.ReplaceAll(code, "-", " "))
	clerk.Fill("#codice", typed)
	if code := clerk.Submit(`form[action="/verifica"] button[type="submit"]`); code != http.StatusOK {
		t.Errorf("typed code %q: status %d, want 200", typed, code)
	}
	verifications++
	v = readVerifyPage(t, clerk, false)
	clerk.CheckA11y(t)
	if got, want := clerk.Path(), "/verifica/"+code; got != want {
		if u, _ := url.PathUnescape(got); u != want {
			t.Errorf("typed code %q: at %s, want %s", typed, got, want)
		}
	}
	checkValid(t, "typed code", v, holder, giulia.FiscalCode, code)

	// 6 (before the revocation, or REVOCATO would hide the point). A QR code whose
	// signed payload has one character changed must not say VALIDO: that is a forged
	// certificate carrying a genuine code.
	tampered := tamperFragment(t, qrURL)
	clerk.Visit(tampered)
	verifications++ // the server never sees the fragment: it logs a check by QR code
	v = readVerifyPage(t, clerk, true)
	clerk.CheckA11y(t)
	t.Logf("QR code with one character of the payload changed: the page says %q in large words (box %q), and the payload check says %q",
		v.Verdict, v.Class, v.Stamp)
	if v.Verdict == verdictValid {
		t.Errorf("QR code of %s with one character of its signed payload changed: the page says %q in large words "+
			"(box %q, \"il certificato è autentico\"), and only the note below says %q. "+
			"A forged certificate that carries a genuine code and a forged stamp is shown as VALIDO",
			code, v.Verdict, v.Class, v.Stamp)
	}
	if v.Stamp == msgStampOK {
		t.Errorf("a QR code with a changed payload: the payload check says %q", v.Stamp)
	}

	// An unknown, well-formed code.
	unknown, err := stamp.NewCode()
	if err != nil {
		t.Fatal(err)
	}
	if code := clerk.Visit("/verifica/" + url.PathEscape(unknown)); code != http.StatusNotFound {
		t.Errorf("unknown code %s: status %d, want 404", unknown, code)
	}
	v = readVerifyPage(t, clerk, false)
	clerk.CheckA11y(t)
	if v.Verdict != verdictNotGenuine {
		t.Errorf("unknown code %s: the page says %q, want %q", unknown, v.Verdict, verdictNotGenuine)
	}
	if strings.Contains(v.Main, holder) {
		t.Errorf("unknown code %s: the page shows the data of %s", unknown, holder)
	}

	// 4. The register officer finds the certificate from the back-office menu.
	staff := NewBrowser(t)
	staff.BaseURL = p.URL
	staff.LoginComune(p, officer)
	staff.CheckA11y(t)
	if got := staff.Path(); got != "/backoffice" {
		t.Fatalf("demo.anagrafe lands at %s, want /backoffice", got)
	}
	const staffNav = "Certificati rilasciati"
	if menu := staff.Texts(`main nav a`); !slices.Contains(menu, staffNav) {
		t.Fatalf("the back-office menu of demo.anagrafe is %q, want %q", menu, staffNav)
	}
	staff.Follow(`main nav a[href="/backoffice/certificati/"]`)
	staff.CheckA11y(t)
	if got := staff.Path(); got != "/backoffice/certificati/" {
		t.Fatalf("back-office certificates: at %s, want /backoffice/certificati/", got)
	}
	staff.Fill("#s-codice", code)
	staff.Submit(`form[action="/backoffice/certificati/"] button[type="submit"]`)
	staff.CheckA11y(t)
	if got := staff.Text("main"); !strings.Contains(got, "1 certificato trovato") {
		t.Errorf("search by code: no %q in the page", "1 certificato trovato")
	}
	if rows := staff.Texts("main table tbody tr"); len(rows) != 1 || !strings.Contains(rows[0], holder) {
		t.Errorf("search by code: rows %q, want the one certificate of %s", rows, holder)
	}
	staff.FollowLink(code)
	staff.CheckA11y(t)
	if got, _ := url.PathUnescape(staff.Path()); got != "/backoffice/certificati/"+code {
		t.Fatalf("certificate page: at %s, want /backoffice/certificati/%s", got, code)
	}
	if got := staff.Text("main h1"); got != certFamilyType {
		t.Errorf("certificate page: h1 %q, want %q", got, certFamilyType)
	}
	history := staff.Texts(`section[aria-labelledby="verif-h"] tbody tr`)
	if len(history) != verifications {
		t.Errorf("certificate page: %d verifications in the history %q, want %d", len(history), history, verifications)
	}
	byChannel := map[string]int{}
	for _, row := range history {
		for _, ch := range []string{"Codice QR", "Codice digitato"} {
			if strings.Contains(row, ch) {
				byChannel[ch]++
			}
		}
	}
	if byChannel["Codice QR"] < 1 || byChannel["Codice digitato"] != 1 {
		t.Errorf("certificate page: the history %q misses the checks just made (by QR code and by typed code)", history)
	}

	// Revoke: first without a reason.
	revoke := `form[action$="/revoca"] button[type="submit"]`
	if code := staff.Submit(revoke); code != http.StatusUnprocessableEntity {
		t.Errorf("revocation without a reason: status %d, want 422", code)
	}
	staff.CheckA11y(t)
	checkAccessLog(t, p, staff, http.StatusUnprocessableEntity)
	if got := staff.Text("#motivo-err"); got != msgReasonRequired {
		t.Errorf("revocation without a reason: field error %q, want %q", got, msgReasonRequired)
	}
	if v, _ := staff.Attr("#motivo", "aria-invalid"); v != "true" {
		t.Errorf("revocation without a reason: #motivo has aria-invalid=%q, want true", v)
	}
	if ids, _ := staff.Attr("#motivo", "aria-describedby"); !slices.Contains(strings.Fields(ids), "motivo-err") {
		t.Errorf("revocation without a reason: #motivo aria-describedby=%q, want it to name #motivo-err", ids)
	}
	if got := staff.Text("main .badge"); got != "Valido" {
		t.Errorf("revocation without a reason: the certificate's status is %q, want it still %q", got, "Valido")
	}
	staff.Fill("#motivo", revokeReason)
	staff.Click(`label[for="conferma"]`) // revoking asks for an explicit confirmation
	if code := staff.Submit(revoke); code != http.StatusOK {
		t.Errorf("revocation: status %d, want 200", code)
	}
	staff.CheckA11y(t)
	if got, _ := url.PathUnescape(staff.Path()); got != "/backoffice/certificati/"+code {
		t.Errorf("after the revocation at %s, want the certificate page", got)
	}
	if got := strings.Join(staff.Texts(".alert"), " | "); !strings.Contains(got, msgRevoked) {
		t.Errorf("revocation: messages %q, want %q", got, msgRevoked)
	}
	if got := staff.Text("main .badge"); got != "Revocato" {
		t.Errorf("revocation: the certificate's status is %q, want %q", got, "Revocato")
	}
	if got := definitions(staff, "main dl")["Motivo della revoca"]; got != revokeReason {
		t.Errorf("revocation: the reason shown is %q, want %q", got, revokeReason)
	}
	if n := staff.Count(revoke); n != 0 {
		t.Errorf("revocation: the revoked certificate still offers the revoke button")
	}

	// 5. The clerk opens the same QR code again: REVOCATO.
	if code := clerk.Visit(qrURL); code != http.StatusOK {
		t.Errorf("revoked, by QR code: status %d, want 200", code)
	}
	verifications++
	v = readVerifyPage(t, clerk, true)
	clerk.CheckA11y(t)
	if v.Verdict != verdictRevoked {
		t.Errorf("revoked, by QR code: the page says %q, want %q", v.Verdict, verdictRevoked)
	}
	if !strings.Contains(v.Class, "alert-danger") {
		t.Errorf("revoked, by QR code: the verdict's box has class %q, want alert-danger", v.Class)
	}
	if !strings.Contains(v.Main, "Revocato il ") {
		t.Errorf("revoked, by QR code: the page does not say when it was revoked")
	}

	// The citizen's personal area shows it revoked, with its checks.
	cit.VisitAndCheck("/area-personale")
	item := ""
	for _, li := range cit.Texts("main li.list-group-item") {
		if strings.HasPrefix(li, certFamilyType) {
			item = li
		}
	}
	wantCount := fmt.Sprintf("verificato %d volte", verifications)
	switch {
	case item == "":
		t.Errorf("personal area: no %q among %q", certFamilyType, cit.Texts("main li.list-group-item"))
	case !strings.Contains(item, "Revocato"):
		t.Errorf("personal area: the certificate reads %q, want it %q", item, "Revocato")
	case !strings.Contains(item, wantCount):
		t.Errorf("personal area: the certificate reads %q, want %q", item, wantCount)
	}
	cit.Follow(`main a[href="/servizi/certificati/miei/` + code + `"]`)
	cit.CheckA11y(t)
	if got := cit.Text("main .badge"); got != "Revocato" {
		t.Errorf("the citizen's certificate page: status %q, want %q", got, "Revocato")
	}
	wantSentence := "Il certificato è stato verificato " + strconv.Itoa(verifications) + " volte."
	if got := cit.Text("main"); !strings.Contains(got, wantSentence) {
		t.Errorf("the citizen's certificate page: no %q", wantSentence)
	}
	if rows := cit.Count(`section[aria-labelledby="verif-h"] tbody tr`); rows != verifications {
		t.Errorf("the citizen's certificate page: %d verifications listed, want %d", rows, verifications)
	}

	// 7. The PDF as a person sees it: its pages were rendered above, for a look.
}

// checkStep checks that the stepper marks step n of 3 as the current one.
func checkStep(t *testing.T, b *Browser, n int) {
	t.Helper()
	cur := b.Texts(`nav.steppers [aria-current="step"]`)
	if len(cur) != 1 || !strings.HasPrefix(cur[0], strconv.Itoa(n)+".") {
		t.Errorf("step %d: the stepper marks %q as current", n, cur)
	}
	if got := b.Text("nav.steppers .visually-hidden"); got != fmt.Sprintf("Passaggio %d di 3", n) {
		t.Errorf("step %d: the stepper says %q to screen readers", n, got)
	}
}

// readVerifyPage reads the verification page; with payload, it first waits for
// verify.js to report on the QR code's signed payload.
func readVerifyPage(t *testing.T, b *Browser, payload bool) verifyPage {
	t.Helper()
	if payload {
		b.WaitVisible("#stamp-check p")
	}
	return eval[verifyPage](b, `(() => {
		const v = document.querySelector('#verdict .verify-verdict'), s = document.querySelector('#stamp-check');
		return {Verdict: v ? v.innerText.trim() : '', FontSize: v ? parseFloat(getComputedStyle(v).fontSize) : 0,
			Class: v ? v.parentElement.className : '', Stamp: s ? s.innerText.trim() : '',
			Main: document.querySelector('main').innerText};
	})()`)
}

// checkValid checks a VALIDO verification page with the holder's data.
func checkValid(t *testing.T, how string, v verifyPage, holder, cf, code string) {
	t.Helper()
	if v.Verdict != verdictValid {
		t.Errorf("verification by %s: the page says %q, want %q", how, v.Verdict, verdictValid)
	}
	if v.FontSize < 28 {
		t.Errorf("verification by %s: the verdict is %gpx high, want large words (at least 28px)", how, v.FontSize)
	}
	if !strings.Contains(v.Class, "alert-success") {
		t.Errorf("verification by %s: the verdict's box has class %q, want alert-success", how, v.Class)
	}
	for _, want := range []string{holder, cf, code, certFamilyType} {
		if !strings.Contains(v.Main, want) {
			t.Errorf("verification by %s: the page does not show %q", how, want)
		}
	}
}

// definitions returns the dt/dd pairs of the first definition list matching sel.
func definitions(b *Browser, sel string) map[string]string {
	b.t.Helper()
	return eval[map[string]string](b, `(dl => { const out = {}; if (!dl) return out;
		for (const dt of dl.querySelectorAll('dt')) { const dd = dt.nextElementSibling;
			if (dd && dd.tagName === 'DD') out[dt.innerText.trim()] = dd.innerText.trim(); }
		return out; })(document.querySelector(`+jsString(sel)+`))`)
}

// tamperFragment changes one character in the middle of the URL's fragment (the
// signed payload, base64url) to another base64url character.
func tamperFragment(t *testing.T, u string) string {
	t.Helper()
	i := strings.IndexByte(u, '#')
	if i < 0 || len(u)-i < 8 {
		t.Fatalf("the QR code's URL %q has no payload to tamper with", u)
	}
	j := i + (len(u)-i)/2
	c := byte('A')
	if u[j] == 'A' {
		c = 'B'
	}
	return u[:j] + string(c) + u[j+1:]
}

// certHolderName writes a display name ("Giulia Bianchi") as certificates print
// it: "BIANCHI GIULIA" (surname first, upper case).
func certHolderName(name string) string {
	f := strings.Fields(strings.ToUpper(name))
	if len(f) < 2 {
		return strings.Join(f, " ")
	}
	return strings.Join(append(f[len(f)-1:], f[:len(f)-1]...), " ")
}

func normSpace(s string) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(s, "\u00a0", " ")), " ")
}
