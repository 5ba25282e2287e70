// Package audit keeps the append-only log of staff actions and security events: who
// did what, to whose data, from where, and when.
//
// Entries are only ever inserted. The table refuses UPDATE and DELETE with a trigger on
// both dialects, so not even a bug elsewhere in the portal can rewrite history.
// Record takes a *gorm.DB that may be a transaction, so an entry commits or rolls back
// together with the change it describes.
package audit

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"gorm.io/gorm"

	"github.com/comuni-italiani/sportello/app/enti"

	"github.com/comuni-italiani/sportello/app/store"
)

// Actor kinds.
const (
	ActorCitizen = "citizen"
	ActorStaff   = "staff"
	ActorSystem  = "system"
	ActorAnon    = "anonymous"
)

// Event is one audit entry.
type Event struct {
	ID int64 `gorm:"primaryKey"`
	// EnteID is the comune the event concerns (Installation for key rotations,
	// commands and requests on no ente's host).
	EnteID string `gorm:"column:ente_id"`
	At     time.Time
	// ActorKind is citizen, staff, system or anonymous; ActorID their username or
	// tax code ("" for anonymous).
	ActorKind string
	ActorID   string
	// Action is a dotted verb such as "auth.login_failed" or "certificates.revoke".
	Action string
	// SubjectCF is the tax code of the citizen whose data was touched, if any.
	SubjectCF string
	// ObjectType and ObjectID name the thing acted on ("certificate", "ABCD-...").
	ObjectType string
	ObjectID   string
	// Outcome is "ok" or "denied" (security refusals) or "error".
	Outcome   string
	IP        string
	RequestID string
	// Details holds small structured context as JSON; never passwords or codes.
	Details string
}

// TableName fixes the table name.
func (Event) TableName() string { return "audit_events" }

// Outcomes.
const (
	OK     = "ok"
	Denied = "denied"
)

// Entry is what callers fill in to record an event.
type Entry struct {
	ActorKind, ActorID   string
	Action               string
	SubjectCF            string
	ObjectType, ObjectID string
	Outcome              string
	IP, RequestID        string
	Details              map[string]any
}

type clientKey struct{}

// WithClient returns ctx carrying the client address of the request it serves (set
// once for every request by the web layer), which Record writes on entries made
// without one: code below the pages (accounts, desk actions) needs not pass it along.
func WithClient(ctx context.Context, ip string) context.Context {
	return context.WithValue(ctx, clientKey{}, ip)
}

// ClientOf returns the client address WithClient put in ctx ("" if none).
func ClientOf(ctx context.Context) string {
	s, _ := ctx.Value(clientKey{}).(string)
	return s
}

// Record appends one event. db may be a transaction. An entry without IP gets the
// client address of ctx's request, if any.
func Record(ctx context.Context, db *gorm.DB, e Entry) error {
	if e.IP == "" {
		e.IP = ClientOf(ctx)
	}
	ev := Event{
		At: time.Now().UTC(), ActorKind: e.ActorKind, ActorID: e.ActorID, Action: e.Action,
		SubjectCF: e.SubjectCF, ObjectType: e.ObjectType, ObjectID: e.ObjectID,
		Outcome: e.Outcome, IP: e.IP, RequestID: e.RequestID,
	}
	if ev.Outcome == "" {
		ev.Outcome = OK
	}
	if ev.ActorKind == "" {
		ev.ActorKind = ActorAnon
	}
	if len(e.Details) > 0 {
		b, err := json.Marshal(e.Details)
		if err != nil {
			return fmt.Errorf("audit: details: %w", err)
		}
		ev.Details = string(b)
	}
	db = enti.For(ctx, db)
	if enti.ScopeOf(db) == "" {
		// No ente: an event of the installation (a command, a probe, a request on
		// no ente's host), kept as Installation and shown to no ente's back office.
		db = enti.AllEnti(db, "installation audit event")
		ev.EnteID = Installation
	}
	if err := db.Create(&ev).Error; err != nil {
		return fmt.Errorf("audit: record %s: %w", e.Action, err)
	}
	return nil
}

// Filter selects events for the viewer. Zero fields match everything.
type Filter struct {
	ActorID   string
	SubjectCF string
	Action    string // exact, or a prefix ending in "." ("auth.")
	From, To  time.Time
	Limit     int
	Offset    int
}

