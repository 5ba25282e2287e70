package notify

import (
	"time"

	"gorm.io/gorm"

	"github.com/comuni-italiani/sportello/app/enti"

	"github.com/comuni-italiani/sportello/app/store"
)

// Status is where a message stands in the outbox.
type Status string

// The statuses a message goes through. pending -> sending -> sent | failed, with
// sending -> pending again after a temporary failure; held is terminal (dev mode).
const (
	// StatusPending waits for its next_attempt_at to be sent.
	StatusPending Status = "pending"
	// StatusSending is claimed by a worker until claimed_until.
	StatusSending Status = "sending"
	// StatusSent was accepted by the mail server.
	StatusSent Status = "sent"
	// StatusFailed was refused for good or ran out of attempts; last_error says why.
	StatusFailed Status = "failed"
	// StatusHeld was enqueued with no mail server configured and is never sent.
	StatusHeld Status = "held"
)

// Statuses lists every status, in lifecycle order.
func Statuses() []Status {
	return []Status{StatusPending, StatusSending, StatusSent, StatusFailed, StatusHeld}
}

// Valid reports whether s is one of the known statuses.
func (s Status) Valid() bool {
	for _, v := range Statuses() {
		if s == v {
			return true
		}
	}
	return false
}

// Column limits, shared by validation and the schema.
const (
	maxAddrLen    = 254 // RFC 5321 path limit
	maxNameRunes  = 200
	maxSubjRunes  = 255
	maxKindLen    = 64
	maxErrorRunes = 500
)

// Migrations returns the outbox schema steps, to be applied by store.Migrate.
func Migrations() []*store.Migration {
	// Frozen copy of the table as of notify/0001: never edit, add a new step instead.
	type outboxMessage struct {
		ID            int64      `gorm:"primaryKey"`
		CreatedAt     time.Time  `gorm:"not null"`
		ToAddr        string     `gorm:"column:to_addr;size:320;not null"`
		ToName        string     `gorm:"column:to_name;size:200;not null;default:''"`
		Subject       string     `gorm:"size:255;not null"`
		BodyText      string     `gorm:"column:body_text;type:text;not null"`
		BodyHTML      string     `gorm:"column:body_html;type:text;not null;default:''"`
		Kind          string     `gorm:"size:64;not null;index:outbox_messages_kind"`
		CitizenCF     string     `gorm:"column:citizen_cf;size:16;not null;default:'';index:outbox_messages_citizen_cf"`
		Status        string     `gorm:"size:16;not null;index:outbox_messages_due,priority:1"`
		Attempts      int        `gorm:"not null;default:0"`
		NextAttemptAt time.Time  `gorm:"not null;index:outbox_messages_due,priority:2"`
		ClaimToken    string     `gorm:"size:128;not null;default:''"`
		ClaimedUntil  *time.Time `gorm:"column:claimed_until"`
		SentAt        *time.Time `gorm:"column:sent_at"`
		LastError     string     `gorm:"column:last_error;size:1000;not null;default:''"`
	}
	return []*store.Migration{{
		ID: "notify/0001_outbox",
		Migrate: func(tx *gorm.DB) error {
			return tx.Table("outbox_messages").AutoMigrate(&outboxMessage{})
		},
	}, {
		// Each mail is sent for one comune, with its sender, and is listed only in
		// that comune's back office.
		ID: "notify/0002_ente",
		Migrate: func(tx *gorm.DB) error {
			return enti.AddColumn(tx, "outbox_messages")
		},
	}, {
		// Attachments travel with the row (JSON, data in base64), so that a retry sends
		// the same bytes and a claim needs no second read.
		ID: "notify/0003_attachments",
		Migrate: func(tx *gorm.DB) error {
			return tx.Exec(`ALTER TABLE outbox_messages ADD COLUMN attachments TEXT NOT NULL DEFAULT ''`).Error
		},
	}}
}
