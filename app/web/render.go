package web

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"path"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/comuni-italiani/sportello/app/roles"
	"github.com/comuni-italiani/sportello/config"
)

// Renderer holds every page template, parsed once at start. A page file is parsed
// together with all layouts and partials, so it defines "title" and "content" (and,
// optionally, "head" and "scripts") and the base layout places them.
type Renderer struct {
	pages map[string]*template.Template
	i18n  *I18n
	site  Site
	// comuneFor returns the request's ente, when the app resolves one (app/enti).
	comuneFor func(context.Context) (config.Comune, bool)
	// shared holds pages rendered once for every anonymous visitor (RenderShared).
	shared sharedCache
}

// Site is what every page shows about the comune and the portal.
type Site struct {
	Comune  config.Comune
	BaseURL string
	// Menu is the header navigation, in order.
	Menu []MenuItem
	// Dev is true in development mode (the page shows a "demo" ribbon).
	Dev bool
	// Modules are the ids of the installation's enabled modules.
	Modules []string
}

// Offers reports whether the page's comune offers module id: the installation runs it
// and the comune has not switched it off. Platform pages use it for links into a
// module (the footer's "Verifica un certificato" needs the certificates module).
func (s Site) Offers(id string) bool {
	return slices.Contains(s.Modules, id) && !slices.Contains(s.Comune.DisabledModules, id)
}

// MenuItem is one entry of a navigation menu; Label is a message key.
type MenuItem struct {
	// Label is the entry's message key; with Of set, the message gets Of's text as
	// {{.Title}}.
	Label string
	// Of is a message key naming what the entry is about: the case queues' entries are
	// "cases.staff.nav" of the module's title ("Pratiche: Permessi ZTL"), the words of
	// the queue's heading, so that they never read like the module's own entries.
	Of   string
	Href string
	// Roles limits a staff menu entry to these roles (any of them); empty means all staff.
	Roles []string
}

// Viewer is the logged-in person as pages see them. The auth package puts one in the
// request context with SetViewer; nil means anonymous.
type Viewer struct {
	Kind        string // "citizen" or "staff"
	ID          string // account id or username
	DisplayName string
	FiscalCode  string
	Roles       []string
	// Ente is the ente on whose host the person logged in: the session is valid only
	// there (a session cookie carried to another comune's host is no login).
	Ente string `json:",omitempty"`
}

// HasRole reports whether the viewer holds role (admins hold every role).
func (v *Viewer) HasRole(role string) bool {
	if v == nil {
		return false
	}
	for _, r := range v.Roles {
		if r == role || r == roles.Admin {
			return true
		}
	}
	return false
}

const ctxViewer = "web.viewer"

// SetViewer records who is logged in for this request.
func SetViewer(c echo.Context, v *Viewer) { c.Set(ctxViewer, v) }

// CurrentViewer returns who is logged in, or nil.
func CurrentViewer(c echo.Context) *Viewer {
	v, _ := c.Get(ctxViewer).(*Viewer)
	return v
}

// Page is the data every template receives. Handlers pass their own data as Data.
type Page struct {
	Lang    string
	Path    string
	CSRF    string
	Flashes []Flash
	Site    Site
	Viewer  *Viewer
	// StaffMenu is the back-office menu, filled for staff pages.
	StaffMenu []MenuItem
	Status    int
	Data      any
	i18n      *I18n
}

// T translates a message key into the page's language.
func (p *Page) T(key string, args ...any) string { return p.i18n.T(p.Lang, key, args...) }

// Has reports whether the message key exists (for labels with a fallback, such as
// an audit action recorded by a module that has no words for it yet).
func (p *Page) Has(key string) bool { return p.i18n.Has(key) }

// OtherLang is the language the switch offers.
func (p *Page) OtherLang() string {
	if p.Lang == "it" {
		return "en"
	}
	return "it"
}

// Rome is the time zone every date is shown in.
var Rome = mustLoadRome()

