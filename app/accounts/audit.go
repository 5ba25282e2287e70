package accounts

import (
	"context"
	"strings"

	"gorm.io/gorm"

	"github.com/comuni-italiani/sportello/app/audit"
	"github.com/comuni-italiani/sportello/app/store"
)

// Audit actions written by this package.
const (
	ActRegister       = "account.register"
	ActIssue          = "credentials.issue"
	ActReissue        = "credentials.reissue"
	ActActivate       = "credentials.activate"
	ActActivationFail = "auth.activation_failed"
	ActBlock          = "account.block"
	ActUnlock         = "account.unlock"
	ActDeskReset      = "credentials.desk_reset"
	ActResetRequest   = "password.reset_request"
	ActReset          = "password.reset"
	ActResetFail      = "password.reset_failed"
	ActPasswordChange = "password.change"
	ActStaffCreate    = "staff.create"
	ActStaffUpdate    = "staff.update"
	ActLogin          = "auth.login"
	ActLoginFailed    = "auth.login_failed"
	ActLoginRefused   = "auth.login_refused"
	ActLockout        = "auth.lockout"
	ActTOTPFailed     = "auth.totp_failed"
	ActTOTPEnable     = "totp.enable"
)

// actor is who did something, as the audit log names them.
type actor struct{ kind, id string }

// staffActor reads the actor argument of desk and admin methods: a staff username, or
// "system:<name>" for the command line.
func staffActor(s string) actor {
	if name, ok := strings.CutPrefix(s, "system:"); ok {
		return actor{audit.ActorSystem, name}
	}
	return actor{audit.ActorStaff, s}
}

// selfActor is the account holder acting on their own account.
func selfActor(r *accountRow) actor {
	if r.Kind == string(KindStaff) {
		return actor{audit.ActorStaff, r.Username}
	}
	return actor{audit.ActorCitizen, r.Username}
}

var anonymous = actor{audit.ActorAnon, ""}

// txn is one transaction with the request's context, for writing a change and its
// audit entry together.
type txn struct {
	ctx context.Context
	db  *gorm.DB
}

func (s *Service) tx(ctx context.Context, fn func(tx *txn) error) error {
	return store.WithTx(ctx, s.db, func(db *gorm.DB) error { return fn(&txn{ctx: ctx, db: db}) })
}

// audit records action on account r (nil: no account) by a.
func (t *txn) audit(a actor, action string, r *accountRow, ip string, details map[string]any) error {
	return t.auditOutcome(a, action, r, ip, audit.OK, details)
}

func (t *txn) auditOutcome(a actor, action string, r *accountRow, ip, outcome string, details map[string]any) error {
	// An empty ip is filled by audit.Record with the request's client address
	// (audit.WithClient, set for every request by the web layer).
	e := audit.Entry{ActorKind: a.kind, ActorID: a.id, Action: action, Outcome: outcome, IP: ip,
		RequestID: requestID(t.ctx), Details: details}
	if r != nil {
		e.SubjectCF = r.cf()
		e.ObjectType = "account"
		e.ObjectID = r.Username
	}
	return audit.Record(t.ctx, t.db, e)
}

// auditNow records a security event outside any change (failures, refusals). A
// failure to record is logged, not returned: the caller's answer must not change.
func (s *Service) auditNow(ctx context.Context, a actor, action string, r *accountRow, ip, outcome string, details map[string]any) {
	t := &txn{ctx: ctx, db: s.db}
	if err := t.auditOutcome(a, action, r, ip, outcome, details); err != nil {
		s.log.ErrorContext(ctx, "audit record failed", "action", action, "err", err)
	}
}
