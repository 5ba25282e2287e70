package idp_test

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"
	"golang.org/x/oauth2"

	"github.com/comuni-italiani/sportello/app/accounts"
	"github.com/comuni-italiani/sportello/app/notify"
)

// TestStaffActivation activates staff credentials through the pages: code, then the
// authenticator app (QR and secret), then the password; then logs in.
func TestStaffActivation(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		_, cred, err := e.accounts.CreateStaff(e.ctx, "admin", accounts.StaffInput{Username: "l.verdi", GivenName: "Luca",
			FamilyName: "Verdi", Email: "l.verdi@comune.valdoria.example", Roles: []string{"social_officer"}})
		if err != nil {
			t.Fatal(err)
		}
		b := e.browser()
		page := b.get("/idp/attiva?utente=l.verdi")
		expect(t, page, http.StatusOK, `value="l.verdi"`, `autocomplete="username"`, "Passaggio 1 di 3")
		r := b.submit(page, url.Values{"username": {cred.Username}, "code": {strings.ToLower(cred.ActivationCode)}})
		if r.Location != "/idp/attiva/codice" {
			t.Fatalf("after the code: %d %q\n%s", r.Status, r.Location, r.Body)
		}
		// Staff cannot skip to the password.
		if r := b.get("/idp/attiva/password"); r.Location != "/idp/attiva/codice" {
			t.Fatalf("password before TOTP: %d %q", r.Status, r.Location)
		}
		page = b.get("/idp/attiva/codice")
		expect(t, page, http.StatusOK, `src="data:image/png;base64,`, `autocomplete="one-time-code"`, "Passaggio 2 di 3")
		if strings.Contains(page.Body, "Salta questo passaggio") {
			t.Fatal("staff may skip TOTP")
		}
		secret := strings.ReplaceAll(match(t, secretField, page.Body), " ", "")
		r = b.submit(page, url.Values{"code": {"000000"}})
		expect(t, r, http.StatusUnprocessableEntity, "Il codice non è valido", `aria-describedby="code-help code-err"`)
		r = b.submit(page, url.Values{"code": {e.totp(secret)}})
		if r.Location != "/idp/attiva/password" {
			t.Fatalf("after TOTP: %d %q\n%s", r.Status, r.Location, r.Body)
		}
		page = b.get("/idp/attiva/password")
		expect(t, page, http.StatusOK, `autocomplete="new-password"`, "Passaggio 3 di 3")
		r = b.submit(page, url.Values{"password": {"corta"}, "password_confirm": {"corta"}})
		expect(t, r, http.StatusUnprocessableEntity, "almeno 10 caratteri", `aria-describedby="password-help password-err"`)
		r = b.submit(page, url.Values{"password": {testPassword}, "password_confirm": {testPassword + "x"}})
		expect(t, r, http.StatusUnprocessableEntity, "Le due password non coincidono.")
		r = b.submit(page, url.Values{"password": {testPassword}, "password_confirm": {testPassword}})
		if r.Location != "/idp/attiva/fatto" {
			t.Fatalf("after the password: %d %q\n%s", r.Status, r.Location, r.Body)
		}
		expect(t, b.get(r.Location), http.StatusOK, "Credenziali attivate", `href="/auth/login"`)

		// The code is used up: the same letter is refused with the generic message.
		page = b.get("/idp/attiva")
		r = b.submit(page, url.Values{"username": {cred.Username}, "code": {cred.ActivationCode}})
		expect(t, r, http.StatusUnprocessableEntity, "Nome utente o codice di attivazione non validi")

		// And the new credentials log in, with the second factor.
		client := e.rp(e.clientID, e.secret)
		f := client.start()
		client.exchange(t, f, e.login(t, e.browser(), f, &person{username: cred.Username, password: testPassword, secret: secret}))
	})
}

