package jobs

import (
	"time"

	"gorm.io/gorm"

	"github.com/comuni-italiani/sportello/app/store"
)

// Outcome is how a job's last run ended.
type Outcome string

// The outcomes shown on the admin page.
const (
	// OutcomeNone: the job has not run yet.
	OutcomeNone Outcome = ""
	// OutcomeOK: the last run succeeded.
	OutcomeOK Outcome = "ok"
	// OutcomeRetry: the last run failed and the occurrence will be tried again.
	OutcomeRetry Outcome = "retry"
	// OutcomeGivenUp: the occurrence failed MaxAttempts times and was given up; the
	// job waits for its next occurrence.
	OutcomeGivenUp Outcome = "given_up"
)

// Column limits, shared by the schema and the runner.
const (
	maxNameLen     = 100
	maxScheduleLen = 100
	maxErrorRunes  = 500
)

// record is a row of the jobs table: one per job name, carrying its next occurrence and
// the claim on it.
type record struct {
	Name           string     `gorm:"primaryKey;size:100"`
	Schedule       string     `gorm:"size:100;not null"`
	NextRunAt      *time.Time `gorm:"column:next_run_at"`
	ClaimToken     string     `gorm:"size:128;not null;default:''"`
	ClaimedUntil   *time.Time `gorm:"column:claimed_until"`
	Attempts       int        `gorm:"not null;default:0"`
	Runs           int64      `gorm:"not null;default:0"`
	LastStartedAt  *time.Time `gorm:"column:last_started_at"`
	LastFinishedAt *time.Time `gorm:"column:last_finished_at"`
	LastOutcome    string     `gorm:"size:16;not null;default:''"`
	LastError      string     `gorm:"size:1000;not null;default:''"`
	LastErrorAt    *time.Time `gorm:"column:last_error_at"`
}

func (record) TableName() string { return "jobs" }

// Migrations returns the jobs schema steps, to be applied by store.Migrate.
func Migrations() []*store.Migration {
	// Frozen copy of the table as of jobs/0001: never edit, add a new step instead.
	type job struct {
		Name           string     `gorm:"primaryKey;size:100"`
		Schedule       string     `gorm:"size:100;not null"`
		NextRunAt      *time.Time `gorm:"column:next_run_at;index:jobs_due"`
		ClaimToken     string     `gorm:"size:128;not null;default:''"`
		ClaimedUntil   *time.Time `gorm:"column:claimed_until"`
		Attempts       int        `gorm:"not null;default:0"`
		Runs           int64      `gorm:"not null;default:0"`
		LastStartedAt  *time.Time `gorm:"column:last_started_at"`
		LastFinishedAt *time.Time `gorm:"column:last_finished_at"`
		LastOutcome    string     `gorm:"size:16;not null;default:''"`
		LastError      string     `gorm:"size:1000;not null;default:''"`
		LastErrorAt    *time.Time `gorm:"column:last_error_at"`
	}
	return []*store.Migration{{
		ID: "jobs/0001_jobs",
		Migrate: func(tx *gorm.DB) error {
			return tx.Table("jobs").AutoMigrate(&job{})
		},
	}}
}
