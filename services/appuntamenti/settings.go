package appuntamenti

import (
	"context"
	"fmt"
	"time"
)

// Settings is the module's configuration section (modules.settings.appuntamenti).
type Settings struct {
	// CIEFeeCents is the fee for the identity card, in cents (22.21 EUR by default:
	// 16.79 EUR to the State plus the comune's fees; comuni may charge more).
	CIEFeeCents int64 `yaml:"cie_fee_cents"`
	// CancelHours is how many hours before the appointment the citizen may still move
	// or cancel it online (24).
	CancelHours int `yaml:"cancel_hours"`
	// MinLeadMinutes is how soon a slot may still be booked (120).
	MinLeadMinutes int `yaml:"min_lead_minutes"`
	// ReminderHours is how long before the appointment the reminder mail goes (48).
	ReminderHours int `yaml:"reminder_hours"`
	// BringCIE and BringResidenza replace the "what to bring" text (Italian; empty
	// keeps the standard text in the citizen's language).
	BringCIE       string `yaml:"bring_cie"`
	BringResidenza string `yaml:"bring_residenza"`
	// ConfirmHours, when not 0, switches on "confirm or lose the slot": a booking must
	// be confirmed by the citizen up to this many hours before the appointment (a mail
	// asks for it ConfirmNotice before that deadline); an unconfirmed booking is
	// released at the deadline by the job appuntamenti/conferme and its place goes to
	// the waiting list. Bookings made after their deadline would fall need none.
	ConfirmHours int `yaml:"confirm_hours"`
	// GuestServices are the services a citizen may book without an account (name,
	// codice fiscale and email, confirmed from a mailed link): the change of address by
	// default; the comune adds "cie" to allow it for the identity card.
	GuestServices []string `yaml:"guest_services"`
}

// guestAllowed reports whether service may be booked without an account.
func (s Settings) guestAllowed(service string) bool {
	for _, g := range s.GuestServices {
		if g == service {
			return true
		}
	}
	return false
}

// ConfirmNotice is how long before the confirmation deadline the mail asking for the
// confirmation goes (at once for a booking made later than that).
const ConfirmNotice = 48 * time.Hour

// settingsFor returns the settings in force for the ente of ctx: the installation's
// (modules.settings.appuntamenti, or WithSettings in tests) with the ente's own laid
// over them (enti[].modules.appuntamenti, `sportello enti update --set`). Every read of
// the module's settings goes through it. Settings that no longer validate (changed in
// the database while the portal runs) are logged and the installation's are used.
func (m *Module) settingsFor(ctx context.Context) Settings {
	s := m.settings
	if m.settingsOf == nil {
		return s
	}
	if err := m.settingsOf(ctx, &s); err != nil {
		if m.log != nil {
			m.log.ErrorContext(ctx, "appuntamenti: settings of the ente refused, using the installation's", "err", err)
		}
		return m.settings
	}
	return s
}

// DefaultSettings are the settings when the configuration says nothing.
func DefaultSettings() Settings {
	return Settings{CIEFeeCents: 2221, CancelHours: 24, MinLeadMinutes: 120, ReminderHours: 48,
		GuestServices: []string{ServiceResidenza}}
}

// Validate refuses settings that cannot work.
func (s Settings) Validate() error {
	switch {
	case s.CIEFeeCents < 0:
		return fmt.Errorf("appuntamenti: cie_fee_cents must not be negative")
	case s.CancelHours < 0 || s.CancelHours > 24*30:
		return fmt.Errorf("appuntamenti: cancel_hours must be 0-720")
	case s.MinLeadMinutes < 0:
		return fmt.Errorf("appuntamenti: min_lead_minutes must not be negative")
	case s.ReminderHours < 1 || s.ReminderHours > 24*14:
		return fmt.Errorf("appuntamenti: reminder_hours must be 1-336")
	case s.ConfirmHours < 0 || s.ConfirmHours > 24*30:
		return fmt.Errorf("appuntamenti: confirm_hours must be 0-720 (0: no confirmation asked)")
	}
	for _, g := range s.GuestServices {
		if !validService(g) {
			return fmt.Errorf("appuntamenti: guest_services: unknown service %q (cie, residenza)", g)
		}
	}
	return nil
}

func (s Settings) cancelBefore() time.Duration { return time.Duration(s.CancelHours) * time.Hour }
func (s Settings) minLead() time.Duration      { return time.Duration(s.MinLeadMinutes) * time.Minute }

// confirmBy is the confirmation deadline of a booking starting at start and made at
// now: nil when the rule is off or the deadline would already have passed.
func (s Settings) confirmBy(start, now time.Time) *time.Time {
	if s.ConfirmHours == 0 {
		return nil
	}
	by := start.Add(-time.Duration(s.ConfirmHours) * time.Hour).UTC()
	if !by.After(now) {
		return nil
	}
	return &by
}

// Fee formats the CIE fee as "22,21 €" / "EUR 22.21".
func (s Settings) Fee(lang string) string {
	e, c := s.CIEFeeCents/100, s.CIEFeeCents%100
	if lang == "en" {
		return fmt.Sprintf("EUR %d.%02d", e, c)
	}
	return fmt.Sprintf("%d,%02d €", e, c)
}
