package accounts_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/comuni-italiani/sportello/app/accounts"
	"github.com/comuni-italiani/sportello/app/secretbox"
	"github.com/comuni-italiani/sportello/app/store/storetest"
)

// totpColumns reads an account's two TOTP columns as stored.
func totpColumns(t *testing.T, db *gorm.DB, id int64) (current, pending string) {
	t.Helper()
	var r struct{ TOTPSecret, TOTPPendingSecret string }
	if err := db.Table("accounts").Select("totp_secret AS totp_secret, totp_pending_secret AS totp_pending_secret").
		Where("id = ?", id).Scan(&r).Error; err != nil {
		t.Fatal(err)
	}
	return r.TOTPSecret, r.TOTPPendingSecret
}

// TestTOTPSecretsSealed: the database never holds a TOTP secret in clear; a value
// written in clear by an older version is sealed at start and keeps working; a
// sealed value moved to another account does not open there; a citizen with TOTP
// logs in with the new system secret after rotation.
func TestTOTPSecretsSealed(t *testing.T) {
	t.Parallel()
	storetest.Each(t, migrations(), func(t *testing.T, db *gorm.DB) {
		e := newEnv(t, db)
		a := e.activeCitizen()
		secret, _, err := e.svc.BeginTOTP(e.ctx, a.ID)
		if err != nil {
			t.Fatal(err)
		}
		cur, pend := totpColumns(t, db, a.ID)
		if cur != "" || !secretbox.IsSealed(pend) || strings.Contains(pend, secret) {
			t.Fatalf("pending secret stored as %q (secret %s)", pend, secret)
		}
		if err := e.svc.ConfirmTOTP(e.ctx, a.ID, e.code(secret)); err != nil {
			t.Fatal(err)
		}
		cur, pend = totpColumns(t, db, a.ID)
		if !secretbox.IsSealed(cur) || pend != "" || strings.Contains(cur, secret) {
			t.Fatalf("secret stored as %q / %q", cur, pend)
		}

		// An older installation wrote a second citizen's secret in clear.
		b := e.register(accounts.CitizenInput{FiscalCode: cfAnna, GivenName: "Anna", FamilyName: "Bianchi",
			BirthDate: date(1992, 5, 5), Email: "anna@example.org", IDDocType: accounts.DocCIE, IDDocNumber: "CA11111BB", DocumentSeen: true})
		c := e.issue(b.ID)
		if _, err := e.svc.Activate(e.ctx, c.Username, c.ActivationCode, goodPassword, "10.0.0.1"); err != nil {
			t.Fatal(err)
		}
		const legacy = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
		db.Table("accounts").Where("id = ?", b.ID).Updates(map[string]any{"totp_secret": legacy, "totp_enabled": true})
		if err := secretbox.Prepare(e.ctx, db, testBox(t), accounts.SealedColumns()); err != nil {
			t.Fatal(err)
		}
		cur, _ = totpColumns(t, db, b.ID)
		if !secretbox.IsSealed(cur) || strings.Contains(cur, legacy) {
			t.Fatalf("legacy secret not sealed at start: %q", cur)
		}
		e.clk.Advance(30 * time.Second)
		if err := e.svc.VerifyTOTP(e.ctx, b.ID, e.code(legacy), "10.0.0.1"); err != nil {
			t.Fatalf("the sealed legacy secret no longer works: %v", err)
		}

		// Swap: a's sealed secret copied into b's row does not open for b.
		aSealed, _ := totpColumns(t, db, a.ID)
		db.Table("accounts").Where("id = ?", b.ID).Update("totp_secret", aSealed)
		e.clk.Advance(30 * time.Second)
		// Refused as an internal error, not as a wrong code (which would count towards
		// a lockout the person did nothing to deserve).
		err = e.svc.VerifyTOTP(e.ctx, b.ID, e.code(secret), "10.0.0.1")
		if err == nil || errors.Is(err, accounts.ErrInvalidTOTP) {
			t.Fatalf("a secret moved from another account: %v, want an internal error", err)
		}
		db.Table("accounts").Where("id = ?", b.ID).Update("totp_secret", "")

		// Rotation: new secret in front, old one behind; reseal; the new one alone works.
		newSecret := "accounts-test-new-system-secret-987654321"
		both := testBox(t, newSecret, testSecret)
		for _, col := range accounts.SealedColumns() {
			if _, err := secretbox.Reseal(e.ctx, db, both, col); err != nil {
				t.Fatal(err)
			}
		}
		e.svc = accounts.New(db, accounts.Options{Now: e.clk.Now, Hash: fastHash, Box: testBox(t, newSecret)})
		e.clk.Advance(30 * time.Second)
		if err := e.svc.VerifyTOTP(e.ctx, a.ID, e.code(secret), "10.0.0.1"); err != nil {
			t.Fatalf("TOTP after rotation: %v", err)
		}
		// With only the old secret the portal cannot read the rotated secrets, and says so.
		err = secretbox.Prepare(e.ctx, db, testBox(t), accounts.SealedColumns())
		var wrong *secretbox.WrongSecretError
		if !errors.As(err, &wrong) || !strings.Contains(err.Error(), "secrets.system") || !strings.Contains(err.Error(), "accounts.totp_secret") {
			t.Fatalf("start with the old secret only: %v", err)
		}
	})
}
