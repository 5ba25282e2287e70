package cases

import (
	"context"
	"time"

	"github.com/comuni-italiani/sportello/app/jobs"
)

// EscalationJob names the deadline-escalation job.
const EscalationJob = "platform/cases-escalation"

// EscalationEvery is how often the escalation job runs.
const EscalationEvery = 15 * time.Minute

// Jobs are the case platform's scheduled jobs, for the portal's job runner: the
// deadline escalation (EscalateOverdue at the runner's clock). It is safe to run
// again after a crash: a flagged case is never flagged or mailed twice.
func (s *Service) Jobs() []jobs.Job {
	return []jobs.Job{{
		Name:     EscalationJob,
		Schedule: jobs.Every(EscalationEvery),
		Run: func(ctx context.Context, now time.Time) error {
			if s.o.ForEachEnte == nil {
				_, err := s.EscalateOverdue(ctx, now)
				return err
			}
			return s.o.ForEachEnte(ctx, func(ctx context.Context) error {
				_, err := s.EscalateOverdue(ctx, now)
				return err
			})
		},
	}}
}
