// Package services defines the contract between the platform and a citizen service
// module ("certificati", "ztl", ...).
//
// A module is one package under services/ that implements Module. The platform calls
// Info to list it in the catalogue and Mount once at start to give it its routes and
// dependencies: nothing happens in init(). Optional interfaces add abilities:
// Migrator (its tables), StaffNav (entries in the back-office menu), Stats (figures on
// the back-office dashboard), PersonalArea (sections of the citizen's personal area),
// DemoSeeder (fictional data for `sportello demo`), Roles (the staff roles its pages
// need), Jobs (scheduled work, see app/jobs), Commands (`sportello <id> <command>`)
// Searcher (records the search box finds) and Stopper (work to finish at shutdown).
// The list of built-in modules is explicit, in app/modules.go; the configuration can
// switch any of them off.
//
// A module is one folder: its id is also the name of its templates folder
// (templates/<id>/) and of its message files (templates/locales/<lang>/<id>.yaml), and
// nothing outside its package and its line in app/modules.go changes to add it.
//
// Modules never import each other; what two modules share belongs to the platform.
package services

import (
	"context"
	"io"
	"io/fs"
	"log/slog"

	"github.com/labstack/echo/v4"
	"gorm.io/gorm"

	"github.com/comuni-italiani/sportello/app/cases"
	"github.com/comuni-italiani/sportello/app/jobs"
	"github.com/comuni-italiani/sportello/app/notify"
	"github.com/comuni-italiani/sportello/app/payments"
	"github.com/comuni-italiani/sportello/app/roles"
	"github.com/comuni-italiani/sportello/app/search"
	"github.com/comuni-italiani/sportello/app/store"
	"github.com/comuni-italiani/sportello/app/web"
	"github.com/comuni-italiani/sportello/config"
)

// Module is one citizen service in the catalogue.
type Module interface {
	// Info describes the module for the catalogue. It must not depend on Mount.
	Info() Info
	// Mount registers routes and keeps dependencies. It is called once at start.
	Mount(m *Mount) error
}

// Info describes a module in the catalogue. Every text is a message key, present in
// every language.
type Info struct {
	// ID is the module's stable identifier and URL segment: /servizi/<id>.
	ID string
	// Title, Summary and Description are message keys for the service sheet.
	Title, Summary, Description string
	// Area is the thematic area the catalogue groups the service under.
	Area Area
	// Audience is a message key naming who may use the service ("all residents").
	Audience string
	// NeedsLogin says the service requires a citizen login (SPID, CIE or URP
	// credentials).
	NeedsLogin bool
	// Needs lists message keys of what the citizen must have at hand (documents, fees).
	Needs []string
	// Start is the path, relative to /servizi/<id>/, where "Go to the service" leads.
	Start string
	// GuestStart, when set, is the path (relative to /servizi/<id>/) of the same service
	// without logging in (for instance booking an appointment with only an email
	// address, as the Designers Italia model expects); the service card offers it
	// next to Start.
	GuestStart string
	// Order sorts services within an area (lower first).
	Order int

	// The further sections of the service card of the Designers Italia model for
	// comuni ("scheda servizio"), each a message key; Description, Audience and Needs
	// above are its "Descrizione", "A chi è rivolto" and "Cosa serve".
	HowTo      string // Come fare
	Outcome    string // Cosa si ottiene
	Times      string // Tempi e scadenze
	Cost       string // Quanto costa
	Conditions string // Condizioni di servizio
	// Office is the responsible office and its contacts ("Contatti").
	Office string
	// Topics are the model's "Argomenti", message keys.
	Topics []string
	// LifeEvents are the model's "eventi della vita" the service belongs to (ids such as
	// "nascita-figlio", "cambio-residenza"; the catalogue groups services by them).
	LifeEvents []string
	// Updated is the date the card's content was last reviewed, "2006-01-02".
	Updated string
}

// Area is a thematic area of the catalogue, named as in the Designers Italia model
// for municipal websites.
type Area string

// The thematic areas, in catalogue order. Each has the message keys
// "area.<id>.title" and "area.<id>.summary".
const (
	AreaAnagrafe  Area = "anagrafe-stato-civile"
	AreaSociale   Area = "salute-benessere-assistenza"
	AreaMobilita  Area = "mobilita-trasporti"
	AreaComune    Area = "comune-informazioni"
	AreaTributi   Area = "tributi-finanze"
	AreaEducation Area = "educazione-formazione"
)

// Areas lists the areas in the order the catalogue shows them.
var Areas = []Area{AreaAnagrafe, AreaSociale, AreaMobilita, AreaEducation, AreaTributi, AreaComune}