// List returns matching events, newest first, and the total number that match: the
// events of ctx's ente (through a scoped handle; enti.AllEnti for every ente's).
func List(ctx context.Context, db *gorm.DB, f Filter) ([]Event, int64, error) {
	q := enti.For(ctx, db).Model(&Event{})
	if f.ActorID != "" {
		q = q.Where("actor_id = ?", f.ActorID)
	}
	if f.SubjectCF != "" {
		q = q.Where("subject_cf = ?", f.SubjectCF)
	}
	if f.Action != "" {
		if f.Action[len(f.Action)-1] == '.' {
			q = q.Where("action LIKE ?", f.Action+"%")
		} else {
			q = q.Where("action = ?", f.Action)
		}
	}
	if !f.From.IsZero() {
		q = q.Where("at >= ?", f.From.UTC())
	}
	if !f.To.IsZero() {
		q = q.Where("at < ?", f.To.UTC())
	}
	var total int64
	if err := q.Count(&total).Error; err != nil {
		return nil, 0, err
	}
	if f.Limit <= 0 || f.Limit > 500 {
		f.Limit = 50
	}
	var out []Event
	err := q.Order("at DESC, id DESC").Limit(f.Limit).Offset(f.Offset).Find(&out).Error
	return out, total, err
}

// Migrations creates the audit table and its append-only guards.
func Migrations() []*store.Migration {
	type auditEvent struct {
		ID         int64     `gorm:"primaryKey"`
		At         time.Time `gorm:"not null;index"`
		ActorKind  string    `gorm:"size:16;not null"`
		ActorID    string    `gorm:"size:100;not null;default:'';index"`
		Action     string    `gorm:"size:80;not null;index"`
		SubjectCF  string    `gorm:"column:subject_cf;size:16;not null;default:'';index"`
		ObjectType string    `gorm:"size:40;not null;default:''"`
		ObjectID   string    `gorm:"size:100;not null;default:''"`
		Outcome    string    `gorm:"size:16;not null"`
		IP         string    `gorm:"column:ip;size:64;not null;default:''"`
		RequestID  string    `gorm:"size:64;not null;default:''"`
		Details    string    `gorm:"type:text;not null;default:''"`
	}
	return []*store.Migration{{
		ID: "audit/0001_events",
		Migrate: func(tx *gorm.DB) error {
			if err := tx.Table("audit_events").AutoMigrate(&auditEvent{}); err != nil {
				return err
			}
			if store.DialectOf(tx) == store.Postgres {
				return tx.Exec(`
CREATE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION 'audit_events is append-only'; END $$;
CREATE TRIGGER audit_events_no_change BEFORE UPDATE OR DELETE ON audit_events
FOR EACH ROW EXECUTE FUNCTION audit_events_append_only();`).Error
			}
			for _, op := range []string{"UPDATE", "DELETE"} {
				if err := tx.Exec(fmt.Sprintf(`CREATE TRIGGER audit_events_no_%s BEFORE %s ON audit_events
BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END`, op, op)).Error; err != nil {
					return err
				}
			}
			return nil
		},
	}, {
		// Events carry their ente. The append-only triggers are replaced by ones that
		// allow exactly one change: giving a row written before several comuni (ente
		// "") to its ente (enti.Adopt), every other column unchanged.
		ID: "audit/0002_ente",
		Migrate: func(tx *gorm.DB) error {
			if err := enti.AddColumn(tx, "audit_events"); err != nil {
				return err
			}
			same := "NEW.id = OLD.id AND NEW.at = OLD.at AND NEW.actor_kind = OLD.actor_kind AND NEW.actor_id = OLD.actor_id" +
				" AND NEW.action = OLD.action AND NEW.subject_cf = OLD.subject_cf AND NEW.object_type = OLD.object_type" +
				" AND NEW.object_id = OLD.object_id AND NEW.outcome = OLD.outcome AND NEW.ip = OLD.ip" +
				" AND NEW.request_id = OLD.request_id AND NEW.details = OLD.details"
			adopt := "OLD.ente_id = '' AND NEW.ente_id <> '' AND " + same
			if store.DialectOf(tx) == store.Postgres {
				return tx.Exec(`
CREATE OR REPLACE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'UPDATE' AND ` + adopt + ` THEN RETURN NEW; END IF;
  RAISE EXCEPTION 'audit_events is append-only';
END $$;`).Error
			}
			if err := tx.Exec(`DROP TRIGGER audit_events_no_UPDATE`).Error; err != nil {
				return err
			}
			return tx.Exec(`CREATE TRIGGER audit_events_no_UPDATE BEFORE UPDATE ON audit_events
WHEN NOT (` + adopt + `)
BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END`).Error
		},
	}}
}

// Installation is the ente recorded on events that concern no ente ("" is reserved
// for rows written before several comuni, until enti.Adopt gives them their ente).
const Installation = "-"
