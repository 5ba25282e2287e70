package accounts

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"errors"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
)

// Authenticate checks a username and password. It returns the account, or
// ErrInvalidCredentials (unknown username or wrong password, after the same work),
// ErrLocked (too many failures for the username or from ip: retry later, even with the
// right password) or ErrNotActive (right password, blocked account). A pending account
// has no password yet: its holder must activate it.
//
// When NeedsTOTP is true the login is not complete: the provider must then call
// VerifyTOTP, and RecordLogin once everything passed.
func (s *Service) Authenticate(ctx context.Context, username, password, ip string) (*Account, error) {
	uname := normalizeUsername(username)
	// The attempt is counted before the hash runs (see reserve): a burst of parallel
	// guesses gets at most the threshold evaluated.
	at, err := s.reserve(ctx, truncate(uname, MaxUsernameLen), ip)
	if err != nil {
		return nil, err
	}
	r, err := s.row(ctx, s.db, "username = ?", uname)
	if err != nil && !errors.Is(err, ErrNotFound) {
		_ = at.release(ctx)
		return nil, err
	}
	if uname == "" || len(uname) > MaxUsernameLen {
		r = nil
	}
	phc := s.dummyHash()
	if r != nil && r.PasswordHash != "" {
		phc = r.PasswordHash
	}
	ok, stale := s.verify(phc, password)
	if r == nil || r.PasswordHash == "" || !ok {
		reason := "wrong_password"
		switch {
		case r == nil:
			reason = "unknown_user"
		case r.PasswordHash == "":
			reason = "not_activated"
		}
		at.fail(ctx, ActLoginFailed, r, map[string]any{"reason": reason})
		return nil, ErrInvalidCredentials
	}
	if r.Status != string(StatusActive) {
		if err := at.release(ctx); err != nil {
			return nil, err
		}
		s.auditNow(ctx, anonymous, ActLoginRefused, r, ip, "denied", map[string]any{"status": r.Status})
		return nil, ErrNotActive
	}
	if stale {
		s.rehash(ctx, r, password)
	}
	a := r.account()
	if s.NeedsTOTP(a) {
		// With a second factor the count is cleared only once it passes, or the
		// password alone would reset the lock on TOTP guesses.
		err = at.release(ctx)
	} else {
		err = at.succeed(ctx)
	}
	if err != nil {
		return nil, err
	}
	return a, nil
}

// rehash replaces a hash made with old parameters. Failure is only logged: the login
// itself succeeded.
func (s *Service) rehash(ctx context.Context, r *accountRow, password string) {
	h, err := s.hash(password)
	if err == nil {
		err = s.db.WithContext(ctx).Model(&accountRow{}).
			Where("id = ? AND password_hash = ?", r.ID, r.PasswordHash).
			Update("password_hash", h).Error
	}
	if err != nil {
		s.log.WarnContext(ctx, "password rehash failed", "account_id", r.ID, "err", err)
	}
}

// RecordLogin notes a completed login (password and, when needed, TOTP): the time and
// address, an audit entry, and the end of any failure count for the username.
func (s *Service) RecordLogin(ctx context.Context, accountID int64, ip string) error {
	r, err := s.row(ctx, s.db, "id = ?", accountID)
	if err != nil {
		return err
	}
	now := s.now()
	err = s.tx(ctx, func(tx *txn) error {
		if err := tx.db.Model(&accountRow{}).Where("id = ?", r.ID).
			Updates(map[string]any{"last_login_at": now, "last_login_ip": truncate(ip, 64)}).Error; err != nil {
			return err
		}
		return tx.audit(selfActor(r), ActLogin, r, ip, map[string]any{"totp": r.TOTPEnabled})
	})
	if err != nil {
		return internal("record login", err)
	}
	return s.clearThrottle(ctx, userKey(r.Username))
}

// TOTP parameters (RFC 6238 defaults, what every authenticator app supports).
const (
	TOTPPeriod = 30
	TOTPDigits = 6
	TOTPSkew   = 1
)

var totpOpts = totp.ValidateOpts{Period: TOTPPeriod, Skew: TOTPSkew, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1}

// matchTOTP returns the time step whose code equals code, within the allowed skew
// around now.
func (s *Service) matchTOTP(secret, code string) (int64, bool) {
	if s.evalHook != nil {
		s.evalHook("totp")
	}
	code = strings.ReplaceAll(strings.TrimSpace(code), " ", "")
	if len(code) != TOTPDigits || strings.Trim(code, "0123456789") != "" || secret == "" {
		return 0, false
	}
	now := s.now().Unix() / TOTPPeriod
	var found int64
	ok := false
	for step := now - TOTPSkew; step <= now+TOTPSkew; step++ {
		want, err := totp.GenerateCodeCustom(secret, time.Unix(step*TOTPPeriod, 0), totpOpts)
		if err != nil {
			return 0, false
		}
		if subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 {
			found, ok = step, true
		}
	}
	return found, ok
}

