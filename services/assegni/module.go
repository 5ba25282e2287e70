package assegni

import (
	"context"
	"fmt"
	"log/slog"
	"reflect"
	"time"

	"gorm.io/gorm"

	"github.com/comuni-italiani/sportello/app/cases"
	"github.com/comuni-italiani/sportello/app/jobs"
	"github.com/comuni-italiani/sportello/app/notify"
	"github.com/comuni-italiani/sportello/app/roles"
	"github.com/comuni-italiani/sportello/app/web"
	"github.com/comuni-italiani/sportello/services"
)

// ID is the module's identifier and URL segment.
const ID = "assegni"

// CaseType is the id of the module's case type: one type serves every scheme (the
// scheme is in the case's data), so a comune's own scheme needs no code.
const CaseType = "domanda"

// RoleOfficer is the social services officer who works the applications.
const RoleOfficer = "assegni_officer"

// Settings are the module's configuration (modules.settings.assegni).
type Settings struct {
	// SchemesFile is a YAML file with more schemes (the same shape as the shipped
	// schemes/*.yaml); a scheme with a shipped id replaces it.
	SchemesFile string `yaml:"schemes_file"`
	// Schemes are more schemes inline; they come last and win over the file.
	Schemes []Scheme `yaml:"schemes"`
	// ReminderDays is how many days before the last day to apply a citizen with an
	// unfinished application is reminded (default 15).
	ReminderDays int `yaml:"reminder_days"`
}

// Validate refuses settings that cannot work (0 reminder days means the default).
func (s Settings) Validate() error {
	if s.ReminderDays < 0 || s.ReminderDays > 365 {
		return fmt.Errorf("assegni: reminder_days must be 0-365 (0: 15 days)")
	}
	return nil
}

// settingsFor returns the settings in force for the ente of ctx: the installation's
// (modules.settings.assegni) with the ente's own laid over them (enti[].modules.assegni,
// `sportello enti update --set assegni.<key>=<value>`). Every per-comune read goes
// through it: reminder_days. schemes_file and schemes are installation-wide: the
// catalogue is read once at Mount, and a comune's own scheme names its enti (Scheme.Enti);
// an ente's settings that touch them are refused here, logged, and the installation's
// settings are used, as for any setting that does not validate.
func (m *Module) settingsFor(ctx context.Context) Settings {
	s := m.settings
	if m.settingsOf == nil {
		return s
	}
	err := m.settingsOf(ctx, &s)
	if err == nil && (s.SchemesFile != m.settings.SchemesFile || !reflect.DeepEqual(s.Schemes, m.settings.Schemes)) {
		err = fmt.Errorf("assegni: schemes_file and schemes are installation-wide (modules.settings.assegni); a comune's own scheme lists its enti")
	}
	if err != nil {
		if m.log != nil {
			m.log.ErrorContext(ctx, "assegni: settings of the ente refused, using the installation's", "err", err)
		}
		return m.settings
	}
	if s.ReminderDays <= 0 {
		s.ReminderDays = 15
	}
	return s
}

// Module implements services.Module and its optional interfaces.
type Module struct {
	cat      *Catalogue
	settings Settings // the installation's, with the defaults: read through settingsFor
	// settingsOf decodes the settings for an ente (Mount.SettingsFor).
	settingsOf func(ctx context.Context, out any) error
	cases      *cases.Service
	render     *web.Renderer
	i18n       *web.I18n
	mail       *notify.Outbox
	log        *slog.Logger
	store      func(ctx context.Context) *gorm.DB
	each       func(ctx context.Context, fn func(ctx context.Context) error) error
	baseURL    func(ctx context.Context) string
	now        func() time.Time
}

// Option adjusts a Module built by New.
type Option func(*Module)

// WithClock replaces the clock (tests: deadlines).
func WithClock(now func() time.Time) Option { return func(m *Module) { m.now = now } }

