package accounts

import (
	"context"
	"errors"
	"strings"
	"time"

	"gorm.io/gorm"

	"github.com/comuni-italiani/sportello/app/enti"

	"github.com/comuni-italiani/sportello/app/store"
)

// accountRow is the accounts table as the live code reads and writes it.
type accountRow struct {
	ID int64 `gorm:"primaryKey"`
	// EnteID is the account's home: the comune (or union) whose desk registered the
	// citizen or whose staff the person is. Identities are the installation's, as with
	// SPID (a citizen logs in on any of its portals); the desk and staff lists of an
	// ente show only its own accounts.
	EnteID              string `gorm:"column:ente_id"`
	Username            string
	Kind                string
	FiscalCode          *string `gorm:"column:fiscal_code"`
	GivenName           string
	FamilyName          string
	BirthDate           string // YYYY-MM-DD or ""
	Email               string
	EmailVerified       bool
	Phone               string
	IDDocType           string `gorm:"column:id_doc_type"`
	IDDocNumber         string `gorm:"column:id_doc_number"`
	IDDocIssuer         string `gorm:"column:id_doc_issuer"`
	IDDocExpires        string `gorm:"column:id_doc_expires"` // YYYY-MM-DD or ""
	Roles               string
	Status              string
	BlockedReason       string
	PasswordHash        string
	PasswordChangedAt   *time.Time
	ActivationHash      string
	ActivationExpiresAt *time.Time
	TOTPSecret          string `gorm:"column:totp_secret"`
	TOTPPendingSecret   string `gorm:"column:totp_pending_secret"`
	TOTPEnabled         bool   `gorm:"column:totp_enabled"`
	TOTPLastStep        int64  `gorm:"column:totp_last_step"`
	LastLoginAt         *time.Time
	LastLoginIP         string `gorm:"column:last_login_ip"`
	CreatedBy           string
	CreatedAt           time.Time
	UpdatedAt           time.Time
}

// TableName fixes the table name.
func (accountRow) TableName() string { return "accounts" }

const dateLayout = "2006-01-02"

func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

func (r *accountRow) cf() string {
	if r.FiscalCode == nil {
		return ""
	}
	return *r.FiscalCode
}

func (r *accountRow) account() *Account {
	a := &Account{
		ID: r.ID, EnteID: r.EnteID, Username: r.Username, Kind: Kind(r.Kind), FiscalCode: r.cf(),
		GivenName: r.GivenName, FamilyName: r.FamilyName, Email: r.Email,
		EmailVerified: r.EmailVerified, Phone: r.Phone, IDDocType: r.IDDocType,
		IDDocNumber: r.IDDocNumber, IDDocIssuer: r.IDDocIssuer, Status: Status(r.Status), TOTPEnabled: r.TOTPEnabled,
		LastLoginAt: utcPtr(r.LastLoginAt), CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC(),
		BlockedReason: r.BlockedReason, CreatedBy: r.CreatedBy,
		ActivationExpiresAt: utcPtr(r.ActivationExpiresAt),
	}
	if r.BirthDate != "" {
		a.BirthDate, _ = time.Parse(dateLayout, r.BirthDate)
	}
	if r.IDDocExpires != "" {
		a.IDDocExpires, _ = time.Parse(dateLayout, r.IDDocExpires)
	}
	if r.Roles != "" {
		a.Roles = strings.Fields(r.Roles)
	}
	return a
}

// throttleRow is one failure counter: "user:<username>" or "ip:<address>".
type throttleRow struct {
	Key         string `gorm:"column:throttle_key;primaryKey"`
	Failures    int
	WindowStart time.Time
	LockedUntil *time.Time
	UpdatedAt   time.Time
}

// TableName fixes the table name.
func (throttleRow) TableName() string { return "auth_throttle" }

// resetTokenRow is a password reset link; only the SHA-256 of the token is stored.
type resetTokenRow struct {
	ID        int64 `gorm:"primaryKey"`
	AccountID int64
	TokenHash string
	ExpiresAt time.Time
	UsedAt    *time.Time
	CreatedAt time.Time
	IP        string `gorm:"column:ip"`
}

