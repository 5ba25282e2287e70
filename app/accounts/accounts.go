// Package accounts keeps the portal's own login accounts: citizens whose identity the
// URP desk checked in person, and staff. The embedded identity provider (app/idp)
// authenticates against it; the back office (app/accounts/desk) issues and manages
// credentials through it.
//
// The contract:
//
//   - An account is pending (credentials issued, not activated), active or blocked.
//     The desk registers a citizen (the identity document was seen at the desk) and
//     issues credentials: a generated username and a one-time activation code of 12
//     characters from an unambiguous alphabet, valid ActivationTTL (30 days). Only an
//     argon2id hash of the code is stored. Reissuing replaces the code, so the old one
//     stops working; a code activates once.
//   - Activation sets the password. Staff must enrol TOTP before activation completes:
//     the provider calls CheckActivation, then BeginTOTP and ConfirmTOTP, then Activate,
//     which refuses a staff account without TOTP with ErrTOTPRequired. A staff account
//     is therefore never active without a second factor.
//   - Passwords are hashed with argon2id in PHC string format (see HashParams); a hash
//     made with other parameters is replaced at the next successful login. The policy
//     (CheckPassword) asks for at least 10 characters, refuses about a thousand common
//     passwords (Italian ones included) and passwords containing the username or the
//     tax code.
//   - Lockout: failures are counted per username (whether or not the account exists,
//     so the lock reveals nothing) and per client IP. After 5 consecutive failures for
//     a username each further one locks it for a growing delay (1, 2, 4 ... minutes, at
//     most an hour), during which even the right password gets ErrLocked; 20 failures
//     from one IP within 15 minutes lock that IP for 15 minutes. Every attempt
//     (password, TOTP code, activation code, reset link) is counted as a failure
//     BEFORE its secret is evaluated, by one conditional UPDATE ... RETURNING that
//     admits it only while no lock is in force and imposes the lock its count calls
//     for; a success gives the count back. So no burst of parallel guesses, of any
//     size, gets more than the threshold evaluated, on PostgreSQL and SQLite alike.
//   - Unknown usernames and wrong passwords both get ErrInvalidCredentials, after the
//     same hashing work, so neither the answer nor its timing tells whether an account
//     exists. RequestPasswordReset never tells either.
//   - TOTP (RFC 6238: SHA-1, 30 s, 6 digits, one step of skew) refuses a code whose time
//     step was already used. TOTP secrets (current and pending) are stored sealed with
//     the system secret (Options.Box, app/secretbox), bound to the account id: a copy
//     of the database does not give anyone the second factor (totpsecret.go).
//   - Every issue, reissue, activation, block, unlock, desk reset, password reset, staff
//     change, login failure and lockout is written to the audit log, in the same
//     transaction as the change it describes. Codes, tokens and passwords never reach
//     the audit log or the process log.
//   - Time comes from Options.Now, never from the database, so tests can move it.
package accounts

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"gorm.io/gorm"

	"github.com/comuni-italiani/sportello/app/notify"
	"github.com/comuni-italiani/sportello/app/roles"
	"github.com/comuni-italiani/sportello/app/secretbox"
	"github.com/comuni-italiani/sportello/app/web"
)

// Kind tells citizens from staff.
type Kind string

// Account kinds.
const (
	KindCitizen Kind = "citizen"
	KindStaff   Kind = "staff"
)

// Status is where an account stands.
type Status string

// Account statuses.
const (
	// StatusPending has credentials issued (or about to be) and no password yet.
	StatusPending Status = "pending"
	// StatusActive can log in.
	StatusActive Status = "active"
	// StatusBlocked was blocked by the desk or deactivated by an administrator.
	StatusBlocked Status = "blocked"
)

// roleSeparator joins an account's roles in its roles column. The roles themselves are
// named in app/roles (platform) and in each module (services.Roles); the service
// accepts those of Options.Roles. An administrator holds every role.
const roleSeparator = " "

// Identity documents the desk accepts.
const (
	DocIdentityCard = "carta_identita"
	DocCIE          = "cie"
	DocPassport     = "passaporto"
	DocDriving      = "patente"
)

// DocTypes lists the identity documents the desk accepts, in the order forms show
// them. Each has the message key "accounts.doc.<type>".
var DocTypes = []string{DocIdentityCard, DocCIE, DocPassport, DocDriving}

