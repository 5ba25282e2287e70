package app_test

import (
	"bytes"
	"context"
	"fmt"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"gorm.io/gorm"

	"github.com/comuni-italiani/sportello/app"
	"github.com/comuni-italiani/sportello/app/anagrafe"
	"github.com/comuni-italiani/sportello/app/apptest"
	"github.com/comuni-italiani/sportello/app/enti"
	"github.com/comuni-italiani/sportello/app/web"
)

// dumpTables returns every row of every table, in a stable order, as text: two dumps
// are equal only if no row was added, removed or changed (sessions' expiry aside).
func dumpTables(t *testing.T, db *gorm.DB) string {
	t.Helper()
	tables, err := db.Migrator().GetTables()
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, table := range tables {
		q := fmt.Sprintf(`SELECT * FROM %q ORDER BY 1`, table)
		if table == "sessions" {
			// A page view renews the idle expiry of a session: not a change of data.
			q = `SELECT token_hash, data FROM sessions ORDER BY 1`
		}
		// The dump reads every ente's rows.
		rows, err := enti.AllEnti(db, "a dump reads every ente").Raw(q).Rows()
		if err != nil {
			t.Fatalf("dump %s: %v", table, err)
		}
		cols, _ := rows.Columns()
		n := 0
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(&b, "%s %v\n", table, vals)
			n++
		}
		rows.Close()
		fmt.Fprintf(&b, "%s: %d rows\n", table, n)
	}
	return b.String()
}

// badValues are texts PostgreSQL refuses (NUL, invalid UTF-8) or the portal refuses
// (other control characters).
var badValues = map[string]string{"nul": "Rossi\x00", "latin1": "Citt\xe0", "overlong": "\xc0\xaf", "ctrl": "a\x1bb", "c1": "a\u0085b"}

// TestBadBytesOnEveryRoute sends invalid UTF-8, NUL and control characters to every
// route the portal registers, in the path, the query string, a url-encoded form and a
// multipart form, anonymously, as a citizen and as a staff member, and expects a 400
// each time, no 5xx and not one row changed, on SQLite and PostgreSQL.
func TestBadBytesOnEveryRoute(t *testing.T) {
	t.Parallel()
	apptest.Each(t, apptest.Options{NewModules: app.Builtin}, func(t *testing.T, s *apptest.Server) {
		if _, err := s.App.SeedDemo(context.Background()); err != nil {
			t.Fatal(err)
		}
		anon := s.Client()
		citizen := s.Client()
		s.LoginAs(citizen, web.Viewer{Kind: "citizen", ID: anagrafe.DemoCitizenCF, FiscalCode: anagrafe.DemoCitizenCF})
		staff := s.Client()
		s.LoginAs(staff, web.Viewer{Kind: "staff", ID: "admin", Roles: []string{"admin"}})
		clients := map[string]*apptest.Client{"anonymous": anon, "citizen": citizen, "staff": staff}
		for _, c := range clients {
			c.CSRF()
		}
		before := dumpTables(t, s.DB)
		sent := 0
		check := func(who string, req *http.Request, what string) {
			t.Helper()
			res := clients[who].Do(req)
			sent++
			if res.Status >= 500 || res.Status != http.StatusBadRequest {
				t.Errorf("%s %s %s (%s): %d, want 400", who, req.Method, req.URL.Path, what, res.Status)
			}
		}
		for _, r := range s.App.Echo().Routes() {
			if r.Path == "/_test/login" || r.Method == "echo_route_any" {
				continue
			}
			path := strings.NewReplacer(":provider", "sportello", "*", "x").Replace(r.Path)
			path = paramRE.ReplaceAllString(path, "1")
			for who, c := range clients {
				token := c.CSRF()
				for name, bad := range badValues {
					// In the query string.
					req, _ := http.NewRequest(r.Method, s.URL+path+"?q="+url.QueryEscape(bad), nil)
					check(who, req, "query "+name)
					// In the path, where the route has a parameter.
					if strings.ContainsAny(r.Path, ":*") {
						bp := paramRE.ReplaceAllString(strings.ReplaceAll(r.Path, "*", ":x"), url.PathEscape(bad))
						req, _ = http.NewRequest(r.Method, s.URL+bp, nil)
						check(who, req, "path "+name)
					}
					if r.Method == http.MethodGet {
						continue
					}
					// In a url-encoded form with a valid CSRF token.
					form := url.Values{"_csrf": {token}, "nome": {bad}, "username": {bad}, "password": {bad}}
					req, _ = http.NewRequest(r.Method, s.URL+path, strings.NewReader(form.Encode()))
					req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
					check(who, req, "form "+name)
					// In a multipart form, next to a binary file (which is not checked).
					var body bytes.Buffer
					mw := multipart.NewWriter(&body)
					_ = mw.WriteField("_csrf", token)
					_ = mw.WriteField("testo", bad)
					fw, _ := mw.CreateFormFile("allegato", "documento.pdf")
					_, _ = fw.Write([]byte("%PDF-1.4\x00\xff\xfe binary"))
					_ = mw.Close()
					req, _ = http.NewRequest(r.Method, s.URL+path, &body)
					req.Header.Set("Content-Type", mw.FormDataContentType())
					check(who, req, "multipart "+name)
				}
			}
		}
		if after := dumpTables(t, s.DB); after != before {
			t.Errorf("requests with bad bytes changed the database:\nbefore:\n%.2000s\nafter:\n%.2000s", before, after)
		}
		t.Logf("%d requests with bad bytes refused", sent)
	})
}