// TableName fixes the table name.
func (resetTokenRow) TableName() string { return "account_reset_tokens" }

// Migrations creates the accounts tables. Each step uses its own frozen structs.
func Migrations() []*store.Migration {
	type account struct {
		ID                  int64      `gorm:"primaryKey"`
		Username            string     `gorm:"size:40;not null;uniqueIndex:accounts_username"`
		Kind                string     `gorm:"size:16;not null;index:accounts_kind"`
		FiscalCode          *string    `gorm:"column:fiscal_code;size:16;uniqueIndex:accounts_fiscal_code"`
		GivenName           string     `gorm:"size:100;not null"`
		FamilyName          string     `gorm:"size:100;not null;index:accounts_family_name"`
		BirthDate           string     `gorm:"size:10;not null;default:''"`
		Email               string     `gorm:"size:254;not null;default:'';index:accounts_email"`
		EmailVerified       bool       `gorm:"not null;default:false"`
		Phone               string     `gorm:"size:40;not null;default:''"`
		IDDocType           string     `gorm:"column:id_doc_type;size:20;not null;default:''"`
		IDDocNumber         string     `gorm:"column:id_doc_number;size:40;not null;default:''"`
		Roles               string     `gorm:"size:300;not null;default:''"`
		Status              string     `gorm:"size:16;not null;index:accounts_status"`
		BlockedReason       string     `gorm:"size:300;not null;default:''"`
		PasswordHash        string     `gorm:"size:200;not null;default:''"`
		PasswordChangedAt   *time.Time `gorm:"column:password_changed_at"`
		ActivationHash      string     `gorm:"size:200;not null;default:''"`
		ActivationExpiresAt *time.Time `gorm:"column:activation_expires_at"`
		TOTPSecret          string     `gorm:"column:totp_secret;size:64;not null;default:''"`
		TOTPPendingSecret   string     `gorm:"column:totp_pending_secret;size:64;not null;default:''"`
		TOTPEnabled         bool       `gorm:"column:totp_enabled;not null;default:false"`
		TOTPLastStep        int64      `gorm:"column:totp_last_step;not null;default:0"`
		LastLoginAt         *time.Time `gorm:"column:last_login_at"`
		LastLoginIP         string     `gorm:"column:last_login_ip;size:64;not null;default:''"`
		CreatedBy           string     `gorm:"size:100;not null;default:''"`
		CreatedAt           time.Time  `gorm:"not null"`
		UpdatedAt           time.Time  `gorm:"not null"`
	}
	type authThrottle struct {
		Key         string     `gorm:"column:throttle_key;primaryKey;size:120"`
		Failures    int        `gorm:"not null;default:0"`
		WindowStart time.Time  `gorm:"not null"`
		LockedUntil *time.Time `gorm:"column:locked_until"`
		UpdatedAt   time.Time  `gorm:"not null"`
	}
	type accountResetToken struct {
		ID        int64      `gorm:"primaryKey"`
		AccountID int64      `gorm:"not null;index:account_reset_tokens_account"`
		TokenHash string     `gorm:"size:64;not null;uniqueIndex:account_reset_tokens_hash"`
		ExpiresAt time.Time  `gorm:"not null"`
		UsedAt    *time.Time `gorm:"column:used_at"`
		CreatedAt time.Time  `gorm:"not null"`
		IP        string     `gorm:"column:ip;size:64;not null;default:''"`
	}
	return []*store.Migration{{
		ID: "accounts/0001_accounts",
		Migrate: func(tx *gorm.DB) error {
			if err := tx.Table("accounts").AutoMigrate(&account{}); err != nil {
				return err
			}
			if err := tx.Table("auth_throttle").AutoMigrate(&authThrottle{}); err != nil {
				return err
			}
			return tx.Table("account_reset_tokens").AutoMigrate(&accountResetToken{})
		},
	}, sealedTOTPMigration(), enteMigration(), idDocMigration(), deskIssueMigration()}
}

