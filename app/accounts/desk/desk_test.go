package desk_test

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/comuni-italiani/sportello/app"
	"github.com/comuni-italiani/sportello/app/accounts"
	"github.com/comuni-italiani/sportello/app/accounts/desk"
	"github.com/comuni-italiani/sportello/app/apptest"
	"github.com/comuni-italiani/sportello/app/audit"
	"github.com/comuni-italiani/sportello/app/roles"
	"github.com/comuni-italiani/sportello/app/secretbox"
	"github.com/comuni-italiani/sportello/app/store"
	"github.com/comuni-italiani/sportello/app/store/storetest"
	"github.com/comuni-italiani/sportello/app/web"
	"github.com/comuni-italiani/sportello/services"
)

// deskModule mounts the back office on the test portal the way the app does: the
// desk for URP operators, staff administration for administrators.
type deskModule struct{ svc *accounts.Service }

func (*deskModule) Info() services.Info {
	return services.Info{ID: "credenziali-prova", Title: "accounts.desk.title", Summary: "accounts.desk.lead",
		Description: "accounts.desk.lead", Area: services.AreaComune}
}

func (m *deskModule) Mount(mt *services.Mount) error {
	box, err := secretbox.New([]string{"desk-test-system-secret-0123456789abcdef"})
	if err != nil {
		return err
	}
	m.svc = accounts.New(mt.DB, accounts.Options{BaseURL: mt.Config.HTTP.BaseURL, Issuer: mt.Config.Comune.Name,
		Hash: accounts.HashParams{Memory: 1024, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}, Roles: testRoles, Box: box})
	d := desk.Deps{Accounts: m.svc, Render: mt.Render, Validate: mt.Validate, Comune: mt.Config.Comune, Log: mt.Log, DB: mt.DB}
	desk.Mount(mt.Site.Group(desk.DeskPath, mt.RequireRole(roles.URP)), d)
	desk.MountStaff(mt.Site.Group(desk.StaffPath, mt.RequireRole(roles.Admin)), d)
	return nil
}

// Migrations adds the accounts tables unless the platform already has them.
func (*deskModule) Migrations() []*store.Migration {
	have := map[string]bool{}
	for _, m := range app.PlatformMigrations() {
		have[m.ID] = true
	}
	var out []*store.Migration
	for _, m := range accounts.Migrations() {
		if !have[m.ID] {
			out = append(out, m)
		}
	}
	return out
}

// eachPortal runs fn once per dialect on a fresh portal with its own desk module, in
// parallel subtests.
func eachPortal(t *testing.T, fn func(t *testing.T, s *apptest.Server, mod *deskModule)) {
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			mod := &deskModule{}
			fn(t, apptest.New(t, d, apptest.Options{Modules: []services.Module{mod}}), mod)
		})
	}
}

var (
	accountPath = regexp.MustCompile(`^/backoffice/(credenziali|personale)/(\d+)$`)
	codeOnPage  = regexp.MustCompile(`id="activation-code">([A-Z0-9-]{14})<`)
)

func noMissingKeys(t *testing.T, r *apptest.Response) {
	t.Helper()
	if i := strings.Index(r.Body, "[accounts."); i >= 0 {
		t.Fatalf("page shows a raw message key: %s", r.Body[i:min(len(r.Body), i+80)])
	}
	if i := strings.Index(r.Body, "[validation."); i >= 0 {
		t.Fatalf("page shows a raw message key: %s", r.Body[i:min(len(r.Body), i+80)])
	}
}

func citizenForm() url.Values {
	return url.Values{"fiscal_code": {"rssmra80a01h501u"}, "given_name": {"Mario"}, "family_name": {"Rossi"},
		"birth_date": {"1980-01-01"}, "email": {"mario.rossi@example.it"}, "phone": {"+39 333 1234567"},
		"id_doc_type": {accounts.DocCIE}, "id_doc_number": {"CA12345AB"}, "id_doc_issuer": {"Comune di Roma"},
		"id_doc_expires": {"2031-05-10"}, "document_seen": {"1"}}
}

