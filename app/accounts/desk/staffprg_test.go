package desk_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/comuni-italiani/sportello/app/accounts"
	"github.com/comuni-italiani/sportello/app/apptest"
	"github.com/comuni-italiani/sportello/app/audit"
	"github.com/comuni-italiani/sportello/app/roles"
	"github.com/comuni-italiani/sportello/app/web"
)

// staffAdmin creates the administrator admin1 and returns a client logged in as them.
func staffAdmin(t *testing.T, s *apptest.Server, mod *deskModule) *apptest.Client {
	t.Helper()
	if _, _, err := mod.svc.CreateStaff(s.Ctx(context.Background()), "system:test", accounts.StaffInput{Username: "admin1",
		GivenName: "Ada", FamilyName: "Neri", Email: "ada@comune.example", Roles: []string{roles.Admin}}); err != nil {
		t.Fatal(err)
	}
	admin := s.Client()
	s.LoginAs(admin, web.Viewer{Kind: "staff", ID: "admin1", Roles: []string{roles.Admin}})
	return admin
}

// postAtOnce sends the same form n times at once with c's session (the requests wait
// for one another to start) and returns each answer's status and Location, or error.
func postAtOnce(c *apptest.Client, target string, form url.Values, n int) (status []int, where []string, errs []error) {
	status, where, errs = make([]int, n), make([]string, n), make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			req, _ := http.NewRequest(http.MethodPost, target, strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			res, err := c.HTTP.Do(req)
			if err != nil {
				errs[i] = err
				return
			}
			res.Body.Close()
			status[i], where[i] = res.StatusCode, res.Header.Get("Location")
		}()
	}
	close(start)
	wg.Wait()
	return status, where, errs
}

func newStaffForm(username string) url.Values {
	return url.Values{"username": {username}, "given_name": {"Lucia"}, "family_name": {"Verdi"},
		"email": {username + "@comune.example"}, "roles": {roles.URP}}
}

// accountsNamed counts the accounts with username, in every ente.
func accountsNamed(t *testing.T, s *apptest.Server, username string) int64 {
	t.Helper()
	var n int64
	if err := s.All().Table("accounts").Where("username = ?", username).Count(&n).Error; err != nil {
		t.Fatal(err)
	}
	return n
}