// Account is a login account as callers see it. Secrets (hashes, TOTP seeds) never
// leave the package.
type Account struct {
	ID int64
	// EnteID is the account's home ente (see accountRow).
	EnteID   string
	Username string
	Kind     Kind
	// FiscalCode is the citizen's 16-character codice fiscale ("" for staff without one).
	FiscalCode            string
	GivenName, FamilyName string
	// BirthDate is midnight UTC of the birth day (zero for staff).
	BirthDate     time.Time
	Email         string
	EmailVerified bool
	Phone         string
	// IDDocType and IDDocNumber record the identity document seen at the desk.
	IDDocType, IDDocNumber string
	// IDDocIssuer is the authority that issued the document ("Comune di Valdoria",
	// "Questura di Roma"); IDDocExpires its expiry date (zero when not recorded).
	IDDocIssuer  string
	IDDocExpires time.Time
	// Roles are the staff member's roles.
	Roles       []string
	Status      Status
	TOTPEnabled bool
	LastLoginAt *time.Time
	CreatedAt   time.Time
	UpdatedAt   time.Time

	// BlockedReason says why the account is blocked.
	BlockedReason string
	// CreatedBy is the staff member (or "system:cli") who created the account.
	CreatedBy string
	// ActivationExpiresAt is when the current activation code expires (nil: none).
	ActivationExpiresAt *time.Time
	// FailedLogins counts consecutive failures for the username; LockedUntil is set
	// while it is locked. Both are filled by Get, ByUsername and ByFiscalCode only.
	FailedLogins int
	LockedUntil  *time.Time
}

// FullName is "given family".
func (a *Account) FullName() string {
	return strings.TrimSpace(a.GivenName + " " + a.FamilyName)
}

// HasRole reports whether the account holds role (administrators hold every role).
func (a *Account) HasRole(role string) bool {
	return slices.Contains(a.Roles, role) || slices.Contains(a.Roles, roles.Admin)
}

// Locked reports whether the username is locked at now.
func (a *Account) Locked(now time.Time) bool {
	return a.LockedUntil != nil && a.LockedUntil.After(now)
}

// Credentials are what the citizen needs to activate the account: they are shown and
// printed once, and only a hash of the code is kept.
type Credentials struct {
	Username string
	// ActivationCode is grouped for printing ("ACDE-FGHJ-KMNP"); input is accepted
	// with or without the dashes, in any case.
	ActivationCode string
	ExpiresAt      time.Time
}

// Errors callers test with errors.Is.
var (
	// ErrInvalidCredentials: unknown username or wrong password (deliberately the same).
	ErrInvalidCredentials = errors.New("accounts: invalid username or password")
	// ErrLocked: too many failures for this username or from this IP; retry later.
	ErrLocked = errors.New("accounts: temporarily locked after repeated failures")
	// ErrNotActive: the password was right but the account is blocked.
	ErrNotActive = errors.New("accounts: account not active")
	// ErrInvalidActivation: unknown username, wrong, expired or already used code.
	ErrInvalidActivation = errors.New("accounts: invalid or expired activation code")
	// ErrInvalidTOTP: wrong, malformed or already used one-time code.
	ErrInvalidTOTP = errors.New("accounts: invalid one-time code")
	// ErrInvalidResetToken: unknown, expired or already used password reset link.
	ErrInvalidResetToken = errors.New("accounts: invalid or expired reset link")
	// ErrTOTPRequired: a staff account cannot be activated before TOTP is confirmed.
	ErrTOTPRequired = errors.New("accounts: staff must enrol TOTP before activation")
	// ErrNotFound: no such account (desk and admin lookups).
	ErrNotFound = errors.New("accounts: account not found")
	// ErrAccountExists: an account with this tax code or username already exists.
	ErrAccountExists = errors.New("accounts: account already exists")
	// ErrWrongState: the action does not apply to the account as it stands (issuing
	// credentials to an active account, resetting a blocked one, ...).
	ErrWrongState = errors.New("accounts: action not allowed in the account's state")
	// ErrSelfChange: an administrator tried to deactivate themselves or drop their own
	// admin role.
	ErrSelfChange = errors.New("accounts: administrators cannot deactivate or demote themselves")
)

// PasswordError refuses a password that does not meet the policy. Key is the message
// key explaining why ("accounts.password.too_short", ...), present in every language.
type PasswordError struct{ Key string }

// Error implements error.
func (e *PasswordError) Error() string { return "accounts: password refused: " + e.Key }

// InputError refuses desk or admin input. Fields maps the form field name
// ("fiscal_code", "birth_date", "reason", ...) to the message key of the problem.
type InputError struct{ Fields map[string]string }

// Error implements error, listing the fields and keys.
func (e *InputError) Error() string {
	keys := make([]string, 0, len(e.Fields))
	for f, k := range e.Fields {
		keys = append(keys, f+": "+k)
	}
	slices.Sort(keys)
	return "accounts: invalid input (" + strings.Join(keys, ", ") + ")"
}

