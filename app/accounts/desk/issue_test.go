package desk_test

import (
	"context"
	"fmt"
	"image/png"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/comuni-italiani/sportello/app/accounts"
	"github.com/comuni-italiani/sportello/app/accounts/desk"
	"github.com/comuni-italiani/sportello/app/anagrafe"
	"github.com/comuni-italiani/sportello/app/apptest"
	"github.com/comuni-italiani/sportello/app/audit"
	"github.com/comuni-italiani/sportello/app/enti"
	"github.com/comuni-italiani/sportello/app/roles"
	"github.com/comuni-italiani/sportello/app/web"
)

func operator(s *apptest.Server) *apptest.Client {
	op := s.Client()
	s.LoginAs(op, web.Viewer{Kind: "staff", ID: "op1", DisplayName: "Olga Pace", Roles: []string{roles.URP}})
	return op
}

// register registers the citizen of citizenForm and returns the account page's path.
func register(t *testing.T, op *apptest.Client) string {
	t.Helper()
	r := op.PostForm("/backoffice/credenziali/nuovo", citizenForm())
	if r.Status != http.StatusSeeOther || !accountPath.MatchString(r.Header.Get("Location")) {
		t.Fatalf("register: %d %s", r.Status, r.Header.Get("Location"))
	}
	return r.Header.Get("Location")
}

// The tax code typed in the lookup form (a plain GET) prefills the names and the birth
// date of the person in the comune's register; an unknown or malformed one says so.
func TestDeskPrefillFromRegister(t *testing.T) {
	eachPortal(t, func(t *testing.T, s *apptest.Server, _ *deskModule) {
		ctx := s.Ctx(context.Background())
		p := anagrafe.Person{FiscalCode: "DLCGLI85C52H501W", Surname: "DE LUCA", Name: "GIULIA", Sex: "F",
			BirthDate: time.Date(1985, 3, 12, 0, 0, 0, 0, time.UTC), BirthComune: "ROMA", BirthProvince: "RM",
			Citizenship: "ITALIA", CivilStatus: "nubile", UpdatedAt: time.Now()}
		if err := enti.For(ctx, s.DB).Create(&p).Error; err != nil {
			t.Fatal(err)
		}
		op := operator(s)
		r := op.Get("/backoffice/credenziali/anagrafe?cf=dlcgli85c52h501w")
		for _, want := range []string{`id="lookup-found"`, `value="DLCGLI85C52H501W"`, `value="Giulia"`, `value="De Luca"`, `value="1985-03-12"`} {
			if r.Status != http.StatusOK || !strings.Contains(r.Body, want) {
				t.Errorf("lookup of a registered person: %d, page lacks %s", r.Status, want)
			}
		}
		noMissingKeys(t, r)
		if ev, _, err := audit.List(ctx, s.DB, audit.Filter{Action: desk.ActRegisterLookup, SubjectCF: "DLCGLI85C52H501W"}); err != nil ||
			len(ev) != 1 || ev[0].ActorID != "op1" || ev[0].IP == "" {
			t.Errorf("the lookup is not in the audit log: %+v %v", ev, err)
		}
		// A tax code that already has an account here: a link to it.
		loc := register(t, op)
		if r := op.Get("/backoffice/credenziali/anagrafe?cf=RSSMRA80A01H501U"); !strings.Contains(r.Body, `id="lookup-existing"`) ||
			!strings.Contains(r.Body, `href="`+loc+`"`) {
			t.Errorf("lookup of a tax code with an account: %d", r.Status)
		}
		r = op.Get("/backoffice/credenziali/anagrafe?cf=RSSMRA80A01H501U")
		if r.Status != http.StatusOK || !strings.Contains(r.Body, "non è nell&#39;anagrafe del Comune") || strings.Contains(r.Body, `id="lookup-found"`) {
			t.Errorf("lookup of an unknown tax code: %d", r.Status)
		}
		r = op.Get("/backoffice/credenziali/anagrafe?cf=RSSMRA80A01H501X")
		if r.Status != http.StatusUnprocessableEntity || !strings.Contains(r.Body, `id="cf-err"`) {
			t.Errorf("lookup of a malformed tax code: %d", r.Status)
		}
	})
}

