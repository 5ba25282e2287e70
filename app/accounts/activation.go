package accounts

import (
	"context"
	"crypto/rand"
	"errors"
	"strings"
	"time"
)

// CodeAlphabet is the activation code alphabet: capital letters and digits that cannot
// be mistaken for one another when read from paper (no 0/O, 1/I, 2/Z, 5/S, 8/B).
const CodeAlphabet = "ACDEFGHJKLMNPQRTUVWXY3479"

// CodeLen is the number of characters of an activation code (about 56 bits).
const CodeLen = 12

// newActivationCode draws CodeLen characters uniformly from CodeAlphabet.
func newActivationCode() (string, error) {
	n := len(CodeAlphabet)
	limit := 256 - 256%n // reject bytes that would bias the draw
	out := make([]byte, 0, CodeLen)
	buf := make([]byte, 32)
	for len(out) < CodeLen {
		if _, err := rand.Read(buf); err != nil {
			return "", err
		}
		for _, b := range buf {
			if int(b) < limit && len(out) < CodeLen {
				out = append(out, CodeAlphabet[int(b)%n])
			}
		}
	}
	return string(out), nil
}

// NormalizeCode reads an activation code as typed: case, spaces and dashes do not
// matter.
func NormalizeCode(code string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z':
			return r - 'a' + 'A'
		case r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
			return r
		}
		return -1
	}, code)
}

