package accounts

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"errors"
	"regexp"
	"strconv"
	"time"

	"gorm.io/gorm"

	"github.com/comuni-italiani/sportello/app/enti"
	"github.com/comuni-italiani/sportello/app/store"
)

// Issuing at the desk, and creating a staff member or reissuing their code in staff
// administration, follow POST/redirect/GET. The page that issues (or resets)
// carries a one-time token in its form; the first POST with a token issues the code
// and keeps it, sealed with the system secret (purpose DeskIssuePurpose, bound to the
// token and the account), in desk_issues under that token; the answer is a redirect
// to a page that shows the code kept for the token. So a reload, a double click or a
// resent form never draws a second code (which would void the letter already
// printed): every POST with the same token finds the row and is sent to the same page.
//
// The row is inserted in the transaction that issues, so concurrent POSTs with one
// token serialize on the primary key: one issues, the others get ErrIssueDone. The
// sealed code is kept for DeskIssueTTL only (the time to print the letter), and the
// page shows it only while it is still the account's current code.

// DeskIssuePurpose is the secretbox purpose of the codes kept for the desk's page.
const DeskIssuePurpose = "desk-issue"

// DeskIssueTTL is how long the desk's page can show an issued code again.
const DeskIssueTTL = 30 * time.Minute

// ErrIssueDone is returned by IssueOnce when the token was already used: the caller
// shows the credentials page of that token (IssuedByToken).
var ErrIssueDone = errors.New("accounts: credentials already issued for this form")

// ErrIssueGone is returned by IssuedByToken when the token is unknown, older than
// DeskIssueTTL, or its code is no longer the account's current one.
var ErrIssueGone = errors.New("accounts: the issued code can no longer be shown")

// deskIssueRow is one use of a desk form token.
type deskIssueRow struct {
	EnteID    string `gorm:"column:ente_id;primaryKey"`
	Token     string `gorm:"primaryKey"`
	AccountID int64
	Sealed    string
	CreatedAt time.Time
}

// TableName fixes the table name.
func (deskIssueRow) TableName() string { return "desk_issues" }

func deskIssueMigration() *store.Migration {
	type deskIssue struct {
		EnteID    string    `gorm:"column:ente_id;primaryKey;size:40"`
		Token     string    `gorm:"primaryKey;size:40"`
		AccountID int64     `gorm:"not null"`
		Sealed    string    `gorm:"type:text;not null;default:''"`
		CreatedAt time.Time `gorm:"not null"`
	}
	return &store.Migration{
		ID:      "accounts/0005_desk_issues",
		Migrate: func(tx *gorm.DB) error { return tx.Table("desk_issues").AutoMigrate(&deskIssue{}) },
	}
}

// idDocMigration adds the identity document's issuing authority and expiry date.
func idDocMigration() *store.Migration {
	type account struct {
		IDDocIssuer  string `gorm:"column:id_doc_issuer;size:100;not null;default:''"`
		IDDocExpires string `gorm:"column:id_doc_expires;size:10;not null;default:''"`
	}
	return &store.Migration{
		ID: "accounts/0004_id_doc_details",
		Migrate: func(tx *gorm.DB) error {
			m := tx.Table("accounts").Migrator()
			for _, f := range []string{"IDDocIssuer", "IDDocExpires"} {
				if !m.HasColumn(&account{}, f) {
					if err := m.AddColumn(&account{}, f); err != nil {
						return err
					}
				}
			}
			return nil
		},
	}
}

var tokenPattern = regexp.MustCompile(`^[A-Z2-7]{26}$`)

// NewDeskToken returns a fresh token for a desk form that issues credentials.
func NewDeskToken() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b[:])
}

// ValidDeskToken reports whether s has the shape of NewDeskToken's tokens.
func ValidDeskToken(s string) bool { return tokenPattern.MatchString(s) }

func enteOf(ctx context.Context) string {
	if e := enti.FromContext(ctx); e != nil {
		return e.ID
	}
	return ""
}

func deskIssueContext(token string, accountID int64) string {
	return token + "/" + strconv.FormatInt(accountID, 10)
}

// IssueOnce issues credentials to the account (a desk reset when reset is true: see
// DeskResetPassword; otherwise IssueCredentials) unless token was already used, in
// which case it returns ErrIssueDone and changes nothing. The code is kept sealed for
// IssuedByToken. It needs Options.Box.
func (s *Service) IssueOnce(ctx context.Context, actor string, accountID int64, token string, reset bool) error {
	_, err := s.once(ctx, token, func(tx *txn) (int64, Credentials, error) {
		var cred Credentials
		var err error
		if reset {
			cred, err = s.deskResetTx(tx, actor, accountID)
		} else {
			cred, err = s.issueTx(tx, actor, accountID)
		}
		return accountID, cred, err
	})
	return err
}

// CreateStaffOnce is CreateStaff once per form token: the first call with token
// creates the staff member, issues the code and keeps it sealed for the token
// (IssuedByToken, TakeIssued); a later or concurrent call with the same token creates
// nothing and returns ErrIssueDone with the id of the account that token created.
// Bad input is an *InputError and uses no token. It needs Options.Box.
func (s *Service) CreateStaffOnce(ctx context.Context, actor, token string, in StaffInput) (int64, error) {
	r, roles, err := s.staffRow(actor, in)
	if err != nil {
		return 0, err
	}
	id, err := s.once(ctx, token, func(tx *txn) (int64, Credentials, error) {
		if e := enti.FromContext(ctx); e != nil && r.EnteID == "" {
			r.EnteID = e.ID
		}
		r.ID = 0
		if err := tx.db.Create(r).Error; err != nil {
			return 0, Credentials{}, err
		}
		cred, err := s.createStaffTx(tx, actor, r, roles)
		return r.ID, cred, err
	})
	if errors.Is(err, store.ErrDuplicate) {
		return 0, s.staffTaken(ctx, r)
	}
	return id, err
}

