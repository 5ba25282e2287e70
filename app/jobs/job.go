// Package jobs runs scheduled work once per occurrence, whatever the number of
// replicas. The platform and modules declare Jobs (a name, a Schedule and a function);
// every process runs a Runner over the same database. A Runner claims a due occurrence
// with a conditional UPDATE that writes a claim token and a lease (as the mail outbox
// does, see app/lease), renews the lease while the job runs, and records the outcome
// only while the claim is still its own. So two replicas never run one occurrence
// twice, and the occurrence of a replica that died mid-job runs again once its lease
// has run out. A failed run is retried with exponential backoff; after MaxAttempts the
// occurrence is given up and the job waits for its next one. Admins see every job's
// state on the back-office page /backoffice/lavori.
//
// A module declares its jobs by implementing services.Jobs:
//
//	func (m *Module) Jobs() []jobs.Job {
//		return []jobs.Job{{
//			Name:     "pratiche/scadenze",
//			Schedule: jobs.DailyAt(6, 30),
//			Run:      m.escalateLate,
//		}}
//	}
//
// A job's function must be safe to run again after a crash: an occurrence whose
// runner died is run a second time.
package jobs

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"time"
)

// Job is one piece of scheduled work.
type Job struct {
	// Name identifies the job in the database and on the admin page. Module jobs are
	// named "<module id>/<name>", platform jobs "platform/<name>"; letters, digits and
	// "-_./" only, at most 100 bytes.
	Name string
	// Schedule says when occurrences fall due.
	Schedule Schedule
	// Run does the work of one occurrence. now is the runner's clock when it claimed
	// the occurrence. ctx is cancelled at shutdown and after Timeout; a run that
	// returns because of shutdown is released for another replica, not counted as a
	// failure.
	Run func(ctx context.Context, now time.Time) error
	// Timeout bounds one run (default: the runner's DefaultTimeout, 10 minutes).
	Timeout time.Duration
}

// validName is the shape of a job name.
var validName = regexp.MustCompile(`^[a-z0-9][a-z0-9_./-]{0,99}$`)

// Validate reports a job that cannot be run: no name, a bad name, no schedule, no
// function.
func (j Job) Validate() error {
	switch {
	case !validName.MatchString(j.Name):
		return fmt.Errorf("jobs: job name %q: want lower-case letters, digits and -_./, at most 100", j.Name)
	case j.Schedule == nil:
		return fmt.Errorf("jobs: job %s has no schedule", j.Name)
	case j.Run == nil:
		return fmt.Errorf("jobs: job %s has no function", j.Name)
	case j.Timeout < 0:
		return fmt.Errorf("jobs: job %s has a negative timeout", j.Name)
	}
	return nil
}

// ErrDuplicate is returned by NewRunner for two jobs with one name.
var ErrDuplicate = errors.New("jobs: two jobs with one name")
