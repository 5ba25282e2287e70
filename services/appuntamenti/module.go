// Package appuntamenti is the booking of appointments at the registry desk (Ufficio
// Anagrafe): the electronic identity card (CIE) and the change of address declaration.
//
// Offices (sportelli) have desks, weekly opening hours and a slot length per service,
// closures and a booking horizon; times are wall-clock Europe/Rome on screen and UTC
// in the database. A slot's places are taken with an atomic conditional UPDATE and
// the booking inserted under a unique index (one active booking per citizen and
// service), so capacity is never exceeded on either database (see Book).
//
// The two services are one catalogue entry because they share the offices, the desks
// and the staff agenda; the citizen chooses the service in the first step. Every table
// is ente-owned (ente_id first in every key) and every statement goes through
// Mount.Store.
package appuntamenti

import (
	"context"
	"embed"
	"io/fs"
	"log/slog"
	"time"

	"gorm.io/gorm"

	"github.com/comuni-italiani/sportello/app/notify"
	"github.com/comuni-italiani/sportello/app/payments"
	"github.com/comuni-italiani/sportello/app/roles"
	"github.com/comuni-italiani/sportello/app/web"
	"github.com/comuni-italiani/sportello/services"
)

// ID is the module's identifier and URL segment.
const ID = "appuntamenti"

// RoleDesk is the staff role of the registry desk: the day's agenda, check-in,
// no-show, closures. The certificates module has its own officer role; modules do not
// share roles, so the desk declares its own.
const RoleDesk = "anagrafe_sportello"

//go:embed assets
var assets embed.FS

// Module implements services.Module and its optional interfaces.
type Module struct {
	store       func(ctx context.Context) *gorm.DB
	forEachEnte func(ctx context.Context, fn func(ctx context.Context) error) error
	baseURL     func(ctx context.Context) string
	mail        *notify.Outbox
	render      *web.Renderer
	i18n        *web.I18n
	log         *slog.Logger
	settings    Settings
	// settingsOf decodes the settings for an ente (Mount.SettingsFor); nil outside a
	// portal.
	settingsOf func(ctx context.Context, out any) error
	now        func() time.Time
	pay        *payments.Service // the CIE fee online (payment.go)
}

// Option adjusts a Module built by New.
type Option func(*Module)

// WithClock replaces the clock (tests: deadlines, summer time).
func WithClock(now func() time.Time) Option { return func(m *Module) { m.now = now } }

// WithSettings starts from s instead of DefaultSettings (tests; the configuration's
// modules.settings.appuntamenti still applies on Mount).
func WithSettings(s Settings) Option { return func(m *Module) { m.settings = s } }

// New returns the module, ready to be mounted.
func New(opts ...Option) *Module {
	m := &Module{now: time.Now, settings: DefaultSettings()}
	for _, o := range opts {
		o(m)
	}
	return m
}

// Info implements services.Module.
func (*Module) Info() services.Info {
	return services.Info{
		ID:          ID,
		Title:       "appuntamenti.title",
		Summary:     "appuntamenti.summary",
		Description: "appuntamenti.description",
		Area:        services.AreaAnagrafe,
		Audience:    "appuntamenti.audience",
		NeedsLogin:  true,
		Needs:       []string{"appuntamenti.needs.cie", "appuntamenti.needs.residenza"},
		Start:       "nuovo",
		GuestStart:  "ospite",
		Order:       20,
		HowTo:       "appuntamenti.card.howto",
		Outcome:     "appuntamenti.card.outcome",
		Times:       "appuntamenti.card.times",
		Cost:        "appuntamenti.card.cost",
		Conditions:  "appuntamenti.card.conditions",
		Office:      "appuntamenti.card.office",
		Topics:      []string{"appuntamenti.topic.identity", "appuntamenti.topic.residence"},
		LifeEvents:  []string{"cambio-residenza", "documento-identita"},
		Updated:     "2026-12-02",
	}
}

// Assets implements services.Assets: the pages and messages live in this folder.
func (*Module) Assets() fs.FS {
	sub, err := fs.Sub(assets, "assets")
	if err != nil {
		panic(err) // the embedded folder is part of the build
	}
	return sub
}

// EnteTables implements services.EnteTables.
func (*Module) EnteTables() []string {
	return []string{"appt_offices", "appt_office_services", "appt_hours", "appt_closures", "appt_slots", "appt_bookings", "appt_waiters",
		"appt_guest_tokens", "appt_guest_limits", "appt_desks"}
}

// Roles implements services.Roles.
func (*Module) Roles() []roles.Def {
	return []roles.Def{{ID: RoleDesk, Title: "appuntamenti.role.desk", Description: "appuntamenti.role.desk_desc"}}
}

// StaffNav implements services.StaffNav.
func (*Module) StaffNav() []web.MenuItem {
	return []web.MenuItem{{Label: "appuntamenti.staff.nav", Href: "/backoffice/" + ID + "/", Roles: []string{RoleDesk}}}
}

// Mount implements services.Module.
func (m *Module) Mount(mt *services.Mount) error {
	m.store, m.forEachEnte, m.baseURL = mt.Store, mt.ForEachEnte, mt.BaseURL
	m.mail, m.render, m.log = mt.Mail, mt.Render, mt.Log
	m.i18n = mt.Render.I18n()
	m.settingsOf = mt.SettingsFor
	if mt.Settings != nil {
		if err := mt.Settings(&m.settings); err != nil {
			return err
		}
	}
	if err := m.settings.Validate(); err != nil {
		return err
	}
	m.routes(mt)
	m.mountPayments(mt)
	return nil
}
