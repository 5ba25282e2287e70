package ztl_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
	"gorm.io/gorm"

	"github.com/comuni-italiani/sportello/app"
	"github.com/comuni-italiani/sportello/app/anagrafe"
	"github.com/comuni-italiani/sportello/app/apptest"
	"github.com/comuni-italiani/sportello/app/enti"
	"github.com/comuni-italiani/sportello/app/store"
	"github.com/comuni-italiani/sportello/app/store/storetest"
	"github.com/comuni-italiani/sportello/app/web"
	"github.com/comuni-italiani/sportello/services"
	"github.com/comuni-italiani/sportello/services/ztl"
)

var bg = context.Background()

// register gives the test portal the population register's tables, until the
// platform migrates them itself (then it adds nothing).
type register struct{}

func (register) Info() services.Info {
	return services.Info{ID: "registro-test", Title: "ztl.title", Summary: "ztl.summary",
		Description: "ztl.description", Area: services.AreaAnagrafe, Order: 99}
}

func (register) Mount(*services.Mount) error { return nil }

func (register) Migrations() []*store.Migration {
	first := anagrafe.Migrations()[0].ID
	if slices.ContainsFunc(app.PlatformMigrations(), func(m *store.Migration) bool { return m.ID == first }) {
		return nil
	}
	return anagrafe.Migrations()
}

// clock is a settable clock.
type clock struct{ t atomic.Pointer[time.Time] }

func (c *clock) set(t time.Time) { c.t.Store(&t) }
func (c *clock) now() time.Time  { return *c.t.Load() }

// env is a portal with the ZTL module on one database.
type env struct {
	*apptest.Server
	clk *clock
	t   *testing.T
	m   *ztl.Module
	// smtp is the portal's mail server, when the test asked for one (eachWithSettings).
	smtp *smtpServer
}

// job runs the module's job name at now.
func (e *env) job(name string, now time.Time) {
	e.t.Helper()
	for _, j := range e.m.Jobs() {
		if j.Name == name {
			if err := j.Run(bg, now); err != nil { // the job visits every ente itself (ForEachEnte)
				e.t.Fatalf("job %s: %v", name, err)
			}
			return
		}
	}
	e.t.Fatalf("no job %s", name)
}

// each runs fn on a fresh portal per database, at a fixed instant.
func each(t *testing.T, fn func(t *testing.T, e *env)) {
	t.Helper()
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			c := &clock{}
			c.set(time.Date(2027, 3, 1, 9, 0, 0, 0, time.UTC))
			m := ztl.New(ztl.WithClock(c.now))
			s := apptest.New(t, d, apptest.Options{Modules: []services.Module{register{}, m}})
			fn(t, &env{Server: s, clk: c, t: t, m: m})
		})
	}
}

// scoped is the test database confined to the portal's ente.
func (e *env) scoped() *gorm.DB { return enti.Scoped(e.DB, "valdoria").WithContext(bg) }

func (e *env) citizen(cf, name string) *apptest.Client {
	c := e.Client()
	e.LoginAs(c, web.Viewer{Kind: "citizen", ID: cf, FiscalCode: cf, DisplayName: name})
	return c
}

func (e *env) officer() *apptest.Client {
	c := e.Client()
	e.LoginAs(c, web.Viewer{Kind: "staff", ID: "u.mobilita", DisplayName: "Ufficio Mobilità", Roles: []string{ztl.RoleOfficer}})
	return c
}

func want(t *testing.T, r *apptest.Response, status int, texts ...string) {
	t.Helper()
	if r.Status != status {
		t.Fatalf("%s: status %d, want %d\n%s", r.URL, r.Status, status, r.Body)
	}
	for _, s := range texts {
		if !strings.Contains(r.Body, s) {
			t.Fatalf("%s: body lacks %q\n%s", r.URL, s, r.Body)
		}
	}
}

// Minimal documents recognised by their content.
var (
	pdfDoc  = []byte("%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n")
	jpegImg = append([]byte{0xFF, 0xD8, 0xFF, 0xE0, 0, 0x10, 'J', 'F', 'I', 'F', 0}, bytes.Repeat([]byte{7}, 64)...)
)

func postMultipart(c *apptest.Client, base, path string, fields url.Values, docs ...[]byte) *apptest.Response {
	var body bytes.Buffer
	w := multipart.NewWriter(&body)
	_ = w.WriteField("_csrf", c.CSRF())
	for k, vs := range fields {
		for _, v := range vs {
			_ = w.WriteField(k, v)
		}
	}
	for i, d := range docs {
		fw, _ := w.CreateFormFile("documents", "documento"+string(rune('1'+i))+".pdf")
		_, _ = fw.Write(d)
	}
	_ = w.Close()
	req, _ := http.NewRequest(http.MethodPost, base+path, &body)
	req.Header.Set("Content-Type", w.FormDataContentType())
	return c.Do(req)
}

var caseIDRE = regexp.MustCompile(`/servizi/ztl/domanda/([0-9]+)/`)

