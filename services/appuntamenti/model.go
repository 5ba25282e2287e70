package appuntamenti

import (
	"time"
)

// Services offered at the registry desk. Each has its own slot length, opening hours
// and "what to bring" text.
const (
	// ServiceCIE is the electronic identity card (carta d'identità elettronica).
	ServiceCIE = "cie"
	// ServiceResidenza is the change of address declaration (dichiarazione di
	// residenza / cambio di indirizzo).
	ServiceResidenza = "residenza"
)

// ServiceIDs lists the services in the order the first step shows them.
var ServiceIDs = []string{ServiceCIE, ServiceResidenza}

// DefaultSlotMinutes is the slot length of each service when an office does not set
// its own.
var DefaultSlotMinutes = map[string]int{ServiceCIE: 20, ServiceResidenza: 30}

// validService reports whether s is a known service id.
func validService(s string) bool { return s == ServiceCIE || s == ServiceResidenza }

// Booking statuses. Only StatusBooked is active: the unique index allows one such row
// per citizen and service.
const (
	StatusBooked    = "booked"
	StatusCancelled = "cancelled"
	StatusCheckedIn = "checked_in"
	StatusNoShow    = "no_show"
)

// Office is a registry desk office (sportello) of the comune.
type Office struct {
	EnteID  string `gorm:"primaryKey"`
	ID      string `gorm:"primaryKey"` // slug, "centro"
	Name    string
	Address string
	// HorizonDays is how many days ahead citizens may book.
	HorizonDays int
	Sort        int
}

// TableName fixes the table name.
func (Office) TableName() string { return "appt_offices" }

// OfficeService is what an office offers for one service: how long a slot lasts and
// how many desks serve it at once (the capacity of each slot).
type OfficeService struct {
	EnteID      string `gorm:"primaryKey"`
	OfficeID    string `gorm:"primaryKey"`
	Service     string `gorm:"primaryKey"`
	SlotMinutes int
	Desks       int
}

// TableName fixes the table name.
func (OfficeService) TableName() string { return "appt_office_services" }

// Hours is one weekly opening interval of an office for a service, local time
// (Europe/Rome). Weekday is 1 (Monday) ... 7 (Sunday).
type Hours struct {
	EnteID   string `gorm:"primaryKey"`
	OfficeID string `gorm:"primaryKey"`
	Service  string `gorm:"primaryKey"`
	Weekday  int    `gorm:"primaryKey;autoIncrement:false"`
	Opens    string `gorm:"primaryKey"` // "08:30"
	Closes   string // "12:30"
}

// TableName fixes the table name.
func (Hours) TableName() string { return "appt_hours" }

// Closure closes an office (all its services) from StartsAt to EndsAt (UTC): a
// holiday, a strike, a date range or part of a day.
type Closure struct {
	EnteID    string `gorm:"primaryKey"`
	ID        string `gorm:"primaryKey"`
	OfficeID  string
	StartsAt  time.Time
	EndsAt    time.Time
	Reason    string
	CreatedBy string
	CreatedAt time.Time
}

// TableName fixes the table name.
func (Closure) TableName() string { return "appt_closures" }

// Slot counts the bookings of one time slot. The row is created on the first booking
// (capacity = the desks serving the service then); Booked never exceeds Capacity
// because it only grows through a conditional UPDATE (see book).
type Slot struct {
	EnteID   string    `gorm:"primaryKey"`
	OfficeID string    `gorm:"primaryKey"`
	Service  string    `gorm:"primaryKey"`
	StartsAt time.Time `gorm:"primaryKey"`
	Capacity int
	Booked   int
}

// TableName fixes the table name.
func (Slot) TableName() string { return "appt_slots" }

// Booking is one citizen's appointment. ID is the booking reference shown to the
// citizen and encoded in the QR code for the desk.
type Booking struct {
	EnteID    string `gorm:"primaryKey"`
	ID        string `gorm:"primaryKey"`
	OfficeID  string
	Service   string
	StartsAt  time.Time
	EndsAt    time.Time
	CitizenCF string `gorm:"column:citizen_cf"`
	Name      string
	Email     string
	Status    string
	CreatedAt time.Time
	// FirstFreeAt was the first free slot of the office and service when the citizen
	// booked: the lead time (FirstFreeAt - CreatedAt) is the waiting-time figure.
	FirstFreeAt  *time.Time
	CancelledAt  *time.Time
	CancelReason string
	CancelledBy  string
	RemindedAt   *time.Time
	CheckedInAt  *time.Time
	// ConfirmBy is the deadline to confirm the booking (Settings.ConfirmHours), nil
	// when none is asked; ConfirmedAt is when the citizen confirmed; ConfirmAskedAt
	// when the mail asking for it was queued.
	ConfirmBy      *time.Time
	ConfirmedAt    *time.Time
	ConfirmAskedAt *time.Time
	// Lang is the citizen's language when booking ("it" or "en"): later mails (the
	// reminder, the confirmation, the offer) are written in it.
	Lang string
	// Guest: booked without an account (confirmed from a mailed link); its mails carry
	// a link that manages it without logging in.
	Guest bool
	// Desk is the number of the desk serving the booking (1 ... desks; 0 for bookings
	// made before desks were numbered). See Desk.
	Desk int
	// ManageLink, when set, is the link the next mail gives (not stored).
	ManageLink string `gorm:"-"`
}

// mailLang is the language of the mails to a citizen who chose lang.
func mailLang(lang string) string {
	if lang == "en" {
		return "en"
	}
	return "it"
}

// NeedsConfirm reports whether the booking still waits for the citizen's
// confirmation at now.
func (b Booking) NeedsConfirm(now time.Time) bool {
	return b.Active() && b.ConfirmBy != nil && b.ConfirmedAt == nil && b.ConfirmBy.After(now)
}

// TableName fixes the table name.
func (Booking) TableName() string { return "appt_bookings" }

// DeskName names desk number Number of an office for a service.
type DeskName struct {
	EnteID   string `gorm:"primaryKey"`
	OfficeID string `gorm:"primaryKey"`
	Service  string `gorm:"primaryKey"`
	Number   int    `gorm:"primaryKey;autoIncrement:false"`
	Name     string
}

// TableName fixes the table name.
func (DeskName) TableName() string { return "appt_desks" }

// Active reports whether the booking still holds its slot.
func (b Booking) Active() bool { return b.Status == StatusBooked }