// once runs fn, which issues a code to an account, in the transaction that records the
// first use of token, and keeps the code sealed for the token. A token already used
// gives ErrIssueDone and the account id recorded for it. Concurrent calls with one
// token serialize on the row's primary key: one runs fn, the others wait for its
// commit and get ErrIssueDone (or, if it rolled back, the next one runs fn).
func (s *Service) once(ctx context.Context, token string, fn func(tx *txn) (int64, Credentials, error)) (int64, error) {
	if s.o.Box == nil {
		return 0, errNoBox
	}
	if !ValidDeskToken(token) {
		return 0, &InputError{Fields: map[string]string{"token": "accounts.cred.token_invalid"}}
	}
	ente := enteOf(ctx)
	now := s.now()
	var accountID int64
	err := s.tx(ctx, func(tx *txn) error {
		row := deskIssueRow{EnteID: ente, Token: token, CreatedAt: now}
		if err := tx.db.Create(&row).Error; err != nil {
			if errors.Is(err, store.ErrDuplicate) {
				return ErrIssueDone
			}
			return internal("desk issue", err)
		}
		id, cred, err := fn(tx)
		if err != nil {
			return err
		}
		accountID = id
		sealed, err := s.o.Box.SealString(DeskIssuePurpose, deskIssueContext(token, id), NormalizeCode(cred.ActivationCode))
		if err != nil {
			return internal("seal desk code", err)
		}
		if err := tx.db.Model(&deskIssueRow{}).Where("ente_id = ? AND token = ?", ente, token).
			Updates(map[string]any{"account_id": id, "sealed": sealed}).Error; err != nil {
			return internal("desk issue", err)
		}
		// Codes kept past their time are dropped here rather than by a job.
		return tx.db.Where("ente_id = ? AND created_at < ?", ente, now.Add(-DeskIssueTTL)).Delete(&deskIssueRow{}).Error
	})
	if errors.Is(err, store.ErrDuplicate) {
		// A duplicate that was not fn's own (a token row committed meanwhile).
		var n int64
		if e := s.db.WithContext(ctx).Model(&deskIssueRow{}).Where("ente_id = ? AND token = ?", ente, token).Count(&n).Error; e == nil && n > 0 {
			err = ErrIssueDone
		}
	}
	if errors.Is(err, ErrIssueDone) {
		var row deskIssueRow
		if e := s.db.WithContext(ctx).Where("ente_id = ? AND token = ?", ente, token).Take(&row).Error; e != nil {
			return 0, internal("desk issue", e)
		}
		return row.AccountID, ErrIssueDone
	}
	return accountID, err
}

// IssuedByToken returns the account and the credentials issued with token, while they
// are the account's current, unexpired code and younger than DeskIssueTTL; otherwise
// ErrIssueGone. The code can be shown again (the desk's page survives a reload).
func (s *Service) IssuedByToken(ctx context.Context, accountID int64, token string) (*Account, Credentials, error) {
	return s.issued(ctx, accountID, token, false)
}

// TakeIssued is IssuedByToken for a page that shows the code once: the first call
// returns it and forgets the sealed code, so every later call (and every concurrent
// one but one) gets ErrIssueGone.
func (s *Service) TakeIssued(ctx context.Context, accountID int64, token string) (*Account, Credentials, error) {
	return s.issued(ctx, accountID, token, true)
}

func (s *Service) issued(ctx context.Context, accountID int64, token string, take bool) (*Account, Credentials, error) {
	if s.o.Box == nil {
		return nil, Credentials{}, errNoBox
	}
	if !ValidDeskToken(token) {
		return nil, Credentials{}, ErrIssueGone
	}
	var row deskIssueRow
	err := s.db.WithContext(ctx).Where("ente_id = ? AND token = ? AND account_id = ?", enteOf(ctx), token, accountID).
		Take(&row).Error
	if errors.Is(err, store.ErrNotFound) {
		return nil, Credentials{}, ErrIssueGone
	}
	if err != nil {
		return nil, Credentials{}, internal("desk issue", err)
	}
	if row.Sealed == "" || row.CreatedAt.Before(s.now().Add(-DeskIssueTTL)) {
		return nil, Credentials{}, ErrIssueGone
	}
	code, err := s.o.Box.OpenString(DeskIssuePurpose, deskIssueContext(token, accountID), row.Sealed)
	if err != nil {
		return nil, Credentials{}, ErrIssueGone
	}
	a, cred, err := s.CredentialsFor(ctx, accountID, code)
	if errors.Is(err, ErrInvalidActivation) {
		return nil, Credentials{}, ErrIssueGone
	}
	if err != nil || !take {
		return a, cred, err
	}
	res := s.db.WithContext(ctx).Model(&deskIssueRow{}).
		Where("ente_id = ? AND token = ? AND account_id = ? AND sealed = ?", row.EnteID, token, accountID, row.Sealed).
		Update("sealed", "")
	if res.Error != nil {
		return nil, Credentials{}, internal("desk issue", res.Error)
	}
	if res.RowsAffected != 1 {
		return nil, Credentials{}, ErrIssueGone
	}
	return a, cred, nil
}
