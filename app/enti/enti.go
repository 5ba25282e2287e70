// Package enti holds the public bodies (enti) one installation serves: comuni, and
// unions of comuni (unioni) that host their members' portals and back offices.
//
// An ente is data: its name, ISTAT code, contacts, coat of arms, theme colour, mail
// sender, the host names its portal answers on and the modules it offers. The
// Registry resolves a request's host name to its ente (Middleware); an unknown host
// gets a plain 404, never another comune's portal. A deployment with a single ente and
// no host names serves it on every host, as a single-comune portal always has.
//
// Ente-owned data is confined by the store, not by each query's care: a Guard
// installed on the database refuses any statement on an ente-owned table made through
// a handle that is not Scoped to an ente (or explicitly AllEnti), and adds the ente
// condition to those that are. See scope.go.
package enti

import (
	"context"
	"errors"
	"fmt"
	"net"
	"regexp"
	"slices"
	"strings"
	"time"

	"gorm.io/gorm"
)

// Kind tells a comune from a union of comuni.
type Kind string

// The kinds of ente.
const (
	KindComune Kind = "comune"
	KindUnione Kind = "unione"
)

// Ente is one public body served by the installation.
type Ente struct {
	// ID is the stable short name ("valdoria"): URL-safe, lower case, the value of
	// the ente_id column in every ente-owned table.
	ID   string `gorm:"primaryKey;size:40"`
	Kind Kind   `gorm:"size:10;not null"`
	// ParentID is the union that hosts this comune ("" for none).
	ParentID string `gorm:"size:40;index"`
	Name     string `gorm:"size:200;not null"`
	Province string `gorm:"size:200"`
	// IstatCode is the six-digit ISTAT code of a comune.
	IstatCode string `gorm:"size:6"`
	// FiscalCode is the ente's codice fiscale / partita IVA (footer, pagoPA).
	FiscalCode string `gorm:"size:16"`
	Address    string `gorm:"size:300"`
	Phone      string `gorm:"size:50"`
	Email      string `gorm:"size:200"`
	PEC        string `gorm:"size:200"`
	Website    string `gorm:"size:300"`
	// CoatOfArms is the address of the coat of arms image (a /static path or https URL).
	CoatOfArms string `gorm:"size:300"`
	// ThemeColor is the Bootstrap Italia primary colour, #rrggbb.
	ThemeColor string `gorm:"size:7"`
	// MailFrom is the sender of the ente's mails ("Comune di X <noreply@...>").
	MailFrom string `gorm:"size:300"`
	// DisabledModules lists the module ids the ente does not offer.
	DisabledModules []string `gorm:"serializer:json"`
	// ModuleSettings are the ente's settings of modules: module id -> YAML mapping
	// laid over the installation's modules.settings.<id> (DecodeModule).
	ModuleSettings map[string]string `gorm:"serializer:json"`
	// Hosts are the host names (no port) the ente's portal answers on.
	Hosts     []string `gorm:"-"`
	CreatedAt time.Time
	UpdatedAt time.Time
}

// TableName keeps the table name stable whatever the type is called.
func (Ente) TableName() string { return "enti" }

// hostRow maps one host name to its ente. The primary key makes a host belong to one
// ente only.
type hostRow struct {
	Host   string `gorm:"primaryKey;size:253"`
	EnteID string `gorm:"size:40;not null;index"`
}

func (hostRow) TableName() string { return "ente_hosts" }

// Offers reports whether the ente offers the module with this id.
func (e *Ente) Offers(module string) bool { return !slices.Contains(e.DisabledModules, module) }

// Sentinel errors.
var (
	ErrNotFound  = errors.New("enti: no such ente")
	ErrHostTaken = errors.New("enti: host name already belongs to another ente")
	ErrInvalid   = errors.New("enti: invalid ente")
)

var (
	idRE    = regexp.MustCompile(`^[a-z][a-z0-9-]{1,39}$`)
	istatRE = regexp.MustCompile(`^[0-9]{6}$`)
	colorRE = regexp.MustCompile(`^#[0-9a-fA-F]{6}$`)
	// hostRE accepts DNS names and IPv4 addresses, lower case, no port.
	hostRE = regexp.MustCompile(`^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$`)
)