func inputErr(field, key string) error { return &InputError{Fields: map[string]string{field: key}} }

// Options configure New. Zero values mean the documented defaults.
type Options struct {
	// Now is the clock (default time.Now).
	Now func() time.Time
	// ActivationTTL is how long an activation code works (default 30 days).
	ActivationTTL time.Duration
	// Hash are the argon2id parameters for new hashes (default DefaultHashParams).
	Hash HashParams
	// BaseURL is the portal's public address, for links in letters and mails.
	BaseURL string
	// Log receives operational messages (never secrets); nil discards them.
	Log *slog.Logger
	// Outbox enqueues the password reset mails; nil makes RequestPasswordReset fail.
	Outbox *notify.Outbox
	// I18n provides the reset mail's text (keys accounts.mail.*); nil makes
	// RequestPasswordReset fail.
	I18n *web.I18n
	// Issuer names the portal in authenticator apps (default "Sportello del Cittadino";
	// the app passes the comune's name).
	Issuer string
	// ResetTTL is how long a password reset link works (default 1 hour).
	ResetTTL time.Duration
	// Roles are the staff roles the portal assembled (platform and modules), in the
	// order forms show them; staff accounts may hold only these. Default: the
	// platform's own roles.
	Roles roles.List
	// Box seals TOTP secrets with the system secret (app/secretbox). Without it TOTP
	// enrolment and checks fail.
	Box *secretbox.Box
}

// DefaultActivationTTL is how long an activation code works unless configured.
const DefaultActivationTTL = 30 * 24 * time.Hour

// DefaultResetTTL is how long a password reset link works.
const DefaultResetTTL = time.Hour

// Service is the accounts API. It is safe for concurrent use; build it once.
type Service struct {
	db  *gorm.DB
	o   Options
	log *slog.Logger
	// hashSem bounds concurrent argon2id computations to the number of CPUs, so a
	// burst of logins queues instead of exhausting memory (each hash holds Memory KiB).
	hashSem chan struct{}

	dummyOnce sync.Once
	dummy     string

	// evalHook, set only by tests (export_test.go), is called each time a secret is
	// evaluated: "hash" for an argon2id check, "totp" for a TOTP comparison.
	evalHook func(kind string)
}

// New returns the service over db (which must carry the Migrations).
func New(db *gorm.DB, o Options) *Service {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.ActivationTTL <= 0 {
		o.ActivationTTL = DefaultActivationTTL
	}
	if o.ResetTTL <= 0 {
		o.ResetTTL = DefaultResetTTL
	}
	if o.Hash == (HashParams{}) {
		o.Hash = DefaultHashParams
	}
	if o.Roles == nil {
		o.Roles, _ = roles.Assemble(roles.Platform()) // the platform's list is valid
	}
	if o.Issuer == "" {
		o.Issuer = "Sportello del Cittadino"
	}
	o.BaseURL = strings.TrimSuffix(o.BaseURL, "/")
	log := o.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Service{db: db, o: o, log: log, hashSem: make(chan struct{}, max(runtime.NumCPU(), 1))}
}

// Roles are the staff roles accounts may hold, in form order.
func (s *Service) Roles() roles.List { return s.o.Roles }

// now is the service's clock in UTC, at the database's precision.
func (s *Service) now() time.Time { return s.o.Now().UTC().Truncate(time.Microsecond) }

// Now is the service's clock (Options.Now), for pages that compare with its times.
func (s *Service) Now() time.Time { return s.now() }

// ActivationURL is where citizens activate their credentials.
func (s *Service) ActivationURL() string { return s.o.BaseURL + "/idp/attiva" }

// ActivationTTL is how long a new activation code works.
func (s *Service) ActivationTTL() time.Duration { return s.o.ActivationTTL }

// NeedsTOTP reports whether a login must also present a TOTP code: always for staff,
// for citizens who enabled it.
func (s *Service) NeedsTOTP(a *Account) bool {
	return a != nil && (a.Kind == KindStaff || a.TOTPEnabled)
}

type ctxKey int

const ctxRequestID ctxKey = 1

// WithRequestID returns ctx carrying the HTTP request id, which audit entries then
// record. Handlers that call the service should pass such a context.
func WithRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, ctxRequestID, id)
}

func requestID(ctx context.Context) string {
	s, _ := ctx.Value(ctxRequestID).(string)
	return s
}

// internal wraps an unexpected error with the operation's name.
func internal(op string, err error) error {
	return fmt.Errorf("accounts: %s: %w", op, err)
}