// An expired identity document is refused with a clear message, and nothing is stored;
// the issuing authority is required.
func TestDeskRefusesExpiredDocument(t *testing.T) {
	eachPortal(t, func(t *testing.T, s *apptest.Server, mod *deskModule) {
		op := operator(s)
		form := citizenForm()
		form.Set("id_doc_expires", time.Now().AddDate(0, 0, -1).Format("2006-01-02"))
		form.Set("id_doc_issuer", "")
		r := op.PostForm("/backoffice/credenziali/nuovo", form)
		if r.Status != http.StatusUnprocessableEntity || !strings.Contains(r.Body, "Il documento è scaduto") ||
			!strings.Contains(r.Body, `id="id_doc_expires-err"`) || !strings.Contains(r.Body, `id="id_doc_issuer-err"`) {
			t.Fatalf("expired document: %d", r.Status)
		}
		noMissingKeys(t, r)
		if _, err := mod.svc.ByFiscalCode(s.Ctx(context.Background()), "RSSMRA80A01H501U"); err != accounts.ErrNotFound {
			t.Fatalf("an account was stored for an expired document: %v", err)
		}
		// Expiring today is still valid.
		form = citizenForm()
		form.Set("id_doc_expires", time.Now().Format("2006-01-02"))
		if r := op.PostForm("/backoffice/credenziali/nuovo", form); r.Status != http.StatusSeeOther {
			t.Fatalf("document expiring today: %d", r.Status)
		}
	})
}

var tokenField = regexp.MustCompile(`name="token" value="([A-Z2-7]+)"`)