// Validate checks an ente before it is stored; the error names the field.
func (e *Ente) Validate() error {
	var errs []error
	bad := func(field, msg string) { errs = append(errs, fmt.Errorf("%w: %s %s", ErrInvalid, field, msg)) }
	if !idRE.MatchString(e.ID) {
		bad("id", "must be 2-40 lower-case letters, digits or dashes, starting with a letter")
	}
	if e.Kind != KindComune && e.Kind != KindUnione {
		bad("kind", "must be comune or unione")
	}
	if strings.TrimSpace(e.Name) == "" {
		bad("name", "is required")
	}
	if e.IstatCode != "" && !istatRE.MatchString(e.IstatCode) {
		bad("istat_code", "must be six digits")
	}
	if e.ThemeColor != "" && !colorRE.MatchString(e.ThemeColor) {
		bad("theme_color", "must be a colour such as #0066cc")
	}
	if e.ParentID == e.ID && e.ID != "" {
		bad("parent", "cannot be the ente itself")
	}
	seen := map[string]bool{}
	for _, h := range e.Hosts {
		n := NormalizeHost(h)
		if n != h || !hostRE.MatchString(h) || len(h) > 253 {
			bad("hosts", fmt.Sprintf("%q is not a lower-case host name without port", h))
		}
		if seen[n] {
			bad("hosts", fmt.Sprintf("%q is repeated", h))
		}
		seen[n] = true
	}
	return errors.Join(errs...)
}

// NormalizeHost turns a Host header into the form hosts are stored in: lower case,
// without port, brackets or a trailing dot.
func NormalizeHost(h string) string {
	h = strings.TrimSpace(strings.ToLower(h))
	if host, _, err := net.SplitHostPort(h); err == nil {
		h = host
	}
	h = strings.TrimSuffix(strings.Trim(h, "[]"), ".")
	return h
}

// Store reads and writes enti.
type Store struct{ db *gorm.DB }

// NewStore returns a store over db.
func NewStore(db *gorm.DB) *Store { return &Store{db: db} }

// List returns every ente with its hosts, sorted by id.
func (s *Store) List(ctx context.Context) ([]*Ente, error) {
	var list []*Ente
	if err := s.db.WithContext(ctx).Order("id").Find(&list).Error; err != nil {
		return nil, fmt.Errorf("enti: list: %w", err)
	}
	var hosts []hostRow
	if err := s.db.WithContext(ctx).Order("host").Find(&hosts).Error; err != nil {
		return nil, fmt.Errorf("enti: list hosts: %w", err)
	}
	byID := make(map[string]*Ente, len(list))
	for _, e := range list {
		byID[e.ID] = e
	}
	for _, h := range hosts {
		if e := byID[h.EnteID]; e != nil {
			e.Hosts = append(e.Hosts, h.Host)
		}
	}
	return list, nil
}

// Get returns one ente with its hosts.
func (s *Store) Get(ctx context.Context, id string) (*Ente, error) {
	var e Ente
	err := s.db.WithContext(ctx).Where("id = ?", id).Take(&e).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	if err != nil {
		return nil, fmt.Errorf("enti: get %s: %w", id, err)
	}
	if err := s.db.WithContext(ctx).Model(&hostRow{}).Where("ente_id = ?", id).Order("host").
		Pluck("host", &e.Hosts).Error; err != nil {
		return nil, fmt.Errorf("enti: get %s hosts: %w", id, err)
	}
	return &e, nil
}

// Put creates the ente or replaces it (all fields and its host list), in one
// transaction. A host that belongs to another ente is refused with ErrHostTaken and
// nothing changes.
func (s *Store) Put(ctx context.Context, e *Ente) error {
	if err := e.Validate(); err != nil {
		return err
	}
	return s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if e.ParentID != "" {
			var parent Ente
			if err := tx.Where("id = ?", e.ParentID).Take(&parent).Error; err != nil {
				return fmt.Errorf("%w: parent %s does not exist", ErrInvalid, e.ParentID)
			}
			if parent.Kind != KindUnione {
				return fmt.Errorf("%w: parent %s is not a unione", ErrInvalid, e.ParentID)
			}
		}
		var taken []hostRow
		if len(e.Hosts) > 0 {
			if err := tx.Where("host IN ? AND ente_id <> ?", e.Hosts, e.ID).Find(&taken).Error; err != nil {
				return err
			}
		}
		if len(taken) > 0 {
			return fmt.Errorf("%w: %s (%s)", ErrHostTaken, taken[0].Host, taken[0].EnteID)
		}
		var old Ente
		if err := tx.Where("id = ?", e.ID).Take(&old).Error; err == nil {
			e.CreatedAt = old.CreatedAt
		}
		if err := tx.Save(e).Error; err != nil {
			return fmt.Errorf("enti: save %s: %w", e.ID, err)
		}
		if err := tx.Where("ente_id = ?", e.ID).Delete(&hostRow{}).Error; err != nil {
			return err
		}
		for _, h := range e.Hosts {
			if err := tx.Create(&hostRow{Host: h, EnteID: e.ID}).Error; err != nil {
				if errors.Is(err, gorm.ErrDuplicatedKey) {
					return fmt.Errorf("%w: %s", ErrHostTaken, h)
				}
				return err
			}
		}
		return nil
	})
}

// Count returns how many enti exist.
func (s *Store) Count(ctx context.Context) (int64, error) {
	var n int64
	err := s.db.WithContext(ctx).Model(&Ente{}).Count(&n).Error
	return n, err
}