// FormatCode groups a code by four for printing: "ACDE-FGHJ-KMNP".
func FormatCode(code string) string {
	var b strings.Builder
	for i, r := range code {
		if i > 0 && i%4 == 0 {
			b.WriteByte('-')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// issue draws a new activation code for r within tx and stores its hash and expiry.
func (s *Service) issue(tx *txn, r *accountRow) (Credentials, error) {
	code, err := newActivationCode()
	if err != nil {
		return Credentials{}, internal("activation code", err)
	}
	h, err := s.hash(code)
	if err != nil {
		return Credentials{}, internal("hash activation code", err)
	}
	now := s.now()
	exp := now.Add(s.o.ActivationTTL)
	res := tx.db.Model(&accountRow{}).Where("id = ? AND status = ?", r.ID, string(StatusPending)).
		Updates(map[string]any{"activation_hash": h, "activation_expires_at": exp, "updated_at": now})
	if res.Error != nil {
		return Credentials{}, internal("issue credentials", res.Error)
	}
	if res.RowsAffected != 1 {
		return Credentials{}, ErrWrongState
	}
	r.ActivationHash, r.ActivationExpiresAt = h, &exp
	return Credentials{Username: r.Username, ActivationCode: FormatCode(code), ExpiresAt: exp}, nil
}

// IssueCredentials draws a new activation code for a pending account and returns it:
// the only time it exists in clear. Calling it again reissues: the previous code stops
// working. An active account gets ErrWrongState (use DeskResetPassword), a blocked one
// too (unlock it first).
func (s *Service) IssueCredentials(ctx context.Context, actor string, accountID int64) (Credentials, error) {
	var cred Credentials
	err := s.tx(ctx, func(tx *txn) error {
		var err error
		cred, err = s.issueTx(tx, actor, accountID)
		return err
	})
	return cred, err
}

// issueTx is IssueCredentials within tx.
func (s *Service) issueTx(tx *txn, actor string, accountID int64) (Credentials, error) {
	r, err := s.row(tx.ctx, tx.db, "id = ?", accountID)
	if err != nil {
		return Credentials{}, err
	}
	if r.Status != string(StatusPending) {
		return Credentials{}, ErrWrongState
	}
	reissue := r.ActivationHash != ""
	cred, err := s.issue(tx, r)
	if err != nil {
		return Credentials{}, err
	}
	action := ActIssue
	if reissue {
		action = ActReissue
	}
	err = tx.audit(staffActor(actor), action, r, "", map[string]any{"expires_at": cred.ExpiresAt.Format(time.RFC3339)})
	return cred, err
}

// CredentialsFor checks that code is the current, unexpired activation code of the
// pending account and returns the account and its credentials (for reprinting the
// letter while the code is at hand). Otherwise it returns ErrInvalidActivation.
func (s *Service) CredentialsFor(ctx context.Context, accountID int64, code string) (*Account, Credentials, error) {
	r, err := s.row(ctx, s.db, "id = ?", accountID)
	if err != nil {
		return nil, Credentials{}, err
	}
	c := NormalizeCode(code)
	if r.Status != string(StatusPending) || r.ActivationHash == "" || r.ActivationExpiresAt == nil ||
		!r.ActivationExpiresAt.After(s.now()) || len(c) != CodeLen {
		return nil, Credentials{}, ErrInvalidActivation
	}
	if ok, _ := s.verify(r.ActivationHash, c); !ok {
		return nil, Credentials{}, ErrInvalidActivation
	}
	return r.account(), Credentials{Username: r.Username, ActivationCode: FormatCode(c), ExpiresAt: r.ActivationExpiresAt.UTC()}, nil
}

// checkActivation is CheckActivation returning the row.
func (s *Service) checkActivation(ctx context.Context, username, code, ip string) (*accountRow, error) {
	uname := normalizeUsername(username)
	// Counted before the code's hash runs (see reserve).
	at, err := s.reserve(ctx, truncate(uname, MaxUsernameLen), ip)
	if err != nil {
		return nil, err
	}
	r, err := s.row(ctx, s.db, "username = ?", uname)
	if err != nil && !errors.Is(err, ErrNotFound) {
		_ = at.release(ctx)
		return nil, err
	}
	c := NormalizeCode(code)
	reason := ""
	switch {
	case r == nil:
		reason = "unknown_user"
	case r.Status != string(StatusPending) || r.ActivationHash == "":
		reason = "no_code"
	case r.ActivationExpiresAt == nil || !r.ActivationExpiresAt.After(s.now()):
		reason = "expired"
	}
	phc := s.dummyHash()
	if reason == "" {
		phc = r.ActivationHash
	}
	if ok, _ := s.verify(phc, c); reason == "" && !ok {
		reason = "wrong_code"
	}
	if reason != "" {
		at.fail(ctx, ActActivationFail, r, map[string]any{"reason": reason})
		return nil, ErrInvalidActivation
	}
	// The right code: not a failure. Activate clears the count once the code is used.
	if err := at.release(ctx); err != nil {
		return nil, err
	}
	return r, nil
}

// CheckActivation checks a username and activation code (first step of the
// activation page) without using the code up. It returns the account, or
// ErrInvalidActivation (unknown username, wrong, expired, replaced or used code: the
// same answer for all) or ErrLocked. Failures count for the lockout.
func (s *Service) CheckActivation(ctx context.Context, username, code, ip string) (*Account, error) {
	r, err := s.checkActivation(ctx, username, code, ip)
	if err != nil {
		return nil, err
	}
	return r.account(), nil
}

// Activate uses up the activation code and sets the password; the account becomes
// active. It returns the errors of CheckActivation, a *PasswordError for a password
// the policy refuses (the code stays valid), and ErrTOTPRequired for a staff account
// that has not confirmed TOTP yet (BeginTOTP and ConfirmTOTP first). Of two concurrent
// activations with the same code only one succeeds.
func (s *Service) Activate(ctx context.Context, username, code, password, ip string) (*Account, error) {
	r, err := s.checkActivation(ctx, username, code, ip)
	if err != nil {
		return nil, err
	}
	if err := checkPasswordFor(password, r); err != nil {
		return nil, err
	}
	if r.Kind == string(KindStaff) && !r.TOTPEnabled {
		return nil, ErrTOTPRequired
	}
	h, err := s.hash(password)
	if err != nil {
		return nil, internal("hash password", err)
	}
	now := s.now()
	err = s.tx(ctx, func(tx *txn) error {
		q := tx.db.Model(&accountRow{}).Where("id = ? AND status = ? AND activation_hash = ?",
			r.ID, string(StatusPending), r.ActivationHash)
		if r.Kind == string(KindStaff) {
			q = q.Where("totp_enabled = ?", true)
		}
		res := q.Updates(map[string]any{"password_hash": h, "status": string(StatusActive), "activation_hash": "",
			"activation_expires_at": nil, "password_changed_at": now, "updated_at": now})
		if res.Error != nil {
			return internal("activate", res.Error)
		}
		if res.RowsAffected != 1 {
			return ErrInvalidActivation
		}
		return tx.audit(selfActor(r), ActActivate, r, ip, map[string]any{"totp": r.TOTPEnabled})
	})
	if err != nil {
		return nil, err
	}
	if err := s.clearThrottle(ctx, userKey(r.Username)); err != nil {
		return nil, err
	}
	return s.Get(ctx, r.ID)
}
