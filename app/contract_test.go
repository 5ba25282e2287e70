package app_test

import (
	"bytes"
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"testing/fstest"
	"time"

	"github.com/labstack/echo/v4"
	"gopkg.in/yaml.v3"
	"gorm.io/gorm"

	"github.com/comuni-italiani/sportello/app"
	"github.com/comuni-italiani/sportello/app/apptest"
	"github.com/comuni-italiani/sportello/app/audit"
	"github.com/comuni-italiani/sportello/app/cases"
	"github.com/comuni-italiani/sportello/app/jobs"
	"github.com/comuni-italiani/sportello/app/roles"
	"github.com/comuni-italiani/sportello/app/store"
	"github.com/comuni-italiani/sportello/app/web"
	"github.com/comuni-italiani/sportello/config"
	"github.com/comuni-italiani/sportello/services"
	"github.com/comuni-italiani/sportello/services/urp"
	"github.com/comuni-italiani/sportello/templates"
)

// probe is a module written the way a newcomer would, in one folder: its routes,
// table, catalogue entry, staff menu entry, staff role, page templates, messages,
// scheduled job, command and personal-area section all come from the module itself.
// Nothing else in the portal knows it: the tests add it to the module list, as
// app/modules.go would with one line.
type probe struct {
	db       *gorm.DB
	render   *web.Renderer
	failArea bool         // PersonalArea fails
	failJob  atomic.Bool  // the job fails
	jobRuns  atomic.Int32 // runs of the job
}

// probeRole is the probe's own staff role.
const probeRole = "prova_officer"

// probeFiles are the probe's templates (prova/*.html) and messages
// (locales/<lang>/prova.yaml), embedded as a module package would embed its own.
//
//go:embed testdata/probe
var probeFiles embed.FS

type probeItem struct {
	ID   int64 `gorm:"primaryKey"`
	Name string
}

func (probeItem) TableName() string { return "probe_items" }

func (*probe) Info() services.Info {
	return services.Info{ID: "prova", Title: "prova.title", Summary: "prova.summary", Description: "prova.description",
		Audience: "prova.audience", Area: services.AreaTributi, NeedsLogin: true, Start: "elenco"}
}

func (p *probe) Mount(m *services.Mount) error {
	p.db, p.render = m.DB, m.Render
	if err := m.Cases.Register(probeCaseType()); err != nil {
		return err
	}
	m.Public.GET("/elenco", func(c echo.Context) error {
		var n int64
		if err := p.db.Model(&probeItem{}).Count(&n).Error; err != nil {
			return err
		}
		return c.String(http.StatusOK, fmt.Sprintf("items=%d", n))
	})
	m.Public.POST("/aggiungi", func(c echo.Context) error {
		if err := p.db.Create(&probeItem{Name: c.FormValue("name")}).Error; err != nil {
			return err
		}
		return web.Redirect(c, "/servizi/prova/elenco")
	})
	m.Public.GET("/panico", func(echo.Context) error { panic("secret internal detail") })
	m.Citizen.GET("/mio", func(c echo.Context) error { return c.String(http.StatusOK, "ciao "+web.CurrentViewer(c).FiscalCode) })
	m.Staff.GET("/", func(c echo.Context) error { return c.String(http.StatusOK, "staff") })
	m.Staff.GET("/pagina", func(c echo.Context) error {
		var n int64
		if err := p.db.Model(&probeItem{}).Count(&n).Error; err != nil {
			return err
		}
		return p.render.Render(c, http.StatusOK, "prova/staff.html", map[string]any{"Items": n})
	}, m.RequireRole(probeRole))
	m.Staff.GET("/solo-ruolo", func(c echo.Context) error { return c.String(http.StatusOK, "ok") }, m.RequireRole(probeRole))
	return nil
}

func (*probe) Migrations() []*store.Migration {
	return []*store.Migration{{ID: "prova/0001_items", Migrate: func(tx *gorm.DB) error {
		type probeItem struct {
			ID   int64 `gorm:"primaryKey"`
			Name string
		}
		return tx.AutoMigrate(&probeItem{})
	}}}
}

