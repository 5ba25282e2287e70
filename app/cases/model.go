package cases

import (
	"fmt"
	"time"

	"gorm.io/gorm"

	"github.com/comuni-italiani/sportello/app/enti"

	"github.com/comuni-italiani/sportello/app/store"
)

// Case is one application.
type Case struct {
	ID int64 `gorm:"primaryKey"`
	// EnteID is the comune the case belongs to.
	EnteID string `gorm:"column:ente_id;size:40;not null"`
	Module string
	Type   string `gorm:"column:case_type"`
	// ApplicantCF is the citizen's tax code; ApplicantName and ApplicantEmail are
	// taken from the login at creation.
	ApplicantCF    string `gorm:"column:applicant_cf"`
	ApplicantName  string
	ApplicantEmail string
	State          State
	// Protocol is "YYYY/NNNNNN" from submission on; empty for a draft.
	Protocol string
	// FormData is the module's form as a JSON object.
	FormData string `gorm:"column:form_data"`
	// Assignee is the username of the officer working the case.
	Assignee string
	// Deadline is when the current state's time runs out (nil: none).
	Deadline *time.Time
	// EscalatedAt is when the deadline escalation flagged the case as late.
	EscalatedAt *time.Time
	// Code is the receipt's public verification code.
	Code        string
	CreatedAt   time.Time
	UpdatedAt   time.Time
	SubmittedAt *time.Time
	DecidedAt   *time.Time
}

// TableName fixes the table name.
func (Case) TableName() string { return "cases" }

// Late reports whether the case is past its deadline at now.
func (c Case) Late(now time.Time) bool { return c.Deadline != nil && now.After(*c.Deadline) }

// HistoryEntry is one step of a case's life.
type HistoryEntry struct {
	ID int64 `gorm:"primaryKey"`
	// EnteID is the comune the case belongs to.
	EnteID     string `gorm:"column:ente_id;size:40;not null"`
	CaseID     int64
	At         time.Time
	ActorKind  ActorKind
	ActorID    string
	ActorName  string
	Transition string
	FromState  State
	ToState    State
	Reason     string
}

// TableName fixes the table name.
func (HistoryEntry) TableName() string { return "case_history" }

// Message is one message of the thread between citizen and office.
type Message struct {
	ID int64 `gorm:"primaryKey"`
	// EnteID is the comune the case belongs to.
	EnteID     string `gorm:"column:ente_id;size:40;not null"`
	CaseID     int64
	At         time.Time
	AuthorKind ActorKind
	AuthorID   string
	AuthorName string
	Body       string
	// HistoryID links the message to the transition that carried it (0: none).
	HistoryID int64
}

// TableName fixes the table name.
func (Message) TableName() string { return "case_messages" }

// Attachment describes one stored document (its content is read with Content).
type Attachment struct {
	ID int64 `gorm:"primaryKey"`
	// EnteID is the comune the case belongs to.
	EnteID      string `gorm:"column:ente_id;size:40;not null"`
	CaseID      int64
	MessageID   int64
	HistoryID   int64
	Name        string
	ContentType string
	Size        int64
	SHA256      string `gorm:"column:sha256"`
	UploadedBy  ActorKind
	CreatedAt   time.Time
}

// TableName fixes the table name.
func (Attachment) TableName() string { return "case_attachments" }

