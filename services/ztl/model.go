package ztl

import (
	"strings"
	"time"
)

// Category kinds: what rules a permit category follows.
const (
	KindResident  = "residenti"  // residents: a cap of vehicles per household
	KindDisabled  = "disabili"   // holders of the disabled parking badge (CUDE)
	KindBusiness  = "merci"      // deliveries and businesses
	KindTemporary = "temporaneo" // one or more days: a visitor, a removal
)

// Zone is a limited traffic zone (ZTL) with its own gates.
type Zone struct {
	EnteID string `gorm:"primaryKey"`
	Code   string `gorm:"primaryKey"`
	NameIT string `gorm:"column:name_it"`
	NameEN string `gorm:"column:name_en"`
}

// TableName fixes the table name.
func (Zone) TableName() string { return "ztl_zones" }

// Name is the zone's name in lang.
func (z Zone) Name(lang string) string {
	if lang == "en" && z.NameEN != "" {
		return z.NameEN
	}
	return z.NameIT
}

// Category is a kind of permit, as data: zones, validity, fee, documents, renewal.
type Category struct {
	EnteID string `gorm:"primaryKey"`
	Code   string `gorm:"primaryKey"`
	Kind   string
	NameIT string `gorm:"column:name_it"`
	NameEN string `gorm:"column:name_en"`
	// Zones lists the zone codes the permit opens, comma-separated.
	Zones string
	// ValidityDays is how long a permit lasts (residents, businesses); for temporary
	// permits it is the longest period the citizen may ask for.
	ValidityDays int
	// FeeCents is the fee due for one permit (0: free).
	FeeCents int64
	// MaxVehicles caps the plates of one permit and, for residents, the vehicles of
	// one household across its permits of this category.
	MaxVehicles int
	// Documents lists the document codes the application must carry (message keys
	// ztl.doc.<code>), comma-separated.
	Documents string
	// RenewDays is how many days before the end a permit may be renewed (0: it cannot
	// be renewed; a new application is needed).
	RenewDays int
	Sort      int
}

// TableName fixes the table name.
func (Category) TableName() string { return "ztl_categories" }

// Name is the category's name in lang.
func (c Category) Name(lang string) string {
	if lang == "en" && c.NameEN != "" {
		return c.NameEN
	}
	return c.NameIT
}

// ZoneList is Zones split.
func (c Category) ZoneList() []string { return splitList(c.Zones) }

// DocumentList is Documents split.
func (c Category) DocumentList() []string { return splitList(c.Documents) }

// Renewable reports whether permits of the category may be renewed online.
func (c Category) Renewable() bool { return c.RenewDays > 0 }

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// Permit states as stored; an active permit past its end is shown as expired.
const (
	StatusActive  = "attivo"
	StatusRevoked = "revocato"
	// StatusSuspended is a permit out of the whitelist until the office resumes it.
	StatusSuspended = "sospeso"
	StatusExpired   = "scaduto" // computed, never stored
	StatusPending   = "futuro"  // computed: not started yet
)

// Permit is a ZTL permit granted to a citizen by the approval of an application.
type Permit struct {
	ID     int64 `gorm:"primaryKey"`
	EnteID string
	// Code is the verification code printed with the QR (stamp.NewCode).
	Code       string
	CaseID     int64
	Protocol   string
	Category   string
	HolderCF   string `gorm:"column:holder_cf"`
	HolderName string
	Email      string
	Household  string
	Zones      string
	// ValidFrom and ValidTo bound the permit: [ValidFrom, ValidTo), instants in UTC
	// computed from whole days in Europe/Rome.
	ValidFrom time.Time
	ValidTo   time.Time
	// BadgeNumber and BadgeExpiry tie a disabled badge holder's permit to the badge.
	BadgeNumber string
	BadgeExpiry *time.Time
	FeeCents    int64
	// Stamp is the COSE_Sign1 message of the permit's QR (stamp.Encode).
	Stamp         string
	Status        string
	RevokedAt     *time.Time
	RevokedBy     string
	RevokedReason string
	// RenewsID is the permit this one renews (0: none).
	RenewsID int64
	// SlotHeld says the permit holds Slots places in its household's vehicle count.
	// Slots starts as the number of plates; a renewal granted before this permit ends
	// takes over some or all of them (Slots goes down, SlotHeld false at 0) and hands
	// them back if it ends first (see handBack).
	SlotHeld bool
	Slots    int
	// SlotsTakenOver is how many of a renewal's Slots it took over from the permit it
	// renews (RenewsID) rather than from the household's free places.
	SlotsTakenOver int
	// RemindedAt is when the expiry reminder was queued.
	RemindedAt *time.Time
	// FeeRemindedAt is when the reminder of the unpaid fee's due date was queued.
	FeeRemindedAt *time.Time
	CreatedAt     time.Time
	UpdatedAt     time.Time
}