func (*probe) StaffNav() []web.MenuItem {
	return []web.MenuItem{{Label: "prova.staff.nav", Href: "/backoffice/prova/pagina", Roles: []string{probeRole}}}
}

// Assets implements services.Assets: the probe's own templates and messages.
func (*probe) Assets() fs.FS {
	sub, err := fs.Sub(probeFiles, "testdata/probe")
	if err != nil {
		panic(err)
	}
	return sub
}

// Roles implements services.Roles.
func (*probe) Roles() []roles.Def {
	return []roles.Def{{ID: probeRole, Title: "prova.role.officer", Description: "prova.role.officer_desc"}}
}

// Jobs implements services.Jobs: a one-shot job due since 2026.
func (p *probe) Jobs() []jobs.Job {
	return []jobs.Job{{Name: "prova/riepilogo", Schedule: jobs.At(time.Date(2026, 1, 1, 6, 0, 0, 0, time.UTC)),
		Run: func(context.Context, time.Time) error {
			p.jobRuns.Add(1)
			if p.failJob.Load() {
				return errors.New("archivio di prova non raggiungibile")
			}
			return nil
		}}}
}

// Commands implements services.Commands: `sportello prova conta`.
func (*probe) Commands() []services.Command {
	return []services.Command{{Name: "conta", Usage: "conta", Summary: "count the probe's items",
		Run: func(ctx context.Context, env *services.CommandEnv, args []string) error {
			if len(args) > 0 {
				return fmt.Errorf("conta: unexpected arguments %v", args)
			}
			db, err := env.OpenDB(ctx)
			if err != nil {
				return err
			}
			var n int64
			if err := db.WithContext(ctx).Model(&probeItem{}).Count(&n).Error; err != nil {
				return err
			}
			_, err = fmt.Fprintf(env.Stdout, "items=%d\n", n)
			return err
		}}}
}

// PersonalArea implements services.PersonalArea.
func (p *probe) PersonalArea(context.Context, string, string) ([]services.AreaSection, error) {
	if p.failArea {
		return nil, errors.New("probe: records unavailable")
	}
	return []services.AreaSection{{Title: "prova.area.title", Items: []services.AreaItem{{Label: "Prova numero 1"}}}}, nil
}

// probeCaseType is the probe's case type: data given to app/cases, which brings the
// citizen's and the staff's case pages, the queue, protocol numbers and the menu entry.
func probeCaseType() cases.Type {
	return cases.Type{Module: "prova", ID: "domanda", Title: "prova.case.title", Role: probeRole,
		Transitions: cases.StandardTransitions()}
}

func modules() []services.Module { return []services.Module{urp.New(), &probe{}} }

