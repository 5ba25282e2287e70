package ztl

import (
	"context"
	_ "embed" // openapi.yaml
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"gorm.io/gorm"

	"github.com/comuni-italiani/sportello/app/cases"
	"github.com/comuni-italiani/sportello/app/enti"
	"github.com/comuni-italiani/sportello/app/notify"
	"github.com/comuni-italiani/sportello/app/payments"
	"github.com/comuni-italiani/sportello/app/pdfdoc"
	"github.com/comuni-italiani/sportello/app/roles"
	"github.com/comuni-italiani/sportello/app/stamp"
	"github.com/comuni-italiani/sportello/app/web"
	"github.com/comuni-italiani/sportello/services"
)

// ID is the module's identifier and URL segment.
const ID = "ztl"

// CaseType is the id of the permit application's case type.
const CaseType = "permesso"

// Staff roles.
const (
	// RoleOfficer is the mobility officer: decides applications, revokes permits,
	// manages the gate systems' keys.
	RoleOfficer = "mobility_officer"
	// RolePolice is the local police: plate checks ("was X allowed at T").
	RolePolice = "ztl_police"
)

//go:embed openapi.yaml
var openAPI []byte

// Settings are modules.settings.ztl.
type Settings struct {
	// PhotoRetentionDays is how long transit photos are kept (default 30).
	PhotoRetentionDays int `yaml:"photo_retention_days"`
	// ReminderDays is how many days before a permit (or badge) expires its holder is
	// reminded (default 30).
	ReminderDays int `yaml:"reminder_days"`
	// PagoPAFees: fees are paid through pagoPA and a permit with a fee is active once
	// paid (payment.go).
	PagoPAFees bool `yaml:"pagopa_fees"`
	// FeeReminderDays is how many days before an unpaid fee's due date the holder is
	// reminded to pay (default 7; with pagopa_fees). The fee is due within 30 days, so
	// at most 29: a longer period would remind at the approval itself.
	FeeReminderDays int `yaml:"fee_reminder_days"`
}

// Validate refuses settings that cannot work (0 days means the default).
func (s Settings) Validate() error {
	switch {
	case s.PhotoRetentionDays < 0 || s.PhotoRetentionDays > 3650:
		return fmt.Errorf("ztl: photo_retention_days must be 0-3650 (0: 30 days)")
	case s.ReminderDays < 0 || s.ReminderDays > 365:
		return fmt.Errorf("ztl: reminder_days must be 0-365 (0: 30 days)")
	case s.FeeReminderDays < 0 || s.FeeReminderDays >= feeDueDays:
		return fmt.Errorf("ztl: fee_reminder_days must be 0-%d (0: %d days)", feeDueDays-1, defaultFeeReminderDays)
	}
	return nil
}

// withDefaults fills the days left at 0 with the defaults.
func (s Settings) withDefaults() Settings {
	if s.PhotoRetentionDays <= 0 {
		s.PhotoRetentionDays = 30
	}
	if s.ReminderDays <= 0 {
		s.ReminderDays = 30
	}
	if s.FeeReminderDays <= 0 {
		s.FeeReminderDays = defaultFeeReminderDays
	}
	return s
}

// settingsFor returns the settings in force for the ente of ctx: the installation's
// (modules.settings.ztl) with the ente's own laid over them (enti[].modules.ztl,
// `sportello enti update --set ztl.<key>=<value>`). Every read of the module's
// settings goes through it: all three can differ per comune. Settings that no longer
// validate (changed in the database while the portal runs) are logged and the
// installation's are used.
func (m *Module) settingsFor(ctx context.Context) Settings {
	s := m.settings
	if m.settingsOf == nil {
		return s
	}
	if err := m.settingsOf(ctx, &s); err != nil {
		if m.log != nil {
			m.log.ErrorContext(ctx, "ztl: settings of the ente refused, using the installation's", "err", err)
		}
		return m.settings
	}
	return s.withDefaults()
}