// Mount carries everything a module may use. Route groups already carry their guards:
// Citizen requires a logged-in citizen, Staff a logged-in staff member (a module adds
// role checks with RequireRole), Public nothing.
type Mount struct {
	// Public is /servizi/<id> with no login required.
	Public *web.Routes
	// Citizen is /servizi/<id> for logged-in citizens.
	Citizen *web.Routes
	// Staff is /backoffice/<id> for logged-in staff.
	Staff *web.Routes
	// Site is the site root, for public pages outside /servizi (such as /verifica).
	Site *web.Routes
	// RequireRole returns middleware that admits staff holding any of roles.
	RequireRole func(roles ...string) echo.MiddlewareFunc

	// DB is the installation's handle. Statements through it on an ente-owned table
	// (see EnteTables) are refused by the store's guard: use Store(ctx) for the ente of
	// a request or of a job's pass (ForEachEnte), or enti.AllEnti(DB, reason) for the
	// rare statement that must span enti (a Union's report).
	DB *gorm.DB
	// Store returns DB bound to ctx and scoped to ctx's ente: every statement on an
	// ente-owned table is confined to that ente and rows created through it get it.
	// The request's ente is in every handler's c.Request().Context(); outside a
	// request (a job) it comes from ForEachEnte. Without an ente every statement on an
	// ente-owned table fails (enti.ErrUnscoped).
	Store func(ctx context.Context) *gorm.DB
	// ForEachEnte calls fn once for every ente that offers the module, with a context
	// carrying that ente (so Store, Mail, BaseURL and Cases work for it), and joins the
	// errors: one ente's failure does not stop the others. Jobs use it.
	ForEachEnte func(ctx context.Context, fn func(ctx context.Context) error) error
	// BaseURL returns the absolute address of the portal of ctx's ente, without a
	// trailing slash ("https://servizi.comune.valdoria.it"): links in mails, QR codes,
	// return addresses given to other systems.
	BaseURL func(ctx context.Context) string
	// ComuneOf returns the name, address and contacts of ente id (a record's EnteID),
	// for what is printed long after the request (a PDF downloaded again, a letter);
	// BaseURLOf the address of its portal.
	ComuneOf  func(id string) config.Comune
	BaseURLOf func(id string) string
	// Mail queues messages in the outbox, ideally in the same transaction as the
	// change they report (Mail.Enqueue(ctx, tx, msg)).
	Mail     *notify.Outbox
	Render   *web.Renderer
	Validate *web.Validator
	Log      *slog.Logger
	Config   config.Config
	// Settings decodes the module's own configuration section into out: the
	// installation's modules.settings.<id>, for what is read once at Mount.
	Settings func(out any) error
	// SettingsFor decodes the module's settings for ctx's ente into out: the
	// installation's modules.settings.<id> with the ente's own laid over it (the
	// configuration's enti[].modules.<id>, or `sportello enti update --set
	// <id>.<key>=<value>`), then calls out's Validate() error if it has one. Fill out
	// with the defaults first, as for Settings. Unknown keys and wrong types are errors.
	SettingsFor func(ctx context.Context, out any) error
	// Cases is the case workflow: a module declares its case types with
	// Cases.Register during Mount and gets the citizen's and the staff's case pages,
	// the back-office menu entry and the dashboard figures for free.
	Cases *cases.Service
	// Payments asks citizens to pay through pagoPA: a module creates debt positions
	// (Payments.Request), sends the payer to Checkout or gives them the notice, and
	// learns of the payment through a hook (Payments.OnPaid) that runs exactly once,
	// in the transaction that records the receipt. Payments.Enabled(ctx) is false for
	// a comune that has not connected pagoPA.
	Payments *payments.Service
}

// Migrator is implemented by modules that own tables.
type Migrator interface {
	// Migrations returns forward-only steps with IDs prefixed "<module id>/".
	Migrations() []*store.Migration
}

// EnteTables is implemented by modules that own tables holding a comune's data
// (applications, bookings, permits: nearly every table). Each such table has the
// column ente_id (TEXT NOT NULL), first in its primary key, in each unique constraint
// and each foreign key to another ente-owned table, so that nothing unique is shared
// between two comuni and the schema can be distributed by ente. The platform
// registers the tables with the store's guard before Mount: from then on every GORM
// statement on them must come through Mount.Store(ctx) (or enti.AllEnti).
type EnteTables interface {
	EnteTables() []string
}

// StaffNav is implemented by modules with back-office pages.
type StaffNav interface {
	// StaffNav returns the module's entries in the back-office menu (absolute paths).
	StaffNav() []web.MenuItem
}