func TestModuleContract(t *testing.T) {
	t.Parallel()
	apptest.Each(t, apptest.Options{NewModules: modules}, func(t *testing.T, s *apptest.Server) {
		c := s.Client()
		// The catalogue and the service sheet speak with the module's own messages.
		cat := c.Get("/servizi")
		if cat.Status != 200 || !strings.Contains(cat.Body, `href="/servizi/prova"`) || !strings.Contains(cat.Body, "Tributi, finanze e contravvenzioni") ||
			!strings.Contains(cat.Body, "Servizio di prova") {
			t.Fatalf("catalogue lacks the module, its title or its area: %d", cat.Status)
		}
		if en := c.GetLang("/servizi", "en"); !strings.Contains(en.Body, "Probe service") {
			t.Fatal("the module's English messages are not used")
		}
		sheet := c.Get("/servizi/prova")
		if sheet.Status != 200 || !strings.Contains(sheet.Body, `href="/servizi/prova/elenco"`) || !strings.Contains(sheet.Body, "Accedere con le credenziali rilasciate dall") || strings.Contains(sheet.Body, "SPID") ||
			!strings.Contains(sheet.Body, "Chi scrive i test") {
			t.Fatalf("service sheet: %d", sheet.Status)
		}
		if r := c.Get("/servizi/prova/elenco"); r.Body != "items=0" {
			t.Fatalf("module route over its migrated table: %q", r.Body)
		}
		if r := c.PostForm("/servizi/prova/aggiungi", url.Values{"name": {"x"}}); r.Status != http.StatusSeeOther {
			t.Fatalf("form post: %d", r.Status)
		}
		if r := c.Get("/servizi/prova/elenco"); r.Body != "items=1" {
			t.Fatalf("after insert: %q", r.Body)
		}
		// Guards: anonymous is sent to login, a citizen cannot enter the back office,
		// staff without the role cannot reach the role's page, and the menu follows roles.
		if r := c.Get("/servizi/prova/mio"); r.Status != http.StatusSeeOther || !strings.HasPrefix(r.Header.Get("Location"), "/auth/login?next=") {
			t.Fatalf("anonymous citizen page: %d %s", r.Status, r.Header.Get("Location"))
		}
		s.LoginAs(c, web.Viewer{Kind: "citizen", ID: "c1", FiscalCode: "BNCGLI85C52L219Z"})
		if r := c.Get("/servizi/prova/mio"); r.Body != "ciao BNCGLI85C52L219Z" {
			t.Fatalf("citizen page: %q", r.Body)
		}
		if r := c.Get("/backoffice/prova/"); r.Status != http.StatusForbidden {
			t.Fatalf("citizen in back office: %d", r.Status)
		}
		staff := s.Client()
		s.LoginAs(staff, web.Viewer{Kind: "staff", ID: "op", Roles: []string{roles.URP}})
		if r := staff.Get("/backoffice/prova/solo-ruolo"); r.Status != http.StatusForbidden {
			t.Fatalf("staff without role: %d", r.Status)
		}
		nav := s.App.StaffNav()
		if !slices.ContainsFunc(nav, func(m web.MenuItem) bool { return m.Href == "/backoffice/prova/pagina" }) {
			t.Fatalf("staff nav: %+v", nav)
		}
		officer := s.Client()
		s.LoginAs(officer, web.Viewer{Kind: "staff", ID: "off", Roles: []string{probeRole}})
		if r := officer.Get("/backoffice/prova/solo-ruolo"); r.Status != 200 {
			t.Fatalf("officer: %d", r.Status)
		}
		// The module's own template, inside the staff layout (menu and grid).
		page := officer.Get("/backoffice/prova/pagina")
		if page.Status != 200 || !strings.Contains(page.Body, "<h1>Pagina del personale di prova</h1>") ||
			!strings.Contains(page.Body, "Elementi registrati: 1") || !strings.Contains(page.Body, `<div class="col-lg-3"><nav aria-label=`) ||
			!strings.Contains(page.Body, `href="/backoffice/prova/pagina" aria-current="page"`) {
			t.Fatalf("module staff page in the staff layout: %d\n%s", page.Status, page.Body)
		}
		// The back-office menu shows each staff member only their roles' entries.
		dash := officer.Get("/backoffice")
		if dash.Status != 200 || !strings.Contains(dash.Body, `href="/backoffice/prova/pagina"`) || strings.Contains(dash.Body, `href="/backoffice/urp/"`) {
			t.Fatalf("officer dashboard menu: %d", dash.Status)
		}
		if strings.Contains(dash.Body, "Uffici con avviso attivo") {
			t.Fatal("a figure of another role's module is on the dashboard")
		}
		if d := staff.Get("/backoffice"); !strings.Contains(d.Body, "Uffici con avviso attivo") {
			t.Fatal("module figures missing from the URP operator's dashboard")
		}
		if r := officer.Get("/backoffice/audit"); r.Status != http.StatusForbidden {
			t.Fatalf("audit log is for admins: %d", r.Status)
		}
		// Each refusal above is a security event in the audit log, with who tried.
		var denied []audit.Event
		s.All().Where("action = ? AND outcome = ?", "security.access_denied", audit.Denied).Order("id").Find(&denied)
		if len(denied) != 3 || denied[0].ActorID != "c1" || denied[0].SubjectCF != "BNCGLI85C52L219Z" || denied[1].ActorID != "op" || denied[2].ActorID != "off" {
			t.Fatalf("access refusals audited: %+v", denied)
		}

		// The module's case type: a citizen's case is numbered, listed in "Le mie
		// pratiche" and queued for the officers holding the module's role only.
		ctx := s.Ctx(context.Background())
		citizen := cases.Actor{Kind: cases.Citizen, ID: "BNCGLI85C52L219Z"}
		cs, err := s.App.Cases().Create(ctx, citizen, "prova", "domanda", map[string]string{"motivo": "prova"})
		if err != nil {
			t.Fatal(err)
		}
		if cs, err = s.App.Cases().Apply(ctx, citizen, cs.ID, "submit", cases.Input{}); err != nil || cs.Protocol == "" {
			t.Fatalf("submit: %+v %v", cs, err)
		}
		if r := c.Get("/area-personale/pratiche"); r.Status != 200 || !strings.Contains(r.Body, cs.Protocol) ||
			!strings.Contains(r.Body, "Domanda di prova") {
			t.Fatalf("citizen's cases: %d", r.Status)
		}
		if r := officer.Get("/backoffice/prova/pratiche"); r.Status != 200 || !strings.Contains(r.Body, cs.Protocol) {
			t.Fatalf("officer's queue: %d", r.Status)
		}
		if !slices.ContainsFunc(s.App.StaffNav(), func(m web.MenuItem) bool { return m.Href == "/backoffice/prova/pratiche" }) {
			t.Fatal("the case queue is not in the staff menu")
		}
		if r := staff.Get("/backoffice/prova/pratiche"); r.Status != http.StatusForbidden {
			t.Fatalf("queue for staff without the role: %d", r.Status)
		}

		// The module's role joins the portal's list: the staff administration offers it
		// with its title and description, accepts it, and refuses a role nobody declared.
		if got := s.App.Roles().IDs(); !slices.Equal(got, []string{roles.URP, roles.Payments, probeRole, roles.Admin}) {
			t.Fatalf("portal roles: %v", got)
		}
		admin := s.Client()
		s.LoginAs(admin, web.Viewer{Kind: "staff", ID: "admin1", Roles: []string{roles.Admin}})
		form := admin.Get("/backoffice/personale/nuovo")
		if form.Status != 200 || !strings.Contains(form.Body, `value="prova_officer"`) || !strings.Contains(form.Body, "Addetto al servizio di prova") ||
			!strings.Contains(form.Body, "Vede la pagina del personale del servizio di prova.") {
			t.Fatalf("staff form lacks the module's role: %d", form.Status)
		}
		values := url.Values{"username": {"p.prova"}, "given_name": {"Piera"}, "family_name": {"Prova"},
			"email": {"p.prova@comune.example"}, "roles": {"ruolo_inventato"}}
		if r := admin.SubmitAction(form, "/backoffice/personale/nuovo", values); r.Status != http.StatusUnprocessableEntity || !strings.Contains(r.Body, `id="roles-err"`) {
			t.Fatalf("unknown role: %d", r.Status)
		}
		var n int64
		s.DB.Table("accounts").Where("username = ?", "p.prova").Count(&n)
		if n != 0 {
			t.Fatal("an account was created with an unknown role")
		}
		values["roles"] = []string{probeRole}
		if r := admin.SubmitAction(form, "/backoffice/personale/nuovo", values); r.Status != http.StatusSeeOther {
			t.Fatalf("staff with the module's role: %d", r.Status)
		}
		if a, err := s.App.Accounts().ByUsername(context.Background(), "p.prova"); err != nil || !slices.Equal(a.Roles, []string{probeRole}) {
			t.Fatalf("created: %+v %v", a, err)
		}
		if list := admin.Get("/backoffice/personale"); !strings.Contains(list.Body, "Addetto al servizio di prova") {
			t.Fatal("the staff list does not name the module's role")
		}

		// The module's job is in the runner with the platform's.
		if names := s.App.JobRunner().Names(); !slices.Contains(names, "prova/riepilogo") || !slices.Contains(names, "platform/expired-sessions") {
			t.Fatalf("jobs: %v", names)
		}

		// The module's command runs through `sportello prova conta`.
		var out, errOut bytes.Buffer
		err = app.RunCommand(context.Background(), app.CommandOptions{Modules: modules(), DB: s.DB, Stdout: &out, Stderr: &errOut},
			[]string{"prova", "conta", "--config", "ignored.yaml"})
		if err != nil || out.String() != "items=1\n" {
			t.Fatalf("command: %v %q", err, out.String())
		}
		out.Reset()
		if err := app.RunCommand(context.Background(), app.CommandOptions{Modules: modules(), DB: s.DB, Stdout: &out, Stderr: &errOut},
			[]string{"prova"}); err != nil || !strings.Contains(out.String(), "conta") {
			t.Fatalf("command list: %v %q", err, out.String())
		}
		if err := app.RunCommand(context.Background(), app.CommandOptions{Modules: modules(), DB: s.DB, Stdout: &out, Stderr: &errOut},
			[]string{"prova", "cancella"}); err == nil {
			t.Fatal("an unknown command ran")
		}
		if err := app.RunCommand(context.Background(), app.CommandOptions{Modules: modules(), Stdout: &out, Stderr: &errOut},
			[]string{"nessuno", "conta"}); !errors.Is(err, app.ErrNoSuchModule) {
			t.Fatalf("unknown module: %v", err)
		}
	})
}