// Module implements services.Module and its optional interfaces.
type Module struct {
	store    func(ctx context.Context) *gorm.DB
	db       *gorm.DB
	each     func(ctx context.Context, fn func(ctx context.Context) error) error
	baseURL  func(ctx context.Context) string
	cases    *cases.Service
	render   *web.Renderer
	mail     *notify.Outbox
	log      *slog.Logger
	ring     func(context.Context) *stamp.KeyRing // the ente's stamp keys (nil ring: none)
	letter   func(context.Context) pdfdoc.Letterhead
	settings Settings // the installation's, with the defaults: read through settingsFor
	// settingsOf decodes the settings for an ente (Mount.SettingsFor).
	settingsOf func(ctx context.Context, out any) error
	pay        *payments.Service // nil unless fees are paid through pagoPA (payment.go)
	now        func() time.Time
	// exports caches the encoded whitelists (see exported).
	exports sync.Map
}

// Option adjusts a Module built by New.
type Option func(*Module)

// WithClock replaces the clock (tests).
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
		ID: ID, Title: "ztl.title", Summary: "ztl.summary", Description: "ztl.description",
		Area: services.AreaMobilita, Audience: "ztl.audience", NeedsLogin: true,
		Needs: []string{"ztl.needs.plate", "ztl.needs.documents"}, Start: "domanda", Order: 10,
		HowTo: "ztl.card.howto", Outcome: "ztl.card.outcome", Times: "ztl.card.times", Cost: "ztl.card.cost",
		Conditions: "ztl.card.conditions", Office: "ztl.card.office", Topics: []string{"ztl.topic.mobility", "ztl.topic.traffic"},
		LifeEvents: []string{"acquisto-auto", "cambio-residenza"}, Updated: "2026-12-02",
	}
}

// Roles implements services.Roles.
func (*Module) Roles() []roles.Def {
	return []roles.Def{
		{ID: RoleOfficer, Title: "ztl.role.officer", Description: "ztl.role.officer_desc"},
		{ID: RolePolice, Title: "ztl.role.police", Description: "ztl.role.police_desc"},
	}
}

// EnteTables implements services.EnteTables.
func (*Module) EnteTables() []string { return Tables }

// StaffNav implements services.StaffNav.
func (*Module) StaffNav() []web.MenuItem {
	return []web.MenuItem{
		{Label: "ztl.staff.nav_permits", Href: "/backoffice/ztl/", Roles: []string{RoleOfficer, RolePolice}},
		{Label: "ztl.staff.nav_keys", Href: "/backoffice/ztl/chiavi", Roles: []string{RoleOfficer}},
	}
}

// Mount implements services.Module.
func (m *Module) Mount(mt *services.Mount) error {
	m.store, m.db, m.each, m.baseURL = mt.Store, mt.DB, mt.ForEachEnte, mt.BaseURL
	m.cases, m.render, m.mail, m.log = mt.Cases, mt.Render, mt.Mail, mt.Log
	if err := mt.Settings(&m.settings); err != nil {
		return err
	}
	if err := m.settings.Validate(); err != nil {
		return err
	}
	m.settings = m.settings.withDefaults()
	m.settingsOf = mt.SettingsFor
	m.ring, m.letter = mt.Cases.StampRing, mt.Cases.Letterhead
	m.mountPayments(mt.Payments)
	if err := mt.Cases.Register(cases.Type{
		Module: ID, ID: CaseType, Title: "ztl.case.title", Role: RoleOfficer,
		Transitions: cases.StandardTransitions(),
		Deadlines: map[cases.State]cases.Deadline{
			cases.Submitted: {Within: 30 * 24 * time.Hour, FromSubmission: true},
			cases.InReview:  {Within: 30 * 24 * time.Hour, FromSubmission: true},
		},
		MaxAttachments: 6, MaxAttachmentSize: 5 << 20,
		Hook: m.onTransition,
	}); err != nil {
		return err
	}
	form := m.form()
	form.Mount(mt.Citizen, "/domanda")

	c := mt.Citizen
	c.GET("/permessi", m.myPermits)
	c.GET("/permessi/:code", m.myPermit)
	c.GET("/permessi/:code/permesso.pdf", m.permitPDF)
	c.POST("/permessi/:code/rinnovo", m.renew)
	c.POST("/permessi/:code/targa", m.citizenChangePlate)
	c.POST("/permessi/:code/targa-temporanea", m.citizenTemporaryPlate)
	c.GET("/transiti", m.myTransits)
	c.GET("/transiti/:id/foto", m.transitPhoto)

	staff := mt.Staff.Group("", mt.RequireRole(RoleOfficer, RolePolice))
	staff.GET("/", m.staffPermits)
	staff.GET("/targa", m.staffPlateCheck)
	officer := mt.Staff.Group("", mt.RequireRole(RoleOfficer))
	officer.GET("/permessi/:code", m.staffPermit)
	officer.POST("/permessi/:code/revoca", m.staffRevoke)
	officer.POST("/permessi/:code/sospendi", m.staffSuspend)
	officer.POST("/permessi/:code/riattiva", m.staffResume)
	officer.GET("/chiavi", m.staffKeys)
	officer.POST("/chiavi", m.staffCreateKey)
	officer.POST("/chiavi/:id/revoca", m.staffRevokeKey)

	mt.Site.GET(VerifyBase+"/:code", m.verifyPage)
	api := mt.Site.Group(APIBase)
	api.GET("/whitelist", m.apiWhitelist)
	api.GET("/whitelist/changes", m.apiChanges)
	api.POST("/transits", m.apiTransits)
	api.GET("/openapi.yaml", m.apiSpec)
	return nil
}

