package certificates_test

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/url"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
	"gorm.io/gorm"

	"github.com/comuni-italiani/sportello/app"
	"github.com/comuni-italiani/sportello/app/anagrafe"
	"github.com/comuni-italiani/sportello/app/apptest"
	"github.com/comuni-italiani/sportello/app/enti"
	"github.com/comuni-italiani/sportello/app/store"
	"github.com/comuni-italiani/sportello/app/web"
	"github.com/comuni-italiani/sportello/config"
	"github.com/comuni-italiani/sportello/services"
	"github.com/comuni-italiani/sportello/services/certificates"
)

// ctx carries the test portal's ente (the default configuration's comune), as a request on
// its host would.
var ctx = enti.WithEnte(context.Background(), &enti.Ente{ID: "valdoria"})

// register gives the test portal the population register's tables, until the
// platform migrates them itself (then it adds nothing).
type register struct{}

func (register) Info() services.Info {
	return services.Info{ID: "registro-test", Title: "certificati.title", Summary: "certificati.summary",
		Description: "certificati.description", Area: services.AreaAnagrafe, Order: 99}
}

func (register) Mount(*services.Mount) error { return nil }

func (register) Migrations() []*store.Migration {
	first := anagrafe.Migrations()[0].ID
	if slices.ContainsFunc(app.PlatformMigrations(), func(m *store.Migration) bool { return m.ID == first }) {
		return nil
	}
	return anagrafe.Migrations()
}

// clock is a settable clock for the module under test.
type clock struct{ t atomic.Pointer[time.Time] }

func newClock(t time.Time) *clock { c := &clock{}; c.set(t); return c }
func (c *clock) set(t time.Time)  { c.t.Store(&t) }
func (c *clock) now() time.Time   { return *c.t.Load() }

// portal starts the portal with the certificates module over the demo register.
// settings is the module's YAML section; verification is not rate-limited unless
// settings say so.
func portal(t testing.TB, d store.Dialect, settings string, opts ...certificates.Option) (*apptest.Server, *certificates.Module) {
	t.Helper()
	if settings == "" {
		settings = "verify_rate_per_minute: -1"
	}
	m := certificates.New(opts...)
	s := apptest.New(t, d, apptest.Options{
		Modules: []services.Module{register{}, m},
		Configure: func(c *config.Config) {
			var n yaml.Node
			if err := yaml.Unmarshal([]byte(settings), &n); err != nil {
				t.Fatal(err)
			}
			c.Modules.Settings = map[string]yaml.Node{certificates.ID: n}
		},
	})
	if err := anagrafe.SeedDemo(s.Ctx(ctx), s.DB); err != nil {
		t.Fatal(err)
	}
	return s, m
}

// person finds a demo resident by name.
func person(t testing.TB, db *gorm.DB, surname, name string) anagrafe.Person {
	t.Helper()
	var p anagrafe.Person
	if err := enti.AllEnti(db, "test").Where("surname = ? AND name = ?", surname, name).Take(&p).Error; err != nil {
		t.Fatalf("demo person %s %s: %v", surname, name, err)
	}
	return p
}

// citizen returns a client logged in as the demo resident.
func citizen(t testing.TB, s *apptest.Server, p anagrafe.Person) *apptest.Client {
	t.Helper()
	c := s.Client()
	s.LoginAs(c, web.Viewer{Kind: "citizen", ID: p.FiscalCode, FiscalCode: p.FiscalCode, DisplayName: p.Name + " " + p.Surname})
	return c
}

// officer returns a client logged in as registry staff.
func officer(t testing.TB, s *apptest.Server) *apptest.Client {
	t.Helper()
	c := s.Client()
	s.LoginAs(c, web.Viewer{Kind: "staff", ID: "m.rossi", DisplayName: "Maria Rossi", Roles: []string{certificates.RoleOfficer}})
	return c
}

var issuedPath = regexp.MustCompile(`^/servizi/certificati/emesso/([0-9A-Z*~$=-]+)$`)

// request goes through the three steps in the browser's way and returns the new
// certificate's code.
func request(t testing.TB, c *apptest.Client, holder anagrafe.Person, typ, bollo, exemption string) string {
	t.Helper()
	id := itoa(holder.ID)
	r := c.Get("/servizi/certificati/nuovo/tipo?persona=" + id)
	if r.Status != http.StatusOK || !strings.Contains(r.Body, `value="`+typ+`"`) {
		t.Fatalf("step 2 for %s: status %d, type %s not offered", holder.FiscalCode, r.Status, typ)
	}
	q := url.Values{"persona": {id}, "tipo": {typ}, "bollo": {bollo}, "esenzione": {exemption}}
	r = c.Get("/servizi/certificati/nuovo/riepilogo?" + q.Encode())
	if r.Status != http.StatusOK || !strings.Contains(r.Body, `action="/servizi/certificati/nuovo"`) {
		t.Fatalf("step 3: status %d\n%s", r.Status, r.Body)
	}
	r = c.PostForm("/servizi/certificati/nuovo", q)
	if r.Status != http.StatusSeeOther {
		t.Fatalf("issue: status %d\n%s", r.Status, r.Body)
	}
	m := issuedPath.FindStringSubmatch(r.Header.Get("Location"))
	if m == nil {
		t.Fatalf("issue redirected to %q", r.Header.Get("Location"))
	}
	return m[1]
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// pdfText extracts the text of a PDF with pdftotext.
func pdfText(t testing.TB, pdf []byte) string {
	t.Helper()
	cmd := exec.Command("pdftotext", "-layout", "-", "-")
	cmd.Stdin = strings.NewReader(string(pdf))
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("pdftotext: %v", err)
	}
	// Join lines and squeeze spaces: wrapped sentences become searchable.
	return strings.Join(strings.Fields(string(out)), " ")
}

func jsonUnmarshal(s string, out any) error { return json.Unmarshal([]byte(s), out) }

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// postJSONWith posts JSON with a given client and CSRF token (many requests, one
// client).
func postJSONWith(t testing.TB, c *apptest.Client, s *apptest.Server, token string, body any, out any) int {
	t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest(http.MethodPost, s.URL+"/api/verifica", strings.NewReader(string(b)))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-CSRF-Token", token)
	r := c.Do(req)
	if out != nil {
		if err := json.Unmarshal([]byte(r.Body), out); err != nil {
			t.Fatalf("POST /api/verifica: %d %q: %v", r.Status, r.Body, err)
		}
	}
	return r.Status
}

func webViewer(cf string) web.Viewer {
	return web.Viewer{Kind: "citizen", ID: cf, FiscalCode: cf, DisplayName: "Test"}
}

func staffViewer(id string, roles ...string) web.Viewer {
	return web.Viewer{Kind: "staff", ID: id, DisplayName: id, Roles: roles}
}

func withSettings(t testing.TB, cfg config.Config, settings string) config.Config {
	t.Helper()
	var n yaml.Node
	if err := yaml.Unmarshal([]byte(settings), &n); err != nil {
		t.Fatal(err)
	}
	cfg.Modules.Settings = map[string]yaml.Node{certificates.ID: n}
	return cfg
}