// Twenty identical POSTs of the issue form (one token), sent at once as a double click
// or a resent form would, issue one code: every answer redirects to the same page,
// which shows that code; the audit log has one issue.
func TestDeskIssueOncePerForm(t *testing.T) {
	eachPortal(t, func(t *testing.T, s *apptest.Server, mod *deskModule) {
		op := operator(s)
		loc := register(t, op)
		page := op.Get(loc)
		tm := tokenField.FindStringSubmatch(page.Body)
		if tm == nil {
			t.Fatal("account page has no form token")
		}
		form := url.Values{"_csrf": {op.CSRF()}, "token": {tm[1]}}
		const n = 20
		target := strings.TrimSuffix(page.URL, loc) + loc + "/rilascio"
		status, where, errs := postAtOnce(op, target, form, n)
		want := loc + "/rilascio/" + tm[1]
		for i := range n {
			if errs[i] != nil || status[i] != http.StatusSeeOther || where[i] != want {
				t.Fatalf("POST %d: %v %d %q, want 303 to %s", i, errs[i], status[i], where[i], want)
			}
		}
		a, err := mod.svc.ByUsername(context.Background(), "mario.rossi")
		if err != nil {
			t.Fatal(err)
		}
		events, _, err := audit.List(s.Ctx(context.Background()), s.DB, audit.Filter{SubjectCF: a.FiscalCode, Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		issues := 0
		for _, e := range events {
			if e.Action == accounts.ActIssue || e.Action == accounts.ActReissue {
				issues++
				if e.IP == "" {
					t.Error("the desk's issue is audited without the client address")
				}
			}
		}
		if issues != 1 {
			t.Fatalf("%d concurrent identical POSTs issued %d codes, want 1", n, issues)
		}
		r := op.Get(want)
		cm := codeOnPage.FindStringSubmatch(r.Body)
		if r.Status != http.StatusOK || cm == nil {
			t.Fatalf("credentials page: %d", r.Status)
		}
		if _, err := mod.svc.CheckActivation(context.Background(), "mario.rossi", cm[1], "127.0.0.1"); err != nil {
			t.Fatalf("the code shown is not the current one: %v", err)
		}
		// A forged or missing token issues nothing.
		if r := op.PostForm(loc+"/rilascio", url.Values{"token": {"nonsense"}}); r.Status != http.StatusUnprocessableEntity {
			t.Fatalf("bad token: %d", r.Status)
		}
		// A reload of the account page gives a new form (a new token): that issues again,
		// which is the operator's explicit choice.
		if tm2 := tokenField.FindStringSubmatch(op.Get(loc).Body); tm2 == nil || tm2[1] == tm[1] {
			t.Fatal("the account page reuses its form token")
		}
	})
}

// The letter carries the comune's coat of arms in its letterhead and a QR code that
// zbarimg decodes to the activation address with the username.
func TestLetterArmsAndQR(t *testing.T) {
	zbar, err := exec.LookPath("zbarimg")
	if err != nil {
		t.Fatal("zbarimg is needed (apt-get install zbar-tools)")
	}
	ppm, err := exec.LookPath("pdftoppm")
	if err != nil {
		t.Fatal("pdftoppm is needed (apt-get install poppler-utils)")
	}
	eachPortal(t, func(t *testing.T, s *apptest.Server, mod *deskModule) {
		op := operator(s)
		loc := register(t, op)
		r := op.Follow(op.Submit(op.Get(loc), nil))
		cm := codeOnPage.FindStringSubmatch(r.Body)
		if cm == nil {
			t.Fatalf("credentials page: %d", r.Status)
		}
		r = op.PostForm(loc+"/lettera.pdf", url.Values{"code": {cm[1]}})
		if r.Status != http.StatusOK {
			t.Fatalf("letter: %d", r.Status)
		}
		dir := t.TempDir()
		pdf := filepath.Join(dir, "lettera.pdf")
		if err := os.WriteFile(pdf, []byte(r.Body), 0o600); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command(ppm, "-r", "150", "-png", "-f", "1", "-l", "1", "-singlefile", pdf, filepath.Join(dir, "p")).CombinedOutput(); err != nil {
			t.Fatalf("pdftoppm: %v %s", err, out)
		}
		img := filepath.Join(dir, "p.png")
		out, err := exec.Command(zbar, "--raw", "-q", img).Output()
		if err != nil {
			t.Fatalf("zbarimg found no QR code on the letter: %v", err)
		}
		want := desk.QRContent(mod.svc.ActivationURL(), "mario.rossi")
		if got := strings.TrimSpace(string(out)); got != want {
			t.Fatalf("QR code reads %q, want %q", got, want)
		}
		if !strings.Contains(want, "/idp/attiva?utente=mario.rossi") || strings.Contains(want, accounts.NormalizeCode(cm[1])) {
			t.Fatalf("QR content %q", want)
		}
		// The shield of the default coat of arms (fill #06c) is at the letterhead's left:
		// a point inside it, above the star, is that blue.
		f, err := os.Open(img)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		m, err := png.Decode(f)
		if err != nil {
			t.Fatal(err)
		}
		px := func(mmX, mmY float64) string {
			rr, g, b, _ := m.At(int(mmX/25.4*150), int(mmY/25.4*150)).RGBA()
			return fmt.Sprintf("%02x%02x%02x", rr>>8, g>>8, b>>8)
		}
		const side = 18.0 // pdfdoc.ArmsSizeMM, for a 64×64 viewBox
		if got := px(20+side*32/64, 14+side*10/64); got != "0066cc" {
			t.Errorf("no coat of arms in the letterhead: pixel %s, want 0066cc", got)
		}
		if got := px(20+side*32/64, 14+side*4/64); got != "ffffff" {
			t.Errorf("above the shield: pixel %s, want white", got)
		}
	})
}