// TestBadBytesMessages: the refusal names the field in the visitor's language, and the
// anonymous login and activation forms of the embedded provider, which gave 500 on
// PostgreSQL, answer 400. Tabs and newlines in a textarea are kept.
func TestBadBytesMessages(t *testing.T) {
	t.Parallel()
	apptest.Each(t, apptest.Options{NewModules: app.Builtin}, func(t *testing.T, s *apptest.Server) {
		if _, err := s.App.SeedDemo(context.Background()); err != nil {
			t.Fatal(err)
		}
		c := s.Client()
		before := dumpTables(t, s.DB)
		for _, p := range []string{"/idp/accedi", "/idp/attiva"} {
			r := c.PostForm(p, url.Values{"username": {"mario\x00"}, "password": {"x"}, "codice": {"x"}})
			if r.Status != http.StatusBadRequest || !strings.Contains(r.Body, "Il campo «username» contiene byte non validi") {
				t.Errorf("POST %s with NUL: %d", p, r.Status)
			}
		}
		req, _ := http.NewRequest(http.MethodPost, s.URL+"/idp/accedi", strings.NewReader(url.Values{"_csrf": {c.CSRF()}, "password": {"\xff"}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Accept-Language", "en")
		if r := c.Do(req); r.Status != http.StatusBadRequest || !strings.Contains(r.Body, "The field “password” contains invalid bytes") {
			t.Errorf("English message: %d", r.Status)
		}
		if r := c.Get("/verifica?codice=%00"); r.Status != http.StatusBadRequest || !strings.Contains(r.Body, "Il parametro «codice»") {
			t.Errorf("query: %d", r.Status)
		}
		req, _ = http.NewRequest(http.MethodGet, s.URL+"/privacy", nil)
		req.Header.Set("X-Request-ID", "abc\xff")
		if r := c.Do(req); r.Status != http.StatusBadRequest {
			t.Errorf("bad request id: %d", r.Status)
		}
		if after := dumpTables(t, s.DB); after != before {
			t.Error("refused requests changed the database")
		}
		op := s.Client()
		s.LoginAs(op, web.Viewer{Kind: "staff", ID: "op1", Roles: []string{"urp_operator"}})
		text := "Chiuso il 24 dicembre.\r\n\tRiapre il 27."
		if r := op.PostForm("/backoffice/urp/1/avviso", url.Values{"notice_it": {text}}); r.Status != http.StatusSeeOther {
			t.Fatalf("notice with tab and newlines: %d", r.Status)
		}
		var notice string
		s.DB.Table("urp_offices").Where("id = 1").Pluck("notice_it", &notice)
		if !strings.Contains(notice, "\tRiapre") {
			t.Errorf("notice stored as %q", notice)
		}
	})
}

// TestRequestLimits: over-long searches, a 10 MB form, a malformed form body and
// directory listings are refused with the right status and message, data untouched.
func TestRequestLimits(t *testing.T) {
	t.Parallel()
	apptest.Each(t, apptest.Options{NewModules: app.Builtin}, func(t *testing.T, s *apptest.Server) {
		if _, err := s.App.SeedDemo(context.Background()); err != nil {
			t.Fatal(err)
		}
		admin := s.Client()
		s.LoginAs(admin, web.Viewer{Kind: "staff", ID: "admin", Roles: []string{"admin"}})
		if r := admin.PostForm("/backoffice/urp/1/avviso", url.Values{"notice_it": {"Chiuso per inventario"}}); r.Status != http.StatusSeeOther {
			t.Fatalf("notice: %d", r.Status)
		}
		admin.Get("/backoffice") // shows (and so removes from the session) the flash
		before := dumpTables(t, s.DB)
		long := strings.Repeat("ab%", 17000) // about 50 kB: SQLite refused the LIKE pattern
		for _, p := range []string{"/backoffice/audit?action=", "/backoffice/audit?actor=", "/backoffice/credenziali?q=",
			"/backoffice/certificati/?cf=", "/verifica?codice="} {
			r := admin.Get(p + url.QueryEscape(long))
			if r.Status != http.StatusBadRequest || !strings.Contains(r.Body, "troppo lungo") {
				t.Errorf("50 kB search %s: %d", p, r.Status)
			}
		}
		short := strings.Repeat("x", web.SearchMax+1)
		for _, p := range []string{"/backoffice/audit?action=", "/backoffice/credenziali?q=", "/backoffice/certificati/?codice="} {
			r := admin.Get(p + short)
			if r.Status != http.StatusBadRequest || !strings.Contains(r.Body, "al massimo 200 caratteri") {
				t.Errorf("search over %d characters %s: %d", web.SearchMax, p, r.Status)
			}
		}
		if r := admin.Get("/backoffice/credenziali?q=" + strings.Repeat("x", web.SearchMax)); r.Status != http.StatusOK {
			t.Errorf("search of %d characters: %d", web.SearchMax, r.Status)
		}
		// A 10 MB form is too large, not a CSRF failure.
		big := url.Values{"_csrf": {admin.CSRF()}, "notice_it": {strings.Repeat("x", 10<<20)}}
		if r := admin.PostRaw("/backoffice/urp/1/avviso", big); r.Status != http.StatusRequestEntityTooLarge || !strings.Contains(r.Body, "Contenuto troppo grande") {
			t.Errorf("10 MB form: %d", r.Status)
		}
		// A malformed body is refused: it used to clear the notice.
		req, _ := http.NewRequest(http.MethodPost, s.URL+"/backoffice/urp/1/avviso",
			strings.NewReader("_csrf="+admin.CSRF()+"&notice_it=%zz&notice_en=%"))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if r := admin.Do(req); r.Status != http.StatusBadRequest || !strings.Contains(r.Body, "non sono leggibili") {
			t.Errorf("malformed form: %d", r.Status)
		}
		if r := admin.Get("/backoffice/audit?a=%zz"); r.Status != http.StatusBadRequest {
			t.Errorf("malformed query: %d", r.Status)
		}
		if after := dumpTables(t, s.DB); after != before {
			t.Errorf("refused requests changed the database:%s", diffLines(before, after))
		}
		var notice string
		s.DB.Table("urp_offices").Where("id = 1").Pluck("notice_it", &notice)
		if notice != "Chiuso per inventario" {
			t.Errorf("notice is now %q", notice)
		}
		// Static directories are not listed; files are served.
		for _, p := range []string{"/static/", "/static/css/", "/static/css", "/static/vendor/"} {
			if r := admin.Get(p); r.Status != http.StatusNotFound || strings.Contains(r.Body, "<pre>") {
				t.Errorf("directory %s: %d", p, r.Status)
			}
		}
		if r := admin.Get("/static/css/fonts.css"); r.Status != http.StatusOK {
			t.Errorf("static file: %d", r.Status)
		}
	})
}

// diffLines lists the lines only in a or only in b.
func diffLines(a, b string) string {
	in := func(s string) map[string]bool {
		m := map[string]bool{}
		for _, l := range strings.Split(s, "\n") {
			m[l] = true
		}
		return m
	}
	ma, mb := in(a), in(b)
	var out strings.Builder
	for l := range ma {
		if !mb[l] {
			out.WriteString("\n- " + l)
		}
	}
	for l := range mb {
		if !ma[l] {
			out.WriteString("\n+ " + l)
		}
	}
	return out.String()
}