func TestCredentialDeskScenario(t *testing.T) {
	eachPortal(t, func(t *testing.T, s *apptest.Server, mod *deskModule) {
		op := s.Client()
		s.LoginAs(op, web.Viewer{Kind: "staff", ID: "op1", DisplayName: "Olga Pace", Roles: []string{roles.URP}})

		r := op.Get("/backoffice/credenziali")
		if r.Status != http.StatusOK || !strings.Contains(r.Body, "Rilascio delle credenziali") {
			t.Fatalf("desk home: %d", r.Status)
		}
		noMissingKeys(t, op.Get("/backoffice/credenziali/nuovo"))

		// A wrong check character: 422, precise message tied to the field, data kept.
		form := citizenForm()
		form.Set("fiscal_code", "RSSMRA80A01H501X")
		r = op.PostForm("/backoffice/credenziali/nuovo", form)
		if r.Status != http.StatusUnprocessableEntity {
			t.Fatalf("wrong check character: status %d", r.Status)
		}
		for _, want := range []string{`value="RSSMRA80A01H501X"`, `value="Mario"`, `value="CA12345AB"`, `value="1980-01-01"`,
			"Il carattere di controllo (l&#39;ultimo) non corrisponde", `id="fiscal_code-err"`,
			`aria-describedby="fiscal_code-help fiscal_code-err"`, `aria-invalid="true"`, `href="#fiscal_code"`,
			"Il modulo contiene errori"} {
			if !strings.Contains(r.Body, want) {
				t.Errorf("422 page lacks %q", want)
			}
		}
		noMissingKeys(t, r)
		// The document check is required.
		form = citizenForm()
		form.Del("document_seen")
		form.Set("birth_date", "1980-01-02")
		r = op.PostForm("/backoffice/credenziali/nuovo", form)
		if r.Status != http.StatusUnprocessableEntity || !strings.Contains(r.Body, `id="document_seen-err"`) ||
			!strings.Contains(r.Body, "non corrisponde a quella indicata nel codice fiscale") {
			t.Fatalf("missing document check / date mismatch: %d", r.Status)
		}

		// Register.
		r = op.PostForm("/backoffice/credenziali/nuovo", citizenForm())
		if r.Status != http.StatusSeeOther {
			t.Fatalf("register: status %d", r.Status)
		}
		loc := r.Header.Get("Location")
		m := accountPath.FindStringSubmatch(loc)
		if m == nil {
			t.Fatalf("register redirect: %q", loc)
		}
		r = op.Get(loc)
		if r.Status != http.StatusOK || !strings.Contains(r.Body, "Cittadino registrato") ||
			!strings.Contains(r.Body, "In attesa di attivazione") || !strings.Contains(r.Body, "mario.rossi") {
			t.Fatalf("account page after registration: %d", r.Status)
		}
		noMissingKeys(t, r)
		// Registering the same tax code again leads to the existing account.
		if r := op.PostForm("/backoffice/credenziali/nuovo", citizenForm()); r.Status != http.StatusSeeOther || r.Header.Get("Location") != loc {
			t.Fatalf("duplicate registration: %d %s", r.Status, r.Header.Get("Location"))
		}
		// Search by tax code goes straight to the account; by name lists it.
		if r := op.Get("/backoffice/credenziali?q=RSSMRA80A01H501U"); r.Status != http.StatusSeeOther || r.Header.Get("Location") != loc {
			t.Fatalf("search by tax code: %d %s", r.Status, r.Header.Get("Location"))
		}
		if r := op.Get("/backoffice/credenziali?q=rossi"); r.Status != http.StatusOK || !strings.Contains(r.Body, `href="`+loc+`"`) {
			t.Fatalf("search by name: %d", r.Status)
		}

		// Issue: POST, then redirect to the page that shows the code, which no cache
		// keeps; reloading that page shows the same code.
		r = op.Get(loc)
		if !strings.Contains(r.Body, "Comune di Roma") || !strings.Contains(r.Body, "10/05/2031") {
			t.Error("account page lacks the document's issuer and expiry")
		}
		r = op.Follow(op.Submit(r, nil))
		cm := codeOnPage.FindStringSubmatch(r.Body)
		if r.Status != http.StatusOK || cm == nil || !strings.Contains(r.Header.Get("Cache-Control"), "no-store") {
			t.Fatalf("issue: status %d, code found %v, cache %q", r.Status, cm != nil, r.Header.Get("Cache-Control"))
		}
		code := cm[1]
		noMissingKeys(t, r)
		issuedPage := r.URL
		if again := op.GetURL(issuedPage); codeOnPage.FindStringSubmatch(again.Body) == nil || codeOnPage.FindStringSubmatch(again.Body)[1] != code {
			t.Fatalf("reloading the credentials page: %d", again.Status)
		}
		r = op.PostForm(loc+"/lettera.pdf", url.Values{"code": {code}})
		if r.Status != http.StatusOK || r.Header.Get("Content-Type") != "application/pdf" || !strings.HasPrefix(r.Body, "%PDF") ||
			!strings.Contains(r.Header.Get("Content-Disposition"), "credenziali-mario.rossi.pdf") {
			t.Fatalf("letter: status %d, type %q, starts %q", r.Status, r.Header.Get("Content-Type"), r.Body[:min(8, len(r.Body))])
		}
		if r := op.PostForm(loc+"/lettera.pdf", url.Values{"code": {"AAAA-AAAA-AAAA"}}); r.Status != http.StatusConflict {
			t.Fatalf("letter with a wrong code: %d", r.Status)
		}
		// The code works for activation (the provider's side).
		if _, err := mod.svc.CheckActivation(context.Background(), "mario.rossi", code, "127.0.0.1"); err != nil {
			t.Fatalf("issued code: %v", err)
		}
		// Reissue (a new form, so a new token): the old code no longer prints, and its
		// page no longer shows it.
		r = op.Follow(op.Submit(op.Get(loc), nil))
		if r.Status != http.StatusOK || codeOnPage.FindStringSubmatch(r.Body)[1] == code {
			t.Fatalf("reissue: %d", r.Status)
		}
		if r := op.GetURL(issuedPage); r.Status != http.StatusSeeOther || r.Header.Get("Location") != loc {
			t.Fatalf("page of the replaced code: %d %s", r.Status, r.Header.Get("Location"))
		}
		if r := op.PostForm(loc+"/lettera.pdf", url.Values{"code": {code}}); r.Status != http.StatusConflict {
			t.Fatalf("letter with the replaced code: %d", r.Status)
		}

		// Block needs a reason.
		r = op.PostForm(loc+"/blocco", url.Values{"reason": {"  "}})
		if r.Status != http.StatusUnprocessableEntity || !strings.Contains(r.Body, `id="reason-err"`) ||
			!strings.Contains(r.Body, "Indica il motivo del blocco") {
			t.Fatalf("block without reason: %d", r.Status)
		}
		// CSRF: a form without the token is refused.
		if r := op.PostRaw(loc+"/blocco", url.Values{"reason": {"Furto del documento"}}); r.Status != http.StatusForbidden {
			t.Fatalf("block without CSRF token: %d", r.Status)
		}
		if r := op.PostForm(loc+"/blocco", url.Values{"reason": {"Furto del documento"}}); r.Status != http.StatusSeeOther {
			t.Fatalf("block: %d", r.Status)
		}
		r = op.Get(loc)
		if !strings.Contains(r.Body, "Account bloccato.") || !strings.Contains(r.Body, "Furto del documento") ||
			!strings.Contains(r.Body, `id="account-status">Bloccato`) {
			t.Fatal("account page after block")
		}
		if r := op.PostForm(loc+"/sblocco", nil); r.Status != http.StatusSeeOther {
			t.Fatalf("unlock: %d", r.Status)
		}
		r = op.Get(loc)
		if !strings.Contains(r.Body, "Account sbloccato.") || !strings.Contains(r.Body, `id="account-status">In attesa di attivazione`) {
			t.Fatal("account page after unlock")
		}
		// The history on the page and in the audit log.
		a, err := mod.svc.ByUsername(context.Background(), "mario.rossi")
		if err != nil {
			t.Fatal(err)
		}
		events, _, err := audit.List(s.Ctx(context.Background()), s.DB, audit.Filter{SubjectCF: a.FiscalCode, Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		var actions []string
		for _, e := range events {
			if e.ActorKind == audit.ActorStaff && e.ActorID == "op1" {
				actions = append(actions, e.Action)
			}
		}
		for _, want := range []string{accounts.ActRegister, accounts.ActIssue, accounts.ActReissue, accounts.ActBlock, accounts.ActUnlock} {
			if !slices.Contains(actions, want) {
				t.Errorf("audit log lacks %s by op1 (has %v)", want, actions)
			}
		}
		if !strings.Contains(r.Body, "Indirizzo del client") || !strings.Contains(r.Body, "<td>127.0.0.1</td>") {
			t.Error("history on the account page lacks the client address of the desk's actions")
		}
		if !strings.Contains(r.Body, "Blocco dell&#39;account") {
			t.Error("history on the account page lacks the block")
		}
		for _, e := range events {
			if strings.Contains(e.Details, accounts.NormalizeCode(code)) || strings.Contains(e.Details, code) {
				t.Fatal("an activation code reached the audit log")
			}
		}

		// Other roles and anonymous visitors are kept out.
		other := s.Client()
		s.LoginAs(other, web.Viewer{Kind: "staff", ID: "an1", Roles: []string{roleAnagrafe}})
		if r := other.Get(loc); r.Status != http.StatusForbidden {
			t.Fatalf("anagrafe officer on the desk: %d", r.Status)
		}
		if r := s.Client().Get("/backoffice/credenziali"); r.Status != http.StatusSeeOther {
			t.Fatalf("anonymous on the desk: %d", r.Status)
		}
		// The English pages have every text too.
		noMissingKeys(t, op.GetLang(loc, "en"))
	})
}

func TestStaffAdministrationScenario(t *testing.T) {
	eachPortal(t, func(t *testing.T, s *apptest.Server, mod *deskModule) {
		ctx := s.Ctx(context.Background())
		if _, _, err := mod.svc.CreateStaff(ctx, "system:test", accounts.StaffInput{Username: "admin1", GivenName: "Ada",
			FamilyName: "Neri", Email: "ada@comune.example", Roles: []string{roles.Admin}}); err != nil {
			t.Fatal(err)
		}
		admin := s.Client()
		s.LoginAs(admin, web.Viewer{Kind: "staff", ID: "admin1", Roles: []string{roles.Admin}})
		r := admin.Get("/backoffice/personale")
		if r.Status != http.StatusOK || !strings.Contains(r.Body, "admin1") {
			t.Fatalf("staff list: %d", r.Status)
		}
		noMissingKeys(t, r)
		newForm := admin.Get("/backoffice/personale/nuovo")
		noMissingKeys(t, newForm)
		form := url.Values{"username": {"L.Verdi"}, "given_name": {"Lucia"}, "family_name": {"Verdi"}, "email": {"l.verdi@comune.example"}}
		r = admin.SubmitAction(newForm, "/backoffice/personale/nuovo", form)
		if r.Status != http.StatusUnprocessableEntity || !strings.Contains(r.Body, `id="roles-err"`) || !strings.Contains(r.Body, `value="l.verdi"`) {
			t.Fatalf("staff without roles: %d", r.Status)
		}
		noMissingKeys(t, r)
		form["roles"] = []string{roleAnagrafe, roles.URP}
		r = admin.Follow(admin.SubmitAction(r, "/backoffice/personale/nuovo", form))
		cm := codeOnPage.FindStringSubmatch(r.Body)
		if r.Status != http.StatusOK || cm == nil {
			t.Fatalf("create staff: %d", r.Status)
		}
		a, err := mod.svc.ByUsername(ctx, "l.verdi")
		if err != nil || !a.HasRole(roleAnagrafe) || a.Status != accounts.StatusPending {
			t.Fatalf("created staff: %+v %v", a, err)
		}
		page := "/backoffice/personale/" + itoa(a.ID)
		r = admin.PostForm(page+"/lettera.pdf", url.Values{"code": {cm[1]}})
		if r.Status != http.StatusOK || !strings.HasPrefix(r.Body, "%PDF") {
			t.Fatalf("staff letter: %d", r.Status)
		}
		// A citizen's page is not reachable through staff administration, nor the reverse.
		if r := admin.Get("/backoffice/credenziali/" + itoa(a.ID)); r.Status != http.StatusNotFound {
			t.Fatalf("staff account on the citizen desk: %d", r.Status)
		}
		// Deactivate.
		r = admin.PostForm(page, url.Values{"roles": {roles.URP}})
		if r.Status != http.StatusSeeOther {
			t.Fatalf("deactivate: %d", r.Status)
		}
		if got, _ := mod.svc.Get(ctx, a.ID); got.Status != accounts.StatusBlocked || strings.Join(got.Roles, ",") != roles.URP {
			t.Fatalf("after deactivation: %+v", got)
		}
		r = admin.Get(page)
		if !strings.Contains(r.Body, "Modifiche salvate.") || !strings.Contains(r.Body, "Disattivato dall&#39;amministratore") {
			t.Fatal("staff page after deactivation")
		}
		// An administrator cannot demote themselves.
		self, _ := mod.svc.ByUsername(ctx, "admin1")
		r = admin.PostForm("/backoffice/personale/"+itoa(self.ID), url.Values{"roles": {roles.URP}, "active": {"1"}})
		if r.Status != http.StatusUnprocessableEntity || !strings.Contains(r.Body, "Non puoi disattivare il tuo account") {
			t.Fatalf("self demotion: %d", r.Status)
		}
		// URP operators do not administer staff.
		op := s.Client()
		s.LoginAs(op, web.Viewer{Kind: "staff", ID: "op1", Roles: []string{roles.URP}})
		if r := op.Get("/backoffice/personale"); r.Status != http.StatusForbidden {
			t.Fatalf("operator on staff administration: %d", r.Status)
		}
		if ev, _, _ := audit.List(s.Ctx(ctx), s.DB, audit.Filter{ActorID: "admin1", Action: accounts.ActStaffUpdate}); len(ev) != 1 {
			t.Fatalf("staff update audit: %d", len(ev))
		}
	})
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// roleAnagrafe is a module's role in the portal these tests build.
const roleAnagrafe = "anagrafe_officer"

// testRoles are the platform's roles and roleAnagrafe.
var testRoles = func() roles.List {
	l, err := roles.Assemble(roles.Platform(), []roles.Def{
		{ID: roleAnagrafe, Title: "accounts.role.urp_operator", Description: "accounts.role_desc.urp_operator"}})
	if err != nil {
		panic(err)
	}
	return l
}()