// One module whose personal-area section fails costs that section, not the page.
func TestPersonalAreaSectionFails(t *testing.T) {
	t.Parallel()
	apptest.Each(t, apptest.Options{NewModules: func() []services.Module {
		return []services.Module{&probe{failArea: true}, healthyArea{}}
	}}, func(t *testing.T, s *apptest.Server) {
		c := s.Client()
		s.LoginAs(c, web.Viewer{Kind: "citizen", ID: "BNCGLI85C52L219Z", DisplayName: "Giulia Bianchi", FiscalCode: "BNCGLI85C52L219Z"})
		r := c.Get("/area-personale")
		if r.Status != http.StatusOK {
			t.Fatalf("personal area: %d", r.Status)
		}
		failed := strings.Index(r.Body, "Non riusciamo a mostrare questa sezione")
		title := strings.Index(r.Body, ">Servizio di prova</h2>")
		if failed < 0 || title < 0 || title > failed || strings.Count(r.Body, "Non riusciamo a mostrare") != 1 {
			t.Fatalf("the failing module's section lacks its notice:\n%s", r.Body)
		}
		if !strings.Contains(r.Body, "Elemento sano") || !strings.Contains(r.Body, "BNCGLI85C52L219Z") {
			t.Fatal("the rest of the personal area is missing")
		}
		if !strings.Contains(r.Body, `role="alert"`) {
			t.Fatal("the notice is not announced")
		}
	})
}

