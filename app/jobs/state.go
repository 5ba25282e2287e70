package jobs

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm"
)

// State is what the admin page shows of one job.
type State struct {
	Name     string
	Schedule string
	// NextRunAt is the next due time; nil for a one-shot job that has run.
	NextRunAt *time.Time
	// Running says a runner holds an unexpired lease on the job.
	Running bool
	// Attempts counts the failed runs of the current occurrence (the running one
	// included while Running).
	Attempts       int
	Runs           int64
	LastStartedAt  *time.Time
	LastFinishedAt *time.Time
	LastOutcome    Outcome
	LastError      string
	LastErrorAt    *time.Time
}

// Failing reports whether the last run failed.
func (s State) Failing() bool {
	return s.LastOutcome == OutcomeRetry || s.LastOutcome == OutcomeGivenUp
}

// List returns the state of every job known to the database, by name.
func List(ctx context.Context, db *gorm.DB, now time.Time) ([]State, error) {
	var recs []record
	if err := db.WithContext(ctx).Order("name").Find(&recs).Error; err != nil {
		return nil, fmt.Errorf("jobs: list: %w", err)
	}
	out := make([]State, 0, len(recs))
	for _, r := range recs {
		out = append(out, State{
			Name: r.Name, Schedule: r.Schedule, NextRunAt: r.NextRunAt,
			Running:  r.ClaimedUntil != nil && r.ClaimedUntil.After(now),
			Attempts: r.Attempts, Runs: r.Runs,
			LastStartedAt: r.LastStartedAt, LastFinishedAt: r.LastFinishedAt,
			LastOutcome: Outcome(r.LastOutcome), LastError: r.LastError, LastErrorAt: r.LastErrorAt,
		})
	}
	return out, nil
}