// TestCitizenActivation: code, password, optional TOTP skipped.
func TestCitizenActivation(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		a, err := e.accounts.RegisterCitizen(e.ctx, "operatore", accounts.CitizenInput{FiscalCode: "RSSMRA80A01H501U",
			GivenName: "Mario", FamilyName: "Rossi", BirthDate: time.Date(1980, 1, 1, 0, 0, 0, 0, time.UTC),
			IDDocType: accounts.DocCIE, IDDocNumber: "CA12345AB", DocumentSeen: true})
		if err != nil {
			t.Fatal(err)
		}
		cred, err := e.accounts.IssueCredentials(e.ctx, "operatore", a.ID)
		if err != nil {
			t.Fatal(err)
		}
		b := e.browser()
		page := b.get("/idp/attiva")
		// Missing fields, then a wrong code: generic refusal.
		expect(t, b.submit(page, nil), http.StatusUnprocessableEntity, `href="#username"`, `href="#code"`)
		r := b.submit(page, url.Values{"username": {cred.Username}, "code": {"ACDE-FGHJ-KMNP"}})
		expect(t, r, http.StatusUnprocessableEntity, "Nome utente o codice di attivazione non validi")
		r = b.submit(page, url.Values{"username": {"nessuno"}, "code": {cred.ActivationCode}})
		expect(t, r, http.StatusUnprocessableEntity, "Nome utente o codice di attivazione non validi")

		r = b.submit(page, url.Values{"username": {cred.Username}, "code": {cred.ActivationCode}})
		if r.Location != "/idp/attiva/password" {
			t.Fatalf("after the code: %d %q\n%s", r.Status, r.Location, r.Body)
		}
		page = b.get(r.Location)
		expect(t, page, http.StatusOK, "Passaggio 2 di 3", cred.Username)
		r = b.submit(page, url.Values{"password": {testPassword}, "password_confirm": {testPassword}})
		if r.Location != "/idp/attiva/codice" {
			t.Fatalf("after the password: %d %q\n%s", r.Status, r.Location, r.Body)
		}
		page = b.get(r.Location)
		expect(t, page, http.StatusOK, "Salta questo passaggio", "facoltativa")
		r = b.submit(page, url.Values{"skip": {"1"}})
		if r.Location != "/idp/attiva/fatto" {
			t.Fatalf("after skipping: %d %q", r.Status, r.Location)
		}
		expect(t, b.get(r.Location), http.StatusOK, "Credenziali attivate")
		// The activation state is gone.
		if r := b.get("/idp/attiva/password"); r.Location != "/idp/attiva" {
			t.Fatalf("after done: %d %q", r.Status, r.Location)
		}
		got, err := e.accounts.Get(e.ctx, a.ID)
		if err != nil || got.Status != accounts.StatusActive || got.TOTPEnabled {
			t.Fatalf("account after activation: %+v %v", got, err)
		}
	})
}

// TestExpiredActivationCode: an expired code gets the same generic refusal.
func TestExpiredActivationCode(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		a, err := e.accounts.RegisterCitizen(e.ctx, "operatore", accounts.CitizenInput{FiscalCode: "RSSMRA80A01H501U",
			GivenName: "Mario", FamilyName: "Rossi", BirthDate: time.Date(1980, 1, 1, 0, 0, 0, 0, time.UTC),
			IDDocType: accounts.DocCIE, IDDocNumber: "CA12345AB", DocumentSeen: true})
		if err != nil {
			t.Fatal(err)
		}
		cred, err := e.accounts.IssueCredentials(e.ctx, "operatore", a.ID)
		if err != nil {
			t.Fatal(err)
		}
		e.clk.Advance(accounts.DefaultActivationTTL + time.Hour)
		b := e.browser()
		r := b.submit(b.get("/idp/attiva"), url.Values{"username": {cred.Username}, "code": {cred.ActivationCode}})
		expect(t, r, http.StatusUnprocessableEntity, "Nome utente o codice di attivazione non validi")
	})
}

var resetLink = regexp.MustCompile(`/idp/password/nuova\?token=([A-Za-z0-9_\-%]+)`)

