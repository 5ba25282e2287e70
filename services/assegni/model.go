package assegni

import (
	"time"

	"gorm.io/gorm"

	"github.com/comuni-italiani/sportello/app/store"
)

// Application is the module's record of a submitted application: the scheme, the
// child, the amount computed at submission and the payment data, for the officer's
// page and the export to INPS. The workflow itself (states, documents, messages,
// history) is the platform's case, CaseID.
type Application struct {
	EnteID      string `gorm:"column:ente_id;primaryKey"`
	CaseID      int64  `gorm:"primaryKey;autoIncrement:false"`
	SchemeID    string
	Measure     string
	ApplicantCF string `gorm:"column:applicant_cf"`
	Applicant   string
	ChildCF     string `gorm:"column:child_cf"`
	ChildName   string
	Event       string
	EventDate   time.Time
	LastDay     *time.Time
	ISEECents   int64  `gorm:"column:isee_cents"`
	DSU         string `gorm:"column:dsu"`
	// BenefitCents is the benefit from work the applicant declared; AmountCents what
	// the scheme pays (the full amount or the quota differenziale).
	BenefitCents int64
	AmountCents  int64
	IBAN         string `gorm:"column:iban"`
	Holder       string
	Protocol     string
	// Active is true until the case is rejected or withdrawn: an active application
	// holds the child for its measure (one application per child).
	Active      bool
	Status      string
	SubmittedAt time.Time
	DecidedAt   *time.Time
}

// TableName fixes the table name.
func (Application) TableName() string { return "assegni_domande" }

// Reminder records a reminder mailed for a draft, so that it goes once.
type Reminder struct {
	EnteID string `gorm:"column:ente_id;primaryKey"`
	CaseID int64  `gorm:"primaryKey;autoIncrement:false"`
	Kind   string `gorm:"primaryKey"`
	SentAt time.Time
}

// TableName fixes the table name.
func (Reminder) TableName() string { return "assegni_promemoria" }

// Tables owned by the module, all holding a comune's data.
var tables = []string{"assegni_domande", "assegni_promemoria"}

// EnteTables implements services.EnteTables.
func (*Module) EnteTables() []string { return tables }

// Migrations implements services.Migrator. Each step uses its own frozen structs.
func (*Module) Migrations() []*store.Migration {
	type domanda struct {
		EnteID       string    `gorm:"column:ente_id;type:text;not null;primaryKey"`
		CaseID       int64     `gorm:"primaryKey;autoIncrement:false"`
		SchemeID     string    `gorm:"size:48;not null"`
		Measure      string    `gorm:"size:48;not null"`
		ApplicantCF  string    `gorm:"column:applicant_cf;size:16;not null"`
		Applicant    string    `gorm:"size:200;not null;default:''"`
		ChildCF      string    `gorm:"column:child_cf;size:16;not null"`
		ChildName    string    `gorm:"size:200;not null;default:''"`
		Event        string    `gorm:"size:16;not null"`
		EventDate    time.Time `gorm:"not null"`
		LastDay      *time.Time
		ISEECents    int64      `gorm:"column:isee_cents;not null"`
		DSU          string     `gorm:"column:dsu;size:32;not null"`
		BenefitCents int64      `gorm:"not null"`
		AmountCents  int64      `gorm:"not null"`
		IBAN         string     `gorm:"column:iban;size:34;not null"`
		Holder       string     `gorm:"size:200;not null"`
		Protocol     string     `gorm:"size:16;not null;default:''"`
		Active       bool       `gorm:"not null"`
		Status       string     `gorm:"size:32;not null"`
		SubmittedAt  time.Time  `gorm:"not null"`
		DecidedAt    *time.Time `gorm:""`
	}
	type promemoria struct {
		EnteID string    `gorm:"column:ente_id;type:text;not null;primaryKey"`
		CaseID int64     `gorm:"primaryKey;autoIncrement:false"`
		Kind   string    `gorm:"size:32;primaryKey"`
		SentAt time.Time `gorm:"not null"`
	}
	return []*store.Migration{{
		ID: "assegni/0001_domande",
		Migrate: func(tx *gorm.DB) error {
			if err := tx.Table("assegni_domande").AutoMigrate(&domanda{}); err != nil {
				return err
			}
			if err := tx.Table("assegni_promemoria").AutoMigrate(&promemoria{}); err != nil {
				return err
			}
			// One active application per child and measure in each comune: a partial
			// unique index (both dialects), so that a rejected or withdrawn one does
			// not block a new application.
			if err := tx.Exec("CREATE UNIQUE INDEX assegni_domande_child ON assegni_domande (ente_id, measure, child_cf) WHERE active").Error; err != nil {
				return err
			}
			return tx.Exec("CREATE INDEX assegni_domande_export ON assegni_domande (ente_id, status, decided_at)").Error
		},
	}}
}