// healthyArea is a second module whose personal-area section works.
type healthyArea struct{}

func (healthyArea) Info() services.Info {
	return services.Info{ID: "sano", Title: "prova.title", Summary: "prova.summary", Description: "prova.description", Area: services.AreaComune}
}
func (healthyArea) Mount(*services.Mount) error { return nil }
func (healthyArea) PersonalArea(context.Context, string, string) ([]services.AreaSection, error) {
	return []services.AreaSection{{Title: "prova.area.title", Items: []services.AreaItem{{Label: "Elemento sano"}}}}, nil
}

// A failing job is retried and shown to admins with its error; other staff cannot see
// the page.
func TestJobsPageShowsFailedJob(t *testing.T) {
	t.Parallel()
	p := func() *probe { x := &probe{}; x.failJob.Store(true); return x }
	apptest.Each(t, apptest.Options{NewModules: func() []services.Module { return []services.Module{p()} }},
		func(t *testing.T, s *apptest.Server) {
			n, err := s.App.JobRunner().RunOnce(context.Background())
			if err != nil || n != 1 {
				t.Fatalf("runner: ran %d, %v", n, err)
			}
			admin := s.Client()
			s.LoginAs(admin, web.Viewer{Kind: "staff", ID: "admin1", Roles: []string{roles.Admin}})
			r := admin.Get("/backoffice/lavori")
			if r.Status != 200 {
				t.Fatalf("jobs page: %d", r.Status)
			}
			for _, want := range []string{"prova/riepilogo", "archivio di prova non raggiungibile", "Errore, verrà ritentata",
				"Attività non riuscite all&#39;ultima esecuzione: 1", "platform/expired-sessions", `href="/backoffice/lavori" aria-current="page"`} {
				if !strings.Contains(r.Body, want) {
					t.Errorf("jobs page lacks %q", want)
				}
			}
			if strings.Contains(r.Body, "[") && strings.Contains(r.Body, "backoffice.jobs.") {
				t.Error("a message key is missing")
			}
			officer := s.Client()
			s.LoginAs(officer, web.Viewer{Kind: "staff", ID: "off", Roles: []string{probeRole}})
			if r := officer.Get("/backoffice/lavori"); r.Status != http.StatusForbidden {
				t.Fatalf("jobs page for a non-admin: %d", r.Status)
			}
		})
}