func mustLoadRome() *time.Location {
	loc, err := time.LoadLocation("Europe/Rome")
	if err != nil {
		// time/tzdata is imported by the binary, so this only happens in odd builds.
		return time.FixedZone("CET", 3600)
	}
	return loc
}

// Date formats t as a date in Europe/Rome (02/01/2006).
func (p *Page) Date(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.In(Rome).Format("02/01/2006")
}

// DateTime formats t as date and time in Europe/Rome.
func (p *Page) DateTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.In(Rome).Format("02/01/2006 15:04")
}

// ISODate formats t for <time datetime> and date inputs.
func (p *Page) ISODate(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.In(Rome).Format("2006-01-02")
}

// Tenths formats n tenths as a decimal number in the page's language (42 -> "4,2").
func (p *Page) Tenths(n int64) string {
	sep := ","
	if p.Lang == "en" {
		sep = "."
	}
	return fmt.Sprintf("%d%s%d", n/10, sep, n%10)
}

var funcs = template.FuncMap{
	"join":  strings.Join,
	"lower": strings.ToLower,
	"add":   func(a, b int) int { return a + b },
	"seq": func(n int) []int {
		s := make([]int, n)
		for i := range s {
			s[i] = i
		}
		return s
	},
	// dict builds a map for passing several values to a partial.
	"dict": func(kv ...any) (map[string]any, error) {
		if len(kv)%2 != 0 {
			return nil, fmt.Errorf("dict: odd number of arguments")
		}
		m := map[string]any{}
		for i := 0; i < len(kv); i += 2 {
			m[fmt.Sprint(kv[i])] = kv[i+1]
		}
		return m, nil
	},
	"hasPrefix": strings.HasPrefix,
	// list builds a slice, for a partial that takes several values in order (the
	// breadcrumb's label keys and addresses).
	"list": func(v ...any) []any { return v },
	"mod":  func(a, b int) int { return a % b },
	// crumbLabel is a breadcrumb's text: a message key, or data after "=".
	"crumbLabel": func(p *Page, v any) string {
		s := fmt.Sprint(v)
		if rest, ok := strings.CutPrefix(s, "="); ok {
			return rest
		}
		return p.T(s)
	},
}

