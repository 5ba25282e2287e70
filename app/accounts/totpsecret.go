package accounts

import (
	"context"
	"errors"
	"github.com/comuni-italiani/sportello/app/enti"
	"strconv"

	"gorm.io/gorm"

	"github.com/comuni-italiani/sportello/app/secretbox"
	"github.com/comuni-italiani/sportello/app/store"
)

// TOTP secrets at rest. An authenticator's secret is what a login's second factor is
// checked against, so, unlike passwords and one-time codes (hashed), it must be
// readable by the portal: it is stored sealed with the system secret
// (app/secretbox), purpose TOTPPurpose, bound to the account's id, in totp_secret
// and totp_pending_secret. Sealing and opening happen only here, at the boundary
// between the row and the code that computes TOTP codes.

// TOTPPurpose is the secretbox purpose of TOTP secrets.
const TOTPPurpose = "accounts.totp"

// errNoBox: the service was built without Options.Box and meets a TOTP secret.
var errNoBox = errors.New("accounts: no system secret configured (Options.Box)")

func totpContext(key string) string { return "account:" + key }

// SealedColumns are the columns of this package that hold values sealed with the
// system secret (both TOTP columns), for the start-up check and for `sportello
// secrets rotate`.
func SealedColumns() []secretbox.Column {
	col := func(name string, forget map[string]any) secretbox.Column {
		return secretbox.Column{Table: "accounts", Key: "id", Value: name, IntKey: true,
			Purpose: TOTPPurpose, Context: totpContext, Forget: forget}
	}
	// A lost current secret turns TOTP off: citizens log in with their password
	// and may enrol again; staff cannot log in without TOTP until reset (sportello
	// staff reset), when they enrol again during activation.
	return []secretbox.Column{
		col("totp_secret", map[string]any{"totp_enabled": false, "totp_last_step": 0}),
		col("totp_pending_secret", map[string]any{}),
	}
}

// sealTOTP seals a new TOTP secret (base32) for the account.
func (s *Service) sealTOTP(accountID int64, secret string) (string, error) {
	if s.o.Box == nil {
		return "", errNoBox
	}
	return s.o.Box.SealString(TOTPPurpose, totpContext(strconv.FormatInt(accountID, 10)), secret)
}

// openTOTP returns the base32 secret held sealed in one of r's TOTP columns, or ""
// when the column is empty.
func (s *Service) openTOTP(r *accountRow, sealed string) (string, error) {
	if sealed == "" {
		return "", nil
	}
	if s.o.Box == nil {
		return "", errNoBox
	}
	return s.o.Box.OpenString(TOTPPurpose, totpContext(strconv.FormatInt(r.ID, 10)), sealed)
}

// DemoTOTPSecret returns the TOTP secret of an account created by createdBy (the
// demo seeding, which prints its demo staff's secrets), or "" when it has none. It
// refuses any other account: nothing else ever reads a secret back.
func (s *Service) DemoTOTPSecret(ctx context.Context, username, createdBy string) (string, error) {
	if createdBy == "" {
		return "", ErrNotFound
	}
	r, err := s.row(ctx, s.db, "username = ? AND created_by = ?", username, createdBy)
	if err != nil {
		return "", err
	}
	secret, err := s.openTOTP(r, r.TOTPSecret)
	if err != nil {
		return "", internal("totp secret", err)
	}
	return secret, nil
}

// sealedTOTPMigration widens the TOTP columns for sealed values (about 120
// characters instead of 32). SQLite does not enforce varchar lengths. The values
// themselves are sealed at start by secretbox.Prepare, which holds the system secret
// that a migration does not (docs/ARCHITECTURE.md).
func sealedTOTPMigration() *store.Migration {
	return &store.Migration{
		ID: "accounts/0002_sealed_totp",
		Migrate: func(tx *gorm.DB) error {
			if store.DialectOf(tx) != store.Postgres {
				return nil
			}
			return tx.Exec(`ALTER TABLE accounts ALTER COLUMN totp_secret TYPE varchar(255),
				ALTER COLUMN totp_pending_secret TYPE varchar(255)`).Error
		},
	}
}

// enteMigration gives every account its home ente (see accountRow.EnteID). The
// accounts table is not guarded by ente (identities are installation-wide): the
// desk and staff pages filter by it.
func enteMigration() *store.Migration {
	return &store.Migration{
		ID:      "accounts/0003_ente",
		Migrate: func(tx *gorm.DB) error { return enti.AddColumn(tx, "accounts") },
	}
}

// Tables are the account tables that carry an ente (given to enti.Adopt).
var Tables = []string{"accounts"}