// platformTemplateDirs and platformMessageFiles belong to the platform; every other
// templates folder and message file must be named after a built-in module.
var (
	platformTemplateDirs = []string{"area", "auth", "backoffice", "cases", "catalogue", "errors", "idp", "layouts", "locales", "pages", "partials", "payments"}
	platformMessageFiles = []string{"accounts", "anagrafe", "auth", "backoffice", "cases", "core", "enti", "feedback", "idp", "payments"}
)

// A module is one name: its id is its templates folder and its message file, and its
// message keys start with "<id>.".
func TestBuiltinModulesAreOneName(t *testing.T) {
	t.Parallel()
	ids := map[string]bool{}
	for _, m := range app.Builtin() {
		id := m.Info().ID
		ids[id] = true
		// A module may carry its pages and messages itself (services.Assets).
		var fsys fs.FS = templates.FS
		where := "templates"
		if as, ok := m.(services.Assets); ok {
			fsys, where = as.Assets(), "its assets"
		}
		if fi, err := fs.Stat(fsys, id); err != nil || !fi.IsDir() {
			t.Errorf("module %s: no %s folder in %s", id, id, where)
		}
		for _, lang := range []string{"it", "en"} {
			b, err := fs.ReadFile(fsys, path.Join("locales", lang, id+".yaml"))
			if err != nil {
				t.Errorf("module %s: no templates/locales/%s/%s.yaml", id, lang, id)
				continue
			}
			var keys map[string]any
			if err := yaml.Unmarshal(b, &keys); err != nil {
				t.Fatal(err)
			}
			for k := range keys {
				if !strings.HasPrefix(k, id+".") {
					t.Errorf("module %s: key %q in %s.yaml is not under %q", id, k, id, id+".")
				}
			}
		}
		for _, key := range []string{m.Info().Title, m.Info().Summary, m.Info().Description} {
			if !strings.HasPrefix(key, id+".") {
				t.Errorf("module %s: catalogue key %q is not its own", id, key)
			}
		}
	}
	entries, err := fs.ReadDir(templates.FS, ".")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.IsDir() && !ids[e.Name()] && !slices.Contains(platformTemplateDirs, e.Name()) {
			t.Errorf("templates/%s is neither a platform folder nor a module id", e.Name())
		}
	}
	files, _ := fs.Glob(templates.FS, "locales/*/*.yaml")
	for _, f := range files {
		name := strings.TrimSuffix(path.Base(f), ".yaml")
		if !ids[name] && !slices.Contains(platformMessageFiles, name) {
			t.Errorf("%s is neither a platform message file nor a module id", f)
		}
	}
}

// A module's assets must be named after it.
func TestModuleAssetsNamedAfterModule(t *testing.T) {
	t.Parallel()
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	_, err := app.New(context.Background(), app.Options{Modules: []services.Module{misnamed{}}, Config: cfg, FastCrypto: true})
	if err == nil || !strings.Contains(err.Error(), "altro/pagina.html") {
		t.Fatalf("misnamed assets accepted: %v", err)
	}
}

// misnamed ships a template outside its own folder.
type misnamed struct{}

func (misnamed) Info() services.Info {
	return services.Info{ID: "sbagliato", Title: "prova.title", Summary: "prova.summary", Description: "prova.description", Area: services.AreaComune}
}
func (misnamed) Mount(*services.Mount) error { return nil }
func (misnamed) Assets() fs.FS {
	return fstest.MapFS{"altro/pagina.html": {Data: []byte("x")}}
}