// NewRenderer parses the templates in fsys: layouts/*.html and partials/*.html are
// shared; every other .html file is a page named by its path ("home.html",
// "urp/offices.html"). Pages in extra (modules' own templates) are added the same way;
// a page name found twice is an error.
func NewRenderer(fsys fs.FS, i *I18n, site Site, extra ...fs.FS) (*Renderer, error) {
	base := template.New("").Funcs(funcs)
	for _, pattern := range []string{"layouts/*.html", "partials/*.html"} {
		files, err := fs.Glob(fsys, pattern)
		if err != nil {
			return nil, err
		}
		for _, f := range files {
			b, err := fs.ReadFile(fsys, f)
			if err != nil {
				return nil, err
			}
			if _, err := base.New(f).Parse(string(b)); err != nil {
				return nil, fmt.Errorf("template %s: %w", f, err)
			}
		}
	}
	r := &Renderer{pages: map[string]*template.Template{}, i18n: i, site: site}
	for n, fsys := range append([]fs.FS{fsys}, extra...) {
		err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || path.Ext(p) != ".html" {
				return err
			}
			if n == 0 && (strings.HasPrefix(p, "layouts/") || strings.HasPrefix(p, "partials/")) {
				return nil
			}
			if _, dup := r.pages[p]; dup {
				return fmt.Errorf("template %s: defined twice", p)
			}
			b, err := fs.ReadFile(fsys, p)
			if err != nil {
				return err
			}
			t, err := base.Clone()
			if err != nil {
				return err
			}
			if _, err := t.New(p).Parse(string(b)); err != nil {
				return fmt.Errorf("template %s: %w", p, err)
			}
			r.pages[p] = t
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return r, nil
}

// Has reports whether a page template exists.
func (r *Renderer) Has(name string) bool { _, ok := r.pages[name]; return ok }

// I18n returns the message catalogue.
func (r *Renderer) I18n() *I18n { return r.i18n }

// SetComuneFunc makes pages show the ente of their request (the letterhead, header
// and footer) instead of the configured comune; f returns false outside an ente.
func (r *Renderer) SetComuneFunc(f func(context.Context) (config.Comune, bool)) { r.comuneFor = f }

// SetMenu replaces the header menu (the app builds it after mounting modules).
func (r *Renderer) SetMenu(m []MenuItem) {
	r.site.Menu = m
	r.shared.clear()
}

// Site returns the site-wide page data.
func (r *Renderer) Site() Site { return r.site }

// NewPage builds the page data for the current request.
func (r *Renderer) NewPage(c echo.Context, status int, data any) *Page {
	p := r.newPage(c, status, data)
	p.Flashes = popFlashes(c)
	return p
}

// newPage is NewPage without the flash messages, which it would consume.
func (r *Renderer) newPage(c echo.Context, status int, data any) *Page {
	p := &Page{
		Lang:   Lang(c),
		Path:   c.Request().URL.Path,
		Site:   r.siteFor(c.Request().Context()),
		Viewer: CurrentViewer(c),
		Status: status,
		Data:   data,
		i18n:   r.i18n,
	}
	if tok, ok := c.Get(ctxCSRF).(string); ok {
		p.CSRF = tok
	}
	if m, ok := c.Get(ctxStaffMenu).([]MenuItem); ok {
		p.StaffMenu = m
	}
	return p
}

const ctxStaffMenu = "web.staffmenu"

func (r *Renderer) siteFor(ctx context.Context) Site {
	s := r.site
	if r.comuneFor != nil {
		if c, ok := r.comuneFor(ctx); ok {
			s.Comune = c
		}
	}
	return s
}

// SetStaffMenu gives the request's pages the back-office menu.
func SetStaffMenu(c echo.Context, m []MenuItem) { c.Set(ctxStaffMenu, m) }

// Render executes page name into a buffer and writes it with status. Nothing is
// written if the template fails, so the error handler can still send a clean page.
func (r *Renderer) Render(c echo.Context, status int, name string, data any) error {
	return r.render(c, status, name, r.NewPage(c, status, data))
}

// render executes page name with the page data p.
func (r *Renderer) render(c echo.Context, status int, name string, p *Page) error {
	t, ok := r.pages[name]
	if !ok {
		return fmt.Errorf("web: no template %q", name)
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layouts/base.html", p); err != nil {
		return fmt.Errorf("web: render %s: %w", name, err)
	}
	return c.HTMLBlob(status, buf.Bytes())
}

// RenderShared is Render for a page that is the same for every anonymous visitor:
// its content depends only on key (which the caller builds from everything its data
// depends on) and on what the layout shows (language, path, status, the ente's data,
// the menus). For a visitor who is not signed in and has no message waiting, the page
// is rendered once and then served from a bounded cache, with the request's CSRF token
// put in the place of a marker; data is called only to render. Anyone else gets
// Render. The verification page, the portal's busiest public page, uses it: the
// template was most of its cost.
func (r *Renderer) RenderShared(c echo.Context, status int, name, key string, data func() any) error {
	flashes := popFlashes(c)
	if CurrentViewer(c) != nil || len(flashes) > 0 || c.Get(ctxStaffMenu) != nil {
		p := r.newPage(c, status, data())
		p.Flashes = flashes
		return r.render(c, status, name, p)
	}
	p := r.newPage(c, status, nil)
	ck := strings.Join([]string{name, key, p.Lang, p.Path, strconv.Itoa(status), comuneKey(p.Site.Comune)}, "\x00")
	token := p.CSRF
	page, ok := r.shared.get(ck)
	if !ok {
		t, found := r.pages[name]
		if !found {
			return fmt.Errorf("web: no template %q", name)
		}
		mark := r.shared.marker()
		p.Data, p.CSRF = data(), mark
		var buf bytes.Buffer
		if err := t.ExecuteTemplate(&buf, "layouts/base.html", p); err != nil {
			return fmt.Errorf("web: render %s: %w", name, err)
		}
		page = sharedPage{parts: bytes.Split(buf.Bytes(), []byte(mark))}
		r.shared.put(ck, page)
	}
	body := page.with(token)
	// With its length known net/http writes the page at once instead of in chunks of
	// its buffer's size (fewer system calls: they were most of the remaining cost).
	// The gzip middleware drops the header when it compresses.
	c.Response().Header().Set(echo.HeaderContentLength, strconv.Itoa(len(body)))
	return c.HTMLBlob(status, body)
}

// comuneKey identifies everything the layout shows of the ente: a change of its data
// is a new key, so no stale page is served. The text (fmt's %#v of the whole record,
// module settings included) was a quarter of the cost of a shared page, so it is kept
// per ente and made again only when the record differs (reflect.DeepEqual: the same
// maps and slices compare by address, so an unchanged record is cheap to compare).
func comuneKey(c config.Comune) string {
	comuneKeys.mu.Lock()
	m, ok := comuneKeys.m[c.ID]
	comuneKeys.mu.Unlock()
	if ok && reflect.DeepEqual(m.c, c) {
		return m.key
	}
	key := fmt.Sprintf("%#v", c)
	comuneKeys.mu.Lock()
	if comuneKeys.m == nil || len(comuneKeys.m) >= 4096 {
		comuneKeys.m = map[string]comuneKeyMemo{}
	}
	comuneKeys.m[c.ID] = comuneKeyMemo{c: c, key: key}
	comuneKeys.mu.Unlock()
	return key
}

// comuneKeys remembers the last key made for each ente (comuneKey).
var comuneKeys struct {
	mu sync.Mutex
	m  map[string]comuneKeyMemo
}

type comuneKeyMemo struct {
	c   config.Comune
	key string
}

// sharedPage is a rendered page cut where the CSRF token goes.
type sharedPage struct{ parts [][]byte }

func (s sharedPage) with(token string) []byte {
	n := len(token) * (len(s.parts) - 1)
	for _, p := range s.parts {
		n += len(p)
	}
	out := make([]byte, 0, n)
	for i, p := range s.parts {
		if i > 0 {
			out = append(out, token...)
		}
		out = append(out, p...)
	}
	return out
}

// sharedCacheBytes bounds the memory of the shared pages (about 30 kB each).
const sharedCacheBytes = 16 << 20

// sharedCache maps keys to rendered pages; when full it starts again empty.
type sharedCache struct {
	mu    sync.Mutex
	pages map[string]sharedPage
	size  int
	mark  string
}

func (s *sharedCache) get(k string) (sharedPage, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.pages[k]
	return p, ok
}

func (s *sharedCache) put(k string, p sharedPage) {
	n := len(k)
	for _, b := range p.parts {
		n += len(b)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pages == nil || s.size+n > sharedCacheBytes {
		s.pages, s.size = map[string]sharedPage{}, 0
	}
	s.pages[k] = p
	s.size += n
}

func (s *sharedCache) clear() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pages, s.size = nil, 0
}

// marker is the stand-in for the CSRF token while a shared page is rendered: random,
// so that no page text can contain it, and made of letters and digits, which every
// template context prints as they are.
func (s *sharedCache) marker() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mark == "" {
		var b [16]byte
		_, _ = rand.Read(b[:])
		s.mark = "csrf" + hex.EncodeToString(b[:])
	}
	return s.mark
}

// RenderPartial executes a page without the layout into a byte slice (for mail bodies).
func (r *Renderer) RenderPartial(name, block, lang string, data any) ([]byte, error) {
	t, ok := r.pages[name]
	if !ok {
		return nil, fmt.Errorf("web: no template %q", name)
	}
	var buf bytes.Buffer
	p := &Page{Lang: lang, Site: r.site, Data: data, i18n: r.i18n}
	if err := t.ExecuteTemplate(&buf, block, p); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// Redirect sends a 303 See Other, the answer to a successful form post.
func Redirect(c echo.Context, to string) error { return c.Redirect(http.StatusSeeOther, to) }