// TableName fixes the table name.
func (Permit) TableName() string { return "ztl_permits" }

// ZoneList is Zones split.
func (p Permit) ZoneList() []string { return splitList(p.Zones) }

// StatusAt is the permit's state at now: revoked, expired, not yet started or active.
func (p Permit) StatusAt(now time.Time) string {
	switch {
	case p.Status == StatusRevoked:
		return StatusRevoked
	case p.Status == StatusUnpaid && now.Before(p.ValidTo):
		return StatusUnpaid
	case p.Status == StatusSuspended && now.Before(p.ValidTo):
		return StatusSuspended
	case !now.Before(p.ValidTo):
		return StatusExpired
	case now.Before(p.ValidFrom):
		return StatusPending
	}
	return StatusActive
}

// Access is one line of the whitelist: a plate allowed into a zone during
// [ValidFrom, ValidTo), unless revoked. A permit has one line per plate and zone;
// a temporary plate (the car at the garage, a badge holder's car for a day) adds lines
// for its period. Lines are never deleted: a plate change ends them, a revocation
// marks them, so that "was plate X allowed at T" has an answer for every past T.
type Access struct {
	ID        int64 `gorm:"primaryKey"`
	EnteID    string
	PermitID  int64
	Plate     string // Plate.String(): "AB123CD", "DE:BAB1234"
	Country   string
	Zone      string
	Temporary bool
	ValidFrom time.Time
	ValidTo   time.Time
	RevokedAt *time.Time
	UpdatedAt time.Time
}

// TableName fixes the table name.
func (Access) TableName() string { return "ztl_access" }

// AllowedAt reports whether the line allowed its plate at t.
func (a Access) AllowedAt(t time.Time) bool {
	return !t.Before(a.ValidFrom) && t.Before(a.ValidTo) && (a.RevokedAt == nil || t.Before(*a.RevokedAt))
}

// HouseholdSlots counts the vehicles a household holds with resident permits of one
// category: the cap is enforced by one conditional UPDATE on this row.
type HouseholdSlots struct {
	EnteID    string `gorm:"primaryKey"`
	Category  string `gorm:"primaryKey"`
	Household string `gorm:"primaryKey"`
	Used      int
}

// TableName fixes the table name.
func (HouseholdSlots) TableName() string { return "ztl_household_slots" }

// GateKey is an API key of one gate system. Only the SHA-256 of the secret is kept.
type GateKey struct {
	ID         int64 `gorm:"primaryKey"`
	EnteID     string
	Name       string
	Prefix     string
	Hash       string
	CreatedAt  time.Time
	CreatedBy  string
	RevokedAt  *time.Time
	RevokedBy  string
	LastUsedAt *time.Time
}

// TableName fixes the table name.
func (GateKey) TableName() string { return "ztl_gate_keys" }

// Transit is one passage through a gate, as the gate system posted it.
type Transit struct {
	ID        int64 `gorm:"primaryKey"`
	EnteID    string
	GateKeyID int64
	// System is the gate system's name (the key's Name).
	System string
	// RecordID is the gate system's own id of the record: posting it again is a no-op.
	RecordID  string
	Plate     string
	Gate      string
	Zone      string
	At        time.Time
	Photo     []byte
	PhotoType string
	// PhotoDeletedAt is when the retention job removed the photo.
	PhotoDeletedAt *time.Time
	CreatedAt      time.Time
}

// TableName fixes the table name.
func (Transit) TableName() string { return "ztl_transits" }

// Tables are the module's ente-owned tables.
var Tables = []string{"ztl_zones", "ztl_categories", "ztl_permits", "ztl_access", "ztl_household_slots",
	"ztl_gate_keys", "ztl_transits"}