// Stat is one figure on the back-office dashboard.
type Stat struct {
	// Label is a message key.
	Label string
	Value int64
	// Href optionally links to the page behind the figure.
	Href string
	// Roles limits the figure to staff holding any of these roles; empty means all.
	Roles []string
}

// Stats is implemented by modules that show figures on the dashboard.
type Stats interface {
	Stats(ctx context.Context) ([]Stat, error)
}

// AreaSection is one block of the citizen's personal area ("Your certificates").
type AreaSection struct {
	// Title is a message key.
	Title string
	// Items are the entries, newest first.
	Items []AreaItem
	// More links to the module's full list.
	More string
	// Tab is the personal area's tab of the Designers Italia model the section
	// belongs to: TabDesk (default: "Scrivania"), TabMessages ("Messaggi"),
	// TabActivity ("Attività"). The "Servizi" tab lists the services themselves.
	Tab string
}

// The personal area's tabs a section may name.
const (
	TabDesk     = ""
	TabMessages = "messaggi"
	TabActivity = "attivita"
)

// AreaItem is one entry in a personal-area section.
type AreaItem struct {
	Label  string // plain text, already localized or data (e.g. "Stato di famiglia")
	Detail string
	Status string // message key
	Href   string
}

// PersonalArea is implemented by modules that show the citizen's own records.
type PersonalArea interface {
	// PersonalArea returns the sections for the citizen with fiscal code cf, in lang.
	PersonalArea(ctx context.Context, cf, lang string) ([]AreaSection, error)
}

// DemoSeeder is implemented by modules that add fictional data for the demo comune.
// It must be idempotent.
type DemoSeeder interface {
	SeedDemo(ctx context.Context, db *gorm.DB) error
}

// Assets is implemented by modules that carry their page templates and messages in
// their own package (an embed.FS) instead of under the portal's templates/ folder.
// The file system holds <module id>/*.html pages (rendered as "<module id>/x.html",
// with the portal's layouts and partials) and locales/<lang>/<module id>.yaml message
// files, in every language; app.New refuses any other file.
type Assets interface {
	Assets() fs.FS
}

// Roles is implemented by modules whose staff pages need roles of their own. The
// portal's role list (offered and accepted by the staff administration) is the
// platform's roles and every enabled module's. Export one constant per role id in the
// module and use it in RequireRole, StaffNav and Stat. Title and Description are
// message keys in the module's own message file.
type Roles interface {
	Roles() []roles.Def
}

// Jobs is implemented by modules with scheduled work (reminders, expiries,
// escalations). Job names start with "<module id>/". Each occurrence runs once across
// all replicas; see app/jobs.
type Jobs interface {
	Jobs() []jobs.Job
}

// Command is one `sportello <module id> <name> [args]` subcommand.
type Command struct {
	// Name is the subcommand's name.
	Name string
	// Usage is the one-line synopsis shown by `sportello <module id>` ("import FILE").
	Usage string
	// Summary says in one line what the command does (English: operators' console).
	Summary string
	// Run does the work. It returns an error for bad arguments or a failure; the
	// process then exits non-zero.
	Run func(ctx context.Context, env *CommandEnv, args []string) error
}

// CommandEnv is what a command may use: the database (opened on demand, so that
// offline commands need none), the configuration and the module's own section, a
// logger and the console.
type CommandEnv struct {
	// OpenDB opens the database and checks its schema is current (the caller runs
	// `sportello migrate` otherwise). It is closed when the command returns.
	OpenDB   func(ctx context.Context) (*gorm.DB, error)
	Config   config.Config
	Log      *slog.Logger
	Stdout   io.Writer
	Stderr   io.Writer
	Settings func(out any) error
}

// Commands is implemented by modules with command-line subcommands. cmd/sportello
// dispatches `sportello <module id> ...` to them without knowing the module.
type Commands interface {
	Commands() []Command
}

// Searcher is implemented by modules whose records the portal's search box should
// find besides the service's own card (the offices of the URP, say). SearchDocs returns
// them in lang, for the ente of ctx; the platform matches the query (app/search).
type Searcher interface {
	SearchDocs(ctx context.Context, lang string) ([]search.Doc, error)
}

// Stopper is implemented by modules that hold work in memory (a batch of log rows, a
// background goroutine). The platform calls Stop once when the portal shuts down, after
// the last request has been answered, and when the App is closed; Stop must write what
// is pending and may be called more than once.
type Stopper interface {
	Stop(ctx context.Context) error
}