// Migrations creates the case tables.
func Migrations() []*store.Migration {
	// Frozen copies as of cases/0001: never edit, add a new step instead.
	type caseRow struct {
		ID             int64      `gorm:"primaryKey"`
		Module         string     `gorm:"size:48;not null;index:cases_queue,priority:1"`
		CaseType       string     `gorm:"column:case_type;size:48;not null"`
		ApplicantCF    string     `gorm:"column:applicant_cf;size:16;not null;index:cases_applicant"`
		ApplicantName  string     `gorm:"size:200;not null;default:''"`
		ApplicantEmail string     `gorm:"size:254;not null;default:''"`
		State          string     `gorm:"size:48;not null;index:cases_queue,priority:2"`
		Protocol       string     `gorm:"size:16;not null;default:''"`
		FormData       string     `gorm:"column:form_data;type:text;not null"`
		Assignee       string     `gorm:"size:64;not null;default:''"`
		Deadline       *time.Time `gorm:"index:cases_queue,priority:3"`
		EscalatedAt    *time.Time
		Code           string    `gorm:"size:32;not null;uniqueIndex:cases_code"`
		CreatedAt      time.Time `gorm:"not null"`
		UpdatedAt      time.Time `gorm:"not null"`
		SubmittedAt    *time.Time
		DecidedAt      *time.Time
	}
	type caseHistory struct {
		ID         int64     `gorm:"primaryKey"`
		CaseID     int64     `gorm:"not null;index:case_history_case"`
		At         time.Time `gorm:"not null"`
		ActorKind  string    `gorm:"size:16;not null"`
		ActorID    string    `gorm:"size:64;not null"`
		ActorName  string    `gorm:"size:200;not null;default:''"`
		Transition string    `gorm:"size:48;not null"`
		FromState  string    `gorm:"size:48;not null"`
		ToState    string    `gorm:"size:48;not null"`
		Reason     string    `gorm:"type:text;not null;default:''"`
	}
	type caseMessage struct {
		ID         int64     `gorm:"primaryKey"`
		CaseID     int64     `gorm:"not null;index:case_messages_case"`
		At         time.Time `gorm:"not null"`
		AuthorKind string    `gorm:"size:16;not null"`
		AuthorID   string    `gorm:"size:64;not null"`
		AuthorName string    `gorm:"size:200;not null;default:''"`
		Body       string    `gorm:"type:text;not null"`
		HistoryID  int64     `gorm:"not null;default:0"`
	}
	type caseAttachment struct {
		ID          int64     `gorm:"primaryKey"`
		CaseID      int64     `gorm:"not null;index:case_attachments_case"`
		MessageID   int64     `gorm:"not null;default:0"`
		HistoryID   int64     `gorm:"not null;default:0"`
		Name        string    `gorm:"size:200;not null"`
		ContentType string    `gorm:"size:64;not null"`
		Size        int64     `gorm:"not null"`
		SHA256      string    `gorm:"column:sha256;size:64;not null"`
		UploadedBy  string    `gorm:"size:16;not null"`
		CreatedAt   time.Time `gorm:"not null"`
		Content     []byte    `gorm:"not null"`
	}
	type caseProtocolCounter struct {
		Year int   `gorm:"primaryKey;autoIncrement:false"`
		Last int64 `gorm:"not null"`
	}
	return append([]*store.Migration{{
		ID: "cases/0001_cases",
		Migrate: func(tx *gorm.DB) error {
			if err := tx.Table("cases").AutoMigrate(&caseRow{}); err != nil {
				return err
			}
			if err := tx.Table("case_history").AutoMigrate(&caseHistory{}); err != nil {
				return err
			}
			if err := tx.Table("case_messages").AutoMigrate(&caseMessage{}); err != nil {
				return err
			}
			if err := tx.Table("case_attachments").AutoMigrate(&caseAttachment{}); err != nil {
				return err
			}
			if err := tx.Table("case_protocol_counters").AutoMigrate(&caseProtocolCounter{}); err != nil {
				return err
			}
			// Drafts have no protocol yet: the number is unique among the rest (a
			// partial index, which both dialects support).
			return tx.Exec("CREATE UNIQUE INDEX cases_protocol ON cases (protocol) WHERE protocol <> ''").Error
		},
	}}, append(receiptMigrations(), enteMigration())...)
}

// Tables are the case workflow's tables; each belongs to one ente (enti.Guard).
var Tables = []string{"cases", "case_history", "case_messages", "case_attachments", "case_receipts", "case_protocol_counters"}

// enteMigration makes the case tables ente-owned: protocol numbers and their
// counters are per ente (each comune has its own register of protocol), so the
// counter's key becomes (ente_id, year), rebuilt as a new table because SQLite cannot
// change a primary key in place.
func enteMigration() *store.Migration {
	return &store.Migration{
		ID: "cases/0003_ente",
		Migrate: func(tx *gorm.DB) error {
			if err := enti.AddColumn(tx, "cases", "case_history", "case_messages", "case_attachments", "case_receipts"); err != nil {
				return err
			}
			if err := enti.ReplaceUnique(tx, "cases", "cases_protocol", "cases_ente_protocol", "protocol", "protocol <> ''"); err != nil {
				return err
			}
			for _, q := range []string{
				`CREATE TABLE case_protocol_counters_new (ente_id VARCHAR(40) NOT NULL DEFAULT '', year INTEGER NOT NULL, last BIGINT NOT NULL, PRIMARY KEY (ente_id, year))`,
				`INSERT INTO case_protocol_counters_new (ente_id, year, last) SELECT '', year, last FROM case_protocol_counters`,
				`DROP TABLE case_protocol_counters`,
				`ALTER TABLE case_protocol_counters_new RENAME TO case_protocol_counters`,
			} {
				if err := tx.Exec(q).Error; err != nil {
					return fmt.Errorf("cases: per-ente protocol counters: %w", err)
				}
			}
			return nil
		},
	}
}