// totpEnrollable reports whether TOTP may be (re)enrolled on r: an active account, or
// a pending one whose activation code is still valid (staff enrol during activation).
func (s *Service) totpEnrollable(r *accountRow) bool {
	switch Status(r.Status) {
	case StatusActive:
		return true
	case StatusPending:
		return r.ActivationHash != "" && r.ActivationExpiresAt != nil && r.ActivationExpiresAt.After(s.now())
	}
	return false
}

// BeginTOTP starts enrolling an authenticator app: it returns the new secret (base32,
// for typing in) and its otpauth:// URL (for the QR code). Nothing changes for logins
// until ConfirmTOTP proves the app works. The provider calls it for a logged-in account
// or, during activation, after CheckActivation succeeded.
func (s *Service) BeginTOTP(ctx context.Context, accountID int64) (secret, otpauthURL string, err error) {
	r, err := s.row(ctx, s.db, "id = ?", accountID)
	if err != nil {
		return "", "", err
	}
	if !s.totpEnrollable(r) {
		return "", "", ErrNotActive
	}
	key, err := totp.Generate(totp.GenerateOpts{Issuer: s.o.Issuer, AccountName: r.Username, Period: TOTPPeriod,
		SecretSize: 20, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1, Rand: rand.Reader})
	if err != nil {
		return "", "", internal("totp secret", err)
	}
	sealed, err := s.sealTOTP(r.ID, key.Secret())
	if err != nil {
		return "", "", internal("totp secret", err)
	}
	if err := s.db.WithContext(ctx).Model(&accountRow{}).Where("id = ?", r.ID).
		Updates(map[string]any{"totp_pending_secret": sealed, "updated_at": s.now()}).Error; err != nil {
		return "", "", internal("totp begin", err)
	}
	return key.Secret(), key.URL(), nil
}

// ConfirmTOTP completes the enrolment begun by BeginTOTP with a code from the app;
// from then on logins need a code. It returns ErrInvalidTOTP for a wrong code (the
// enrolment stays open: try again with the next code).
func (s *Service) ConfirmTOTP(ctx context.Context, accountID int64, code string) error {
	r, err := s.row(ctx, s.db, "id = ?", accountID)
	if err != nil {
		return err
	}
	if !s.totpEnrollable(r) {
		return ErrNotActive
	}
	pending, err := s.openTOTP(r, r.TOTPPendingSecret)
	if err != nil {
		return internal("totp secret", err)
	}
	step, ok := s.matchTOTP(pending, code)
	if !ok {
		return ErrInvalidTOTP
	}
	return s.tx(ctx, func(tx *txn) error {
		res := tx.db.Model(&accountRow{}).Where("id = ? AND totp_pending_secret = ?", r.ID, r.TOTPPendingSecret).
			Updates(map[string]any{"totp_secret": r.TOTPPendingSecret, "totp_pending_secret": "",
				"totp_enabled": true, "totp_last_step": step, "updated_at": s.now()})
		if res.Error != nil {
			return internal("totp confirm", res.Error)
		}
		if res.RowsAffected != 1 {
			return ErrInvalidTOTP
		}
		return tx.audit(selfActor(r), ActTOTPEnable, r, "", map[string]any{"reenrol": r.TOTPEnabled})
	})
}

// VerifyTOTP checks the second factor of a login after Authenticate. Wrong codes count
// as failures for the lockout like wrong passwords; a code whose time step was already
// used (or an earlier one) is refused with ErrInvalidTOTP.
func (s *Service) VerifyTOTP(ctx context.Context, accountID int64, code, ip string) error {
	r, err := s.row(ctx, s.db, "id = ?", accountID)
	if errors.Is(err, ErrNotFound) {
		return ErrInvalidTOTP
	}
	if err != nil {
		return err
	}
	// Counted before the code is compared, like a password (see reserve).
	at, err := s.reserve(ctx, r.Username, ip)
	if err != nil {
		return err
	}
	if r.Status != string(StatusActive) {
		if err := at.release(ctx); err != nil {
			return err
		}
		return ErrNotActive
	}
	secret, err := s.openTOTP(r, r.TOTPSecret)
	if err != nil {
		return internal("totp secret", err)
	}
	step, ok := s.matchTOTP(secret, code)
	if !ok || !r.TOTPEnabled {
		at.fail(ctx, ActTOTPFailed, r, map[string]any{"reason": "wrong_code"})
		return ErrInvalidTOTP
	}
	res := s.db.WithContext(ctx).Model(&accountRow{}).Where("id = ? AND totp_last_step < ?", r.ID, step).
		Update("totp_last_step", step)
	if res.Error != nil {
		_ = at.release(ctx)
		return internal("totp verify", res.Error)
	}
	if res.RowsAffected != 1 {
		at.fail(ctx, ActTOTPFailed, r, map[string]any{"reason": "replay"})
		return ErrInvalidTOTP
	}
	return at.succeed(ctx)
}