// apply fills in the application form as a browser does and submits it with docs;
// it returns the case id and the submission's answer.
func apply(t *testing.T, e *env, c *apptest.Client, permit, vehicles, badge url.Values, docs ...[]byte) (string, *apptest.Response) {
	t.Helper()
	r := c.PostForm("/servizi/ztl/domanda", nil)
	want(t, r, http.StatusSeeOther)
	m := caseIDRE.FindStringSubmatch(r.Header.Get("Location") + "/")
	if m == nil {
		t.Fatalf("no case id in %q", r.Header.Get("Location"))
	}
	id := m[1]
	base := "/servizi/ztl/domanda/" + id
	// Copies: PostForm adds the client's CSRF token to the values it is given.
	want(t, c.PostForm(base+"/permesso", cloneValues(permit)), http.StatusSeeOther)
	want(t, c.PostForm(base+"/veicoli", cloneValues(vehicles)), http.StatusSeeOther)
	want(t, c.PostForm(base+"/contrassegno", cloneValues(badge)), http.StatusSeeOther)
	return id, postMultipart(c, e.BaseURL, base+"/invia", nil, docs...)
}

// decide takes and approves case id as the mobility officer.
func decide(t *testing.T, e *env, off *apptest.Client, id string) *apptest.Response {
	t.Helper()
	base := "/backoffice/ztl/pratiche/" + id
	want(t, postMultipart(off, e.BaseURL, base+"/azione/take", nil), http.StatusSeeOther)
	return postMultipart(off, e.BaseURL, base+"/azione/approve", nil)
}

var keyRE = regexp.MustCompile(`id="new-key">(ztl_[a-z0-9_]+)<`)

// gateKey creates a key on the staff page and returns it.
func gateKey(t *testing.T, off *apptest.Client, name string) string {
	t.Helper()
	r := off.PostForm("/backoffice/ztl/chiavi", url.Values{"name": {name}})
	want(t, r, http.StatusOK)
	m := keyRE.FindStringSubmatch(r.Body)
	if m == nil {
		t.Fatalf("no key shown:\n%s", r.Body)
	}
	return m[1]
}

// api is a gate system's client, checking every answer against openapi.yaml.
type api struct {
	t      *testing.T
	e      *env
	key    string
	router routers.Router
}

func newAPI(t *testing.T, e *env, key string) *api {
	t.Helper()
	r := e.Client().Get(ztl.APIBase + "/openapi.yaml")
	want(t, r, http.StatusOK, "openapi: 3.0.3")
	doc, err := openapi3.NewLoader().LoadFromData([]byte(r.Body))
	if err != nil {
		t.Fatal(err)
	}
	if err := doc.Validate(bg); err != nil {
		t.Fatalf("openapi.yaml: %v", err)
	}
	doc.Servers = openapi3.Servers{{URL: e.BaseURL + ztl.APIBase}}
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	return &api{t: t, e: e, key: key, router: router}
}

// do sends a request and validates request and answer against the spec.
func (a *api) do(method, path string, body any, header http.Header) *apptest.Response {
	a.t.Helper()
	var rd io.Reader
	var raw []byte
	if body != nil {
		raw, _ = json.Marshal(body)
		rd = bytes.NewReader(raw)
	}
	req, _ := http.NewRequest(method, a.e.BaseURL+path, rd)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if a.key != "" {
		req.Header.Set("Authorization", "Bearer "+a.key)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	res := a.e.Client().Do(req)
	// Validate against the OpenAPI document, with a copy of the request.
	vreq, _ := http.NewRequest(method, a.e.BaseURL+path, bytes.NewReader(raw))
	vreq.Header = req.Header.Clone()
	route, params, err := a.router.FindRoute(vreq)
	if err != nil {
		a.t.Fatalf("%s %s: not in openapi.yaml: %v", method, path, err)
	}
	in := &openapi3filter.RequestValidationInput{Request: vreq, PathParams: params, Route: route,
		Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc}}
	if res.Status < 400 {
		if err := openapi3filter.ValidateRequest(bg, in); err != nil {
			a.t.Fatalf("%s %s: request does not match openapi.yaml: %v", method, path, err)
		}
	}
	out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: res.Status, Header: res.Header,
		Options: &openapi3filter.Options{IncludeResponseStatus: true}}
	out.SetBodyBytes([]byte(res.Body))
	if err := openapi3filter.ValidateResponse(bg, out); err != nil {
		a.t.Fatalf("%s %s: answer %d does not match openapi.yaml: %v\n%s", method, path, res.Status, err, res.Body)
	}
	return res
}

func photo() string { return base64.StdEncoding.EncodeToString(jpegImg) }

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func viewerPolice() web.Viewer {
	return web.Viewer{Kind: "staff", ID: "agente.rossi", DisplayName: "Agente Rossi", Roles: []string{ztl.RolePolice}}
}

func viewerOfficer() web.Viewer {
	return web.Viewer{Kind: "staff", ID: "u.mobilita", DisplayName: "Ufficio Mobilità", Roles: []string{ztl.RoleOfficer}}
}

func cloneValues(v url.Values) url.Values {
	out := url.Values{}
	for k, x := range v {
		out[k] = append([]string(nil), x...)
	}
	return out
}
