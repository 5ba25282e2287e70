package accounts

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net/url"
	"strings"
	"time"

	"github.com/comuni-italiani/sportello/app/notify"
	"github.com/comuni-italiani/sportello/app/store"
)

// MaxResetMailsPerHour bounds the reset mails one account receives, whoever asks.
const MaxResetMailsPerHour = 3

// ResetPath is where the reset link leads, under BaseURL.
const ResetPath = "/idp/password/nuova"

// errResetUnavailable: the service was built without an outbox or messages.
var errResetUnavailable = errors.New("accounts: password reset needs Options.Outbox and Options.I18n")

func hashToken(token string) string {
	h := sha256.Sum256([]byte(token))
	return hex.EncodeToString(h[:])
}

// RequestPasswordReset mails a reset link (valid one hour, single use) to the active
// account whose username, or email address, is usernameOrEmail. Its answer never says
// whether such an account exists: nil in every case but an internal failure. Blocked,
// pending and unknown accounts, and accounts that already got MaxResetMailsPerHour
// mails in the last hour, get nothing. A locked client address gets ErrLocked, like at
// login.
func (s *Service) RequestPasswordReset(ctx context.Context, usernameOrEmail, ip string) error {
	if s.o.Outbox == nil || s.o.I18n == nil {
		return errResetUnavailable
	}
	if until, err := s.lockedUntil(ctx, ipKey(ip)); err != nil {
		return err
	} else if !until.IsZero() {
		return ErrLocked
	}
	in := strings.TrimSpace(usernameOrEmail)
	if in == "" || len(in) > 254 {
		return nil
	}
	var rows []accountRow
	q := s.db.WithContext(ctx).Where("status = ?", string(StatusActive))
	if strings.Contains(in, "@") {
		q = q.Where("LOWER(email) = ?", strings.ToLower(in))
	} else {
		q = q.Where("username = ?", normalizeUsername(in))
	}
	if err := q.Order("id").Limit(5).Find(&rows).Error; err != nil {
		return internal("reset lookup", err)
	}
	for i := range rows {
		if err := s.sendReset(ctx, &rows[i], ip); err != nil {
			return err
		}
	}
	return nil
}

// sendReset creates a token for r and enqueues the mail, in one transaction.
func (s *Service) sendReset(ctx context.Context, r *accountRow, ip string) error {
	if r.Email == "" {
		return nil
	}
	now := s.now()
	var recent int64
	if err := s.db.WithContext(ctx).Model(&resetTokenRow{}).
		Where("account_id = ? AND created_at > ?", r.ID, now.Add(-time.Hour)).Count(&recent).Error; err != nil {
		return internal("reset count", err)
	}
	if recent >= MaxResetMailsPerHour {
		s.log.InfoContext(ctx, "password reset mail not sent: hourly limit", "account_id", r.ID)
		return nil
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return internal("reset token", err)
	}
	token := base64.RawURLEncoding.EncodeToString(raw)
	link := s.o.BaseURL + ResetPath + "?token=" + url.QueryEscape(token)
	minutes := int(s.o.ResetTTL / time.Minute)
	t := func(lang, key string) string {
		return s.o.I18n.T(lang, key, "Name", r.GivenName, "Username", r.Username, "Link", link,
			"Minutes", minutes, "Issuer", s.o.Issuer)
	}
	msg := notify.Message{
		To: r.Email, ToName: strings.TrimSpace(r.GivenName + " " + r.FamilyName),
		Subject: t("it", "accounts.mail.reset.subject") + " / " + t("en", "accounts.mail.reset.subject"),
		Text:    t("it", "accounts.mail.reset.text") + "\n\n-----\n\n" + t("en", "accounts.mail.reset.text"),
		Kind:    "accounts.password_reset", CitizenCF: r.cf(),
	}
	return s.tx(ctx, func(tx *txn) error {
		row := resetTokenRow{AccountID: r.ID, TokenHash: hashToken(token), ExpiresAt: now.Add(s.o.ResetTTL),
			CreatedAt: now, IP: truncate(ip, 64)}
		if err := tx.db.Create(&row).Error; err != nil {
			return internal("reset token", err)
		}
		if _, err := s.o.Outbox.Enqueue(ctx, tx.db, msg); err != nil {
			return internal("reset mail", err)
		}
		return tx.audit(selfActor(r), ActResetRequest, r, ip, nil)
	})
}

// ResetPassword sets a new password with the token of a reset link. It returns
// ErrInvalidResetToken for an unknown, expired or used token (failures count against
// the client address), a *PasswordError for a password the policy refuses (the token
// stays valid), or ErrLocked. On success every other open reset link of the account
// stops working and its login lock is cleared.
func (s *Service) ResetPassword(ctx context.Context, token, newPassword, ip string) error {
	// Failures count against the client address only: a stale link clicked by its
	// owner must not lock their login. The attempt is counted before the token is
	// looked up (see reserve) and given back unless the token turns out wrong.
	at, err := s.reserve(ctx, "", ip)
	if err != nil {
		return err
	}
	fail := func(reason string, r *accountRow) error {
		at.fail(ctx, ActResetFail, r, map[string]any{"reason": reason})
		return ErrInvalidResetToken
	}
	token = strings.TrimSpace(token)
	if token == "" || len(token) > 100 {
		return fail("malformed", nil)
	}
	var tok resetTokenRow
	err = s.db.WithContext(ctx).Where("token_hash = ?", hashToken(token)).Take(&tok).Error
	if errors.Is(err, store.ErrNotFound) {
		return fail("unknown", nil)
	}
	if err != nil {
		_ = at.release(ctx)
		return internal("reset lookup", err)
	}
	r, err := s.row(ctx, s.db, "id = ?", tok.AccountID)
	if err != nil {
		return fail("unknown", nil)
	}
	now := s.now()
	switch {
	case tok.UsedAt != nil:
		return fail("used", r)
	case !tok.ExpiresAt.After(now):
		return fail("expired", r)
	case r.Status != string(StatusActive):
		return fail("not_active", r)
	}
	// A valid token: whatever follows is not a guess.
	if err := at.release(ctx); err != nil {
		return err
	}
	if err := checkPasswordFor(newPassword, r); err != nil {
		return err
	}
	h, err := s.hash(newPassword)
	if err != nil {
		return internal("hash password", err)
	}
	err = s.tx(ctx, func(tx *txn) error {
		res := tx.db.Model(&resetTokenRow{}).Where("id = ? AND used_at IS NULL", tok.ID).Update("used_at", now)
		if res.Error != nil {
			return internal("reset", res.Error)
		}
		if res.RowsAffected != 1 {
			return ErrInvalidResetToken
		}
		if err := tx.db.Model(&resetTokenRow{}).Where("account_id = ? AND used_at IS NULL", r.ID).
			Update("used_at", now).Error; err != nil {
			return internal("reset", err)
		}
		res = tx.db.Model(&accountRow{}).Where("id = ? AND status = ?", r.ID, string(StatusActive)).
			Updates(map[string]any{"password_hash": h, "password_changed_at": now, "updated_at": now})
		if res.Error != nil {
			return internal("reset", res.Error)
		}
		if res.RowsAffected != 1 {
			return ErrInvalidResetToken
		}
		if err := tx.db.Where("throttle_key = ?", userKey(r.Username)).Delete(&throttleRow{}).Error; err != nil {
			return internal("reset", err)
		}
		return tx.audit(selfActor(r), ActReset, r, ip, nil)
	})
	return err
}