// New returns the module, ready to be mounted.
func New(opts ...Option) *Module {
	m := &Module{now: time.Now}
	for _, o := range opts {
		o(m)
	}
	return m
}

// Info implements services.Module.
func (*Module) Info() services.Info {
	return services.Info{
		ID:          ID,
		Title:       "assegni.title",
		Summary:     "assegni.summary",
		Description: "assegni.description",
		Area:        services.AreaSociale,
		Audience:    "assegni.audience",
		NeedsLogin:  true,
		Needs:       []string{"assegni.needs.isee", "assegni.needs.iban", "assegni.needs.documents"},
		Start:       "misure",
		Order:       20,
		HowTo:       "assegni.card.howto",
		Outcome:     "assegni.card.outcome",
		Times:       "assegni.card.times",
		Cost:        "assegni.card.cost",
		Conditions:  "assegni.card.conditions",
		Office:      "assegni.card.office",
		Topics:      []string{"assegni.topic.famiglia", "assegni.topic.sostegno"},
		LifeEvents:  []string{"nascita-figlio", "adozione-figlio"},
		Updated:     "2026-12-02",
	}
}

// Roles implements services.Roles.
func (*Module) Roles() []roles.Def {
	return []roles.Def{{ID: RoleOfficer, Title: "assegni.role.officer", Description: "assegni.role.officer_desc"}}
}

// StaffNav implements services.StaffNav (the queue's entry comes from the platform).
func (*Module) StaffNav() []web.MenuItem {
	return []web.MenuItem{{Label: "assegni.export.nav", Href: "/backoffice/" + ID + "/esportazione", Roles: []string{RoleOfficer}}}
}

// Jobs implements services.Jobs.
func (m *Module) Jobs() []jobs.Job {
	return []jobs.Job{{Name: ID + "/promemoria", Schedule: jobs.DailyAt(9, 0), Run: m.remind}}
}

// Mount implements services.Module.
func (m *Module) Mount(mt *services.Mount) error {
	if err := mt.Settings(&m.settings); err != nil {
		return err
	}
	if err := m.settings.Validate(); err != nil {
		return err
	}
	m.settingsOf = mt.SettingsFor
	if m.settings.ReminderDays <= 0 {
		m.settings.ReminderDays = 15
	}
	cat, err := LoadCatalogue(m.settings)
	if err != nil {
		return err
	}
	m.cat, m.cases, m.render, m.mail, m.log = cat, mt.Cases, mt.Render, mt.Mail, mt.Log
	m.i18n = mt.Render.I18n()
	m.store, m.each, m.baseURL = mt.Store, mt.ForEachEnte, mt.BaseURL

	if err := mt.Cases.Register(cases.Type{
		Module: ID, ID: CaseType, Title: "assegni.case.title", Role: RoleOfficer,
		Transitions: cases.StandardTransitions(),
		Deadlines: map[cases.State]cases.Deadline{
			// Law 241/1990: the comune decides within 30 days of the application.
			cases.Submitted:         {Within: 30 * 24 * time.Hour, FromSubmission: true},
			cases.InReview:          {Within: 30 * 24 * time.Hour, FromSubmission: true},
			cases.WaitingForCitizen: {Within: 30 * 24 * time.Hour},
		},
		// The term stops while the office waits for the citizen's integration.
		ClockStops: []cases.State{cases.WaitingForCitizen},
		Hook:       m.hook,
		Facts:      m.facts,
	}); err != nil {
		return err
	}
	form := m.form()
	form.Mount(mt.Citizen, "/domanda")

	mt.Public.GET("/misure", m.measures)
	mt.Citizen.GET("/verifica", m.eligibility)
	staff := mt.Staff.Group("", mt.RequireRole(RoleOfficer))
	staff.GET("/esportazione", m.exportPage)
	staff.GET("/esportazione.csv", m.exportCSV)
	return nil
}

// Catalogue is the module's schemes (after Mount).
func (m *Module) Catalogue() *Catalogue { return m.cat }