func TestPasswordReset(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		p := e.citizen("RSSMRA80A01H501U", "Mario", "Rossi", time.Date(1980, 1, 1, 0, 0, 0, 0, time.UTC), "mario.rossi@example.org")
		b := e.browser()
		page := b.get("/idp/password/recupero")
		expect(t, page, http.StatusOK, `autocomplete="username"`)
		// Unknown and known accounts get the same answer.
		for _, id := range []string{"nessuno.tale", "mario.rossi@example.org"} {
			r := b.submit(page, url.Values{"identifier": {id}})
			if r.Location != "/idp/password/recupero/inviata" {
				t.Fatalf("%s: %d %q\n%s", id, r.Status, r.Location, r.Body)
			}
		}
		expect(t, b.get("/idp/password/recupero/inviata"), http.StatusOK, "account esiste ed è associato")
		msgs, _, err := notify.List(context.Background(), e.db, notify.ListFilter{Kind: "accounts.password_reset"})
		if err != nil || len(msgs) != 1 {
			t.Fatalf("reset mails: %d %v", len(msgs), err)
		}
		m := resetLink.FindStringSubmatch(msgs[0].Text)
		if m == nil {
			t.Fatalf("no link in the mail:\n%s", msgs[0].Text)
		}
		token, _ := url.QueryUnescape(m[1])

		page = b.get("/idp/password/nuova?token=" + url.QueryEscape(token))
		expect(t, page, http.StatusOK, `autocomplete="new-password"`)
		r := b.submit(page, url.Values{"password": {"password123"}, "password_confirm": {"password123"}})
		expect(t, r, http.StatusUnprocessableEntity, `id="password-err"`)
		const newPassword = "lanterna-bicicletta-nuvola-7"
		r = b.submit(page, url.Values{"password": {newPassword}, "password_confirm": {newPassword}})
		if r.Location != "/idp/password/nuova/fatto" {
			t.Fatalf("reset: %d %q\n%s", r.Status, r.Location, r.Body)
		}
		expect(t, b.get(r.Location), http.StatusOK, "Password aggiornata", `href="/auth/login"`)
		// The link works once.
		r = b.submit(page, url.Values{"password": {newPassword}, "password_confirm": {newPassword}})
		expect(t, r, http.StatusUnprocessableEntity, "Il link non è valido")

		client := e.rp(e.clientID, e.secret)
		f := client.start()
		p.password = newPassword
		client.exchange(t, f, e.login(t, e.browser(), f, p))
	})
}

// TestSecondFactorPages: errors on the code page, and a code is accepted once.
func TestSecondFactorPages(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		p := e.staff("g.bianchi", "urp_operator")
		client := e.rp(e.clientID, e.secret)
		b := e.browser()
		f := client.start()
		r := b.get(f.url)
		page := b.get(r.Location)
		r = b.submit(page, url.Values{"username": {p.username}, "password": {p.password}})
		page = b.get(r.Location)
		expect(t, page, http.StatusOK, "Verifica in due passaggi")
		expect(t, b.submit(page, url.Values{"code": {""}}), http.StatusUnprocessableEntity, `href="#code"`)
		expect(t, b.submit(page, url.Values{"code": {"123456"}}), http.StatusUnprocessableEntity, "Il codice non è valido")
		// A code already used is refused.
		code := e.totp(p.secret)
		f.callback(t, e, b.submit(page, url.Values{"code": {code}}))
		f2 := client.start(oauth2.SetAuthURLParam("prompt", "login"))
		r = b.get(f2.url)
		page = b.get(r.Location)
		r = b.submit(page, url.Values{"username": {p.username}, "password": {p.password}})
		page = b.get(r.Location)
		expect(t, b.submit(page, url.Values{"code": {code}}), http.StatusUnprocessableEntity, "Il codice non è valido")
		next, err := totp.GenerateCode(p.secret, e.clk.Now().Add(31*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		e.clk.Advance(31 * time.Second)
		f2.callback(t, e, b.submit(page, url.Values{"code": {next}}))
		// The pages speak English too.
		expect(t, e.browser().get("/idp/attiva?lang=en"), http.StatusOK, "Activate your credentials", "Step 1 of 3")
		expect(t, e.browser().get("/idp/password/recupero?lang=en"), http.StatusOK, "Username or email")
	})
}