// row loads one account row by a condition.
func (s *Service) row(ctx context.Context, db *gorm.DB, query string, args ...any) (*accountRow, error) {
	var r accountRow
	err := db.WithContext(ctx).Where(query, args...).Take(&r).Error
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, internal("load account", err)
	}
	return &r, nil
}

// withLock fills the lockout fields of a.
func (s *Service) withLock(ctx context.Context, a *Account) (*Account, error) {
	var t throttleRow
	err := s.db.WithContext(ctx).Where("throttle_key = ?", userKey(a.Username)).Take(&t).Error
	if errors.Is(err, store.ErrNotFound) {
		return a, nil
	}
	if err != nil {
		return nil, internal("load lockout", err)
	}
	a.FailedLogins = t.Failures
	a.LockedUntil = utcPtr(t.LockedUntil)
	return a, nil
}

// Get returns the account with id, or ErrNotFound.
func (s *Service) Get(ctx context.Context, id int64) (*Account, error) {
	r, err := s.row(ctx, s.db, "id = ?", id)
	if err != nil {
		return nil, err
	}
	return s.withLock(ctx, r.account())
}

// ByUsername returns the account with username (any case), or ErrNotFound.
func (s *Service) ByUsername(ctx context.Context, username string) (*Account, error) {
	r, err := s.row(ctx, s.db, "username = ?", normalizeUsername(username))
	if err != nil {
		return nil, err
	}
	return s.withLock(ctx, r.account())
}

// ByFiscalCode returns the account of the citizen with tax code cf (any case, spaces
// ignored), or ErrNotFound.
func (s *Service) ByFiscalCode(ctx context.Context, cf string) (*Account, error) {
	r, err := s.row(ctx, s.db, "fiscal_code = ?", NormalizeFiscalCode(cf))
	if err != nil {
		return nil, err
	}
	return s.withLock(ctx, r.account())
}

// SearchFilter selects accounts. Zero fields match everything.
type SearchFilter struct {
	// Query matches a tax code or username exactly, or any part of the name
	// (case-insensitive).
	Query  string
	Kind   Kind
	Status Status
	// Limit defaults to 50 (at most 200); Offset pages on.
	Limit, Offset int
}

// Search returns matching accounts ordered by family and given name, and how many
// match in all.
func (s *Service) Search(ctx context.Context, f SearchFilter) ([]Account, int64, error) {
	q := s.db.WithContext(ctx).Model(&accountRow{})
	if e := enti.FromContext(ctx); e != nil {
		q = q.Where("ente_id = ?", e.ID)
	}
	if f.Kind != "" {
		q = q.Where("kind = ?", string(f.Kind))
	}
	if f.Status != "" {
		q = q.Where("status = ?", string(f.Status))
	}
	if text := strings.TrimSpace(f.Query); text != "" {
		cf := NormalizeFiscalCode(text)
		like := "%" + escapeLike(strings.ToLower(text)) + "%"
		q = q.Where("fiscal_code = ? OR username = ? OR LOWER(given_name || ' ' || family_name) LIKE ? ESCAPE '\\' OR LOWER(family_name || ' ' || given_name) LIKE ? ESCAPE '\\'",
			cf, normalizeUsername(text), like, like)
	}
	var total int64
	if err := q.Count(&total).Error; err != nil {
		return nil, 0, internal("search", err)
	}
	if f.Limit <= 0 {
		f.Limit = 50
	}
	f.Limit = min(f.Limit, 200)
	var rows []accountRow
	if err := q.Order("family_name, given_name, id").Limit(f.Limit).Offset(max(f.Offset, 0)).Find(&rows).Error; err != nil {
		return nil, 0, internal("search", err)
	}
	out := make([]Account, len(rows))
	for i := range rows {
		out[i] = *rows[i].account()
	}
	return out, total, nil
}

func escapeLike(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}