// VerifyBase is the public verification page of permits: VerifyBase + "/<code>".
const VerifyBase = "/verifica/ztl"

// APIBase is the gate systems' API.
const APIBase = "/api/ztl/v1"

// clock returns the module's clock in UTC.
func (m *Module) clock() time.Time { return m.now().UTC() }

// scoped returns tx confined to ctx's ente (the cases hook's transaction is the
// platform's handle).
func scoped(ctx context.Context, tx *gorm.DB) *gorm.DB {
	if e := enti.FromContext(ctx); e != nil {
		return enti.Scoped(tx, e.ID).WithContext(ctx)
	}
	return enti.For(ctx, tx)
}

// onTransition runs in every transition of a permit application: the submission is
// checked against the category (documents, plates), the approval grants the permit
// in the same transaction.
func (m *Module) onTransition(ctx context.Context, tx *gorm.DB, ev cases.Event) error {
	db := scoped(ctx, tx)
	switch ev.Transition.Name {
	case "submit":
		return m.checkSubmission(ctx, db, ev.Case)
	case "approve":
		_, err := m.grant(ctx, db, ev.Case, m.clock())
		var ce *cases.Error
		if errors.As(err, &ce) {
			// The officer's page has no form fields of the application: the refusal
			// is shown for the whole decision.
			return &cases.Error{Key: ce.Key}
		}
		return err
	}
	return nil
}

// checkSubmission refuses an application without the documents its category asks
// or whose plates and dates do not fit the category.
func (m *Module) checkSubmission(ctx context.Context, db *gorm.DB, cs cases.Case) error {
	a, errs := readApplication(cs.FormData)
	for field, key := range errs {
		return refusal(key, field)
	}
	c, err := category(ctx, db, a.Category)
	if err != nil {
		return refusal("ztl.error.category", "category")
	}
	if _, _, err := period(c, a, m.clock(), nil); err != nil {
		return err
	}
	var docs int64
	if err := db.Model(&cases.Attachment{}).Where("case_id = ?", cs.ID).Count(&docs).Error; err != nil {
		return err
	}
	if int(docs) < len(c.DocumentList()) {
		return refusal("ztl.error.documents", "documents")
	}
	return nil
}

// stampRing is the stamp key ring of ctx's ente, nil when none (or before Mount).
func (m *Module) stampRing(ctx context.Context) *stamp.KeyRing {
	if m.ring == nil {
		return nil
	}
	return m.ring(ctx)
}

// letterhead is the letterhead of ctx's ente.
func (m *Module) letterhead(ctx context.Context) pdfdoc.Letterhead {
	if m.letter == nil {
		return pdfdoc.Letterhead{}
	}
	return m.letter(ctx)
}