// auditCount counts the audit entries of action by actor on the account username.
func auditCount(t *testing.T, s *apptest.Server, action, actor, username string) int {
	t.Helper()
	ev, _, err := audit.List(s.Ctx(context.Background()), s.DB, audit.Filter{Action: action, ActorID: actor, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range ev {
		if e.ObjectID == username {
			n++
			if e.IP == "" || e.RequestID == "" {
				t.Errorf("%s audited without client address or request id: %+v", action, e)
			}
		}
	}
	return n
}

var issuedPath = regexp.MustCompile(`^/backoffice/personale/(\d+)/rilascio/([A-Z2-7]{26})$`)

// Creating a staff member follows POST/redirect/GET: the POST answers 303 to a page
// that shows the code once; a second visit says the code is gone; the same form
// posted again (a reload, the back button) creates nothing and leads to the same page;
// bad tokens, a missing CSRF token and a non-administrator create nothing.
func TestStaffCreatePostRedirectGet(t *testing.T) {
	eachPortal(t, func(t *testing.T, s *apptest.Server, mod *deskModule) {
		admin := staffAdmin(t, s, mod)
		page := admin.Get("/backoffice/personale/nuovo")
		tm := tokenField.FindStringSubmatch(page.Body)
		if page.Status != http.StatusOK || tm == nil {
			t.Fatalf("new staff form: %d, token %v", page.Status, tm)
		}
		r := admin.SubmitAction(page, "/backoffice/personale/nuovo", newStaffForm("l.verdi"))
		loc := r.Header.Get("Location")
		m := issuedPath.FindStringSubmatch(loc)
		if r.Status != http.StatusSeeOther || m == nil || m[2] != tm[1] || strings.Contains(r.Body, "activation-code") {
			t.Fatalf("create: %d %q, want 303 to .../rilascio/%s", r.Status, loc, tm[1])
		}
		a, err := mod.svc.ByUsername(context.Background(), "l.verdi")
		if err != nil || itoa(a.ID) != m[1] || a.Status != accounts.StatusPending || !a.HasRole(roles.URP) {
			t.Fatalf("created: %+v %v (page of %s)", a, err, m[1])
		}

		// The GET page shows the code, out of every cache; the code is the current one.
		shown := admin.Get(loc)
		cm := codeOnPage.FindStringSubmatch(shown.Body)
		if shown.Status != http.StatusOK || cm == nil || !strings.Contains(shown.Header.Get("Cache-Control"), "no-store") {
			t.Fatalf("credentials page: %d %q", shown.Status, shown.Header.Get("Cache-Control"))
		}
		noMissingKeys(t, shown)
		if r := admin.PostForm("/backoffice/personale/"+m[1]+"/lettera.pdf", url.Values{"code": {cm[1]}}); r.Status != http.StatusOK ||
			!strings.HasPrefix(r.Body, "%PDF") {
			t.Fatalf("letter with the code shown: %d", r.Status)
		}

		// A second visit no longer shows it, and says why, in both languages.
		again := admin.Get(loc)
		if again.Status != http.StatusSeeOther || again.Header.Get("Location") != "/backoffice/personale/"+m[1] {
			t.Fatalf("second visit: %d %q", again.Status, again.Header.Get("Location"))
		}
		gone := admin.Follow(again)
		if gone.Status != http.StatusOK || codeOnPage.MatchString(gone.Body) ||
			!strings.Contains(gone.Body, "è già stato mostrato una volta") {
			t.Fatalf("page after the second visit: %d", gone.Status)
		}
		if r := admin.GetLang(loc, "en"); r.Status != http.StatusSeeOther {
			t.Fatalf("third visit: %d", r.Status)
		}
		if r := admin.GetLang("/backoffice/personale/"+m[1], "en"); !strings.Contains(r.Body, "was already shown once") {
			t.Fatal("English page lacks the message of the code already shown")
		}

		// The same form posted again: the same page, no second account, no new code.
		r = admin.SubmitAction(page, "/backoffice/personale/nuovo", newStaffForm("l.verdi"))
		if r.Status != http.StatusSeeOther || r.Header.Get("Location") != loc {
			t.Fatalf("replay: %d %q, want 303 to %s", r.Status, r.Header.Get("Location"), loc)
		}
		if r := admin.Follow(r); codeOnPage.MatchString(r.Body) || !strings.Contains(r.Body, "è già stato mostrato una volta") {
			t.Fatalf("replay shows a code: %d", r.Status)
		}
		// Even with other data: the token was used, nothing is created.
		r = admin.SubmitAction(page, "/backoffice/personale/nuovo", newStaffForm("g.bianchi"))
		if r.Status != http.StatusSeeOther || r.Header.Get("Location") != loc || accountsNamed(t, s, "g.bianchi") != 0 {
			t.Fatalf("replay with other data: %d %q", r.Status, r.Header.Get("Location"))
		}
		if n := accountsNamed(t, s, "l.verdi"); n != 1 {
			t.Fatalf("%d accounts l.verdi, want 1", n)
		}
		if n := auditCount(t, s, accounts.ActStaffCreate, "admin1", "l.verdi"); n != 1 {
			t.Fatalf("%d staff creations audited, want 1", n)
		}
		if n := auditCount(t, s, accounts.ActIssue, "admin1", "l.verdi"); n != 1 {
			t.Fatalf("%d codes issued, want 1", n)
		}
		if _, err := mod.svc.CheckActivation(context.Background(), "l.verdi", cm[1], "127.0.0.1"); err != nil {
			t.Fatalf("the code shown is no longer the current one: %v", err)
		}

		// A missing or forged token: 422 with a message, nothing created.
		for _, tok := range []string{"", "nonsense", strings.ToLower(tm[1])} {
			f := newStaffForm("m.neri")
			f.Set("token", tok)
			r := admin.PostForm("/backoffice/personale/nuovo", f)
			if r.Status != http.StatusUnprocessableEntity || !strings.Contains(r.Body, "Il modulo non è valido") {
				t.Fatalf("token %q: %d", tok, r.Status)
			}
		}
		// Without the CSRF token: 403.
		fresh := tokenField.FindStringSubmatch(admin.Get("/backoffice/personale/nuovo").Body)
		f := newStaffForm("m.neri")
		f.Set("token", fresh[1])
		if r := admin.PostRaw("/backoffice/personale/nuovo", f); r.Status != http.StatusForbidden {
			t.Fatalf("POST without CSRF token: %d", r.Status)
		}
		// A URP operator: 403 on the form, the POST and the code's page.
		op := operator(s)
		if r := op.Get("/backoffice/personale/nuovo"); r.Status != http.StatusForbidden {
			t.Fatalf("operator on the form: %d", r.Status)
		}
		if r := op.PostForm("/backoffice/personale/nuovo", f); r.Status != http.StatusForbidden {
			t.Fatalf("operator's POST: %d", r.Status)
		}
		if r := op.Get(loc); r.Status != http.StatusForbidden {
			t.Fatalf("operator on the code's page: %d", r.Status)
		}
		if n := accountsNamed(t, s, "m.neri"); n != 0 {
			t.Fatalf("refused POSTs created %d accounts", n)
		}
		// The token left unused by the refusals still works for the administrator.
		f.Del("_csrf") // PostForm set the operator's
		r = admin.PostForm("/backoffice/personale/nuovo", f)
		if r.Status != http.StatusSeeOther || !issuedPath.MatchString(r.Header.Get("Location")) || accountsNamed(t, s, "m.neri") != 1 {
			t.Fatalf("create with a fresh token: %d %q", r.Status, r.Header.Get("Location"))
		}
		// A page of a token that does not exist, or of another account: gone.
		if r := admin.Get("/backoffice/personale/" + m[1] + "/rilascio/" + fresh[1]); r.Status != http.StatusSeeOther {
			t.Fatalf("another account's token: %d", r.Status)
		}
	})
}

// A form that comes back with errors keeps its token (nothing used it), and a name
// already taken does not use the token either.
func TestStaffCreateErrorsKeepToken(t *testing.T) {
	eachPortal(t, func(t *testing.T, s *apptest.Server, mod *deskModule) {
		admin := staffAdmin(t, s, mod)
		page := admin.Get("/backoffice/personale/nuovo")
		tm := tokenField.FindStringSubmatch(page.Body)
		f := newStaffForm("admin1")
		r := admin.SubmitAction(page, "/backoffice/personale/nuovo", f)
		if r.Status != http.StatusUnprocessableEntity || !strings.Contains(r.Body, "Questo nome utente è già in uso.") ||
			!strings.Contains(r.Body, `name="token" value="`+tm[1]+`"`) {
			t.Fatalf("username taken: %d", r.Status)
		}
		r = admin.SubmitAction(r, "/backoffice/personale/nuovo", newStaffForm("l.verdi"))
		if m := issuedPath.FindStringSubmatch(r.Header.Get("Location")); r.Status != http.StatusSeeOther || m == nil || m[2] != tm[1] {
			t.Fatalf("after correcting: %d %q", r.Status, r.Header.Get("Location"))
		}
	})
}

// Twenty identical POSTs of the new staff form (one token) sent at once create one
// account: every answer redirects to the same page; the audit log has one creation.
func TestStaffCreateOncePerForm(t *testing.T) {
	eachPortal(t, func(t *testing.T, s *apptest.Server, mod *deskModule) {
		admin := staffAdmin(t, s, mod)
		page := admin.Get("/backoffice/personale/nuovo")
		tm := tokenField.FindStringSubmatch(page.Body)
		form := newStaffForm("l.verdi")
		form.Set("_csrf", admin.CSRF())
		form.Set("token", tm[1])
		target := strings.TrimSuffix(page.URL, "/backoffice/personale/nuovo") + "/backoffice/personale/nuovo"
		const n = 20
		status, where, errs := postAtOnce(admin, target, form, n)
		for i := range n {
			if errs[i] != nil || status[i] != http.StatusSeeOther || where[i] != where[0] || !issuedPath.MatchString(where[i]) {
				t.Fatalf("POST %d: %v %d %q (first: %q)", i, errs[i], status[i], where[i], where[0])
			}
		}
		if c := accountsNamed(t, s, "l.verdi"); c != 1 {
			t.Fatalf("%d concurrent POSTs with one token created %d accounts", n, c)
		}
		if c := auditCount(t, s, accounts.ActStaffCreate, "admin1", "l.verdi"); c != 1 {
			t.Fatalf("%d creations audited, want 1", c)
		}
		if r := admin.Get(where[0]); r.Status != http.StatusOK || !codeOnPage.MatchString(r.Body) {
			t.Fatalf("credentials page: %d", r.Status)
		}
	})
}

// Reissuing a staff member's code follows the same pattern: one reset per form, the
// code shown once.
func TestStaffResetPostRedirectGet(t *testing.T) {
	eachPortal(t, func(t *testing.T, s *apptest.Server, mod *deskModule) {
		admin := staffAdmin(t, s, mod)
		r := admin.PostForm("/backoffice/personale/nuovo", func() url.Values {
			f := newStaffForm("l.verdi")
			f.Set("token", accounts.NewDeskToken())
			return f
		}())
		m := issuedPath.FindStringSubmatch(r.Header.Get("Location"))
		if m == nil {
			t.Fatalf("create: %d", r.Status)
		}
		edit := admin.Get("/backoffice/personale/" + m[1])
		action := "/backoffice/personale/" + m[1] + "/reimposta"
		r = admin.SubmitAction(edit, action, nil)
		loc := r.Header.Get("Location")
		rm := issuedPath.FindStringSubmatch(loc)
		if r.Status != http.StatusSeeOther || rm == nil || rm[1] != m[1] || rm[2] == m[2] {
			t.Fatalf("reset: %d %q", r.Status, loc)
		}
		if r := admin.SubmitAction(edit, action, nil); r.Status != http.StatusSeeOther || r.Header.Get("Location") != loc {
			t.Fatalf("reset replayed: %d %q", r.Status, r.Header.Get("Location"))
		}
		shown := admin.Get(loc)
		cm := codeOnPage.FindStringSubmatch(shown.Body)
		if shown.Status != http.StatusOK || cm == nil {
			t.Fatalf("reset code page: %d", shown.Status)
		}
		if r := admin.Get(loc); r.Status != http.StatusSeeOther {
			t.Fatalf("reset code page, second visit: %d", r.Status)
		}
		if c := auditCount(t, s, accounts.ActDeskReset, "admin1", "l.verdi"); c != 1 {
			t.Fatalf("%d resets audited, want 1", c)
		}
		if _, err := mod.svc.CheckActivation(context.Background(), "l.verdi", cm[1], "127.0.0.1"); err != nil {
			t.Fatalf("the reset code shown is not the current one: %v", err)
		}
		// A forged token resets nothing.
		if r := admin.PostForm(action, url.Values{"token": {"nonsense"}}); r.Status != http.StatusUnprocessableEntity {
			t.Fatalf("reset with a bad token: %d", r.Status)
		}
		if c := auditCount(t, s, accounts.ActDeskReset, "admin1", "l.verdi"); c != 1 {
			t.Fatalf("%d resets audited after a forged one, want 1", c)
		}
	})
}

// The staff list shows 50 people a page, by name, every one on exactly one page,
// with accessible page links; a bad or past-the-end page number answers 400.
func TestStaffListPages(t *testing.T) {
	eachPortal(t, func(t *testing.T, s *apptest.Server, mod *deskModule) {
		admin := staffAdmin(t, s, mod)
		ctx := s.Ctx(context.Background())
		for i := range 59 {
			u := fmt.Sprintf("p.%02d", i)
			if _, _, err := mod.svc.CreateStaff(ctx, "system:test", accounts.StaffInput{Username: u,
				GivenName: "Pia", FamilyName: fmt.Sprintf("Rossi%02d", i), Email: u + "@comune.example",
				Roles: []string{roles.URP}}); err != nil {
				t.Fatal(err)
			}
		}
		seen := map[string]int{}
		row := regexp.MustCompile(`<td>(p\.\d\d|admin1)</td>`)
		for page, want := range map[string]int{"": 50, "2": 10} {
			r := admin.Get("/backoffice/personale?pagina=" + page)
			if r.Status != http.StatusOK {
				t.Fatalf("page %q: %d", page, r.Status)
			}
			rows := row.FindAllStringSubmatch(r.Body, -1)
			if len(rows) != want {
				t.Fatalf("page %q: %d rows, want %d", page, len(rows), want)
			}
			for _, m := range rows {
				seen[m[1]]++
			}
			if !strings.Contains(r.Body, "Persone del personale: 60") || !strings.Contains(r.Body, `aria-label="Pagine dell&#39;elenco del personale"`) ||
				!strings.Contains(r.Body, `aria-current="page"`) {
				t.Errorf("page %q: no total, page navigation or current page", page)
			}
		}
		if len(seen) != 60 {
			t.Errorf("%d people over the two pages, want 60 (each once)", len(seen))
		}
		for _, bad := range []string{"0", "abc", "3", "-1"} {
			if r := admin.Get("/backoffice/personale?pagina=" + bad); r.Status != http.StatusBadRequest {
				t.Errorf("pagina=%s: %d, want 400", bad, r.Status)
			}
		}
	})
}
