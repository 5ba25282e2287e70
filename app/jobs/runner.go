package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	mrand "math/rand/v2"
	"slices"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/comuni-italiani/sportello/app/lease"
)

// Options tune a Runner. Zero values take the defaults.
type Options struct {
	// Interval is the pause between passes (default 30s): a due occurrence starts at
	// most about this late.
	Interval time.Duration
	// Lease is how long a claim holds without renewal (default 2m). A running job's
	// lease is renewed every Lease/3; the occurrence of a runner that died is claimable
	// once its lease ran out.
	Lease time.Duration
	// DefaultTimeout bounds a run of a job with no Timeout (default 10m).
	DefaultTimeout time.Duration
	// MaxAttempts is how many runs of one occurrence are tried before it is given up
	// (default 5).
	MaxAttempts int
	// BackoffBase is the wait after the first failed run, doubled after each further
	// one (default 1m), up to BackoffMax (default 1h), with jitter (lease.Backoff).
	BackoffBase, BackoffMax time.Duration
	// WorkerID names this process in claim tokens (default "<host>-<pid>").
	WorkerID string
	// Logger receives one line per outcome; nil discards.
	Logger *slog.Logger
	// Now is the runner's clock (default time.Now); tests move it.
	Now func() time.Time
}

// Runner runs the due occurrences of its jobs. Any number of runners, in one process or
// many, may run against one database: each occurrence runs once.
type Runner struct {
	db    *gorm.DB
	jobs  map[string]Job
	names []string
	opts  Options
	log   *slog.Logger
	ready bool // the jobs' rows exist
}

// NewRunner returns a runner for list over db. It refuses an invalid job or two jobs
// with one name.
func NewRunner(db *gorm.DB, list []Job, opts Options) (*Runner, error) {
	r := &Runner{db: db, jobs: map[string]Job{}}
	for _, j := range list {
		if err := j.Validate(); err != nil {
			return nil, err
		}
		if _, dup := r.jobs[j.Name]; dup {
			return nil, fmt.Errorf("%w: %s", ErrDuplicate, j.Name)
		}
		r.jobs[j.Name] = j
		r.names = append(r.names, j.Name)
	}
	if opts.Interval <= 0 {
		opts.Interval = 30 * time.Second
	}
	if opts.Lease <= 0 {
		opts.Lease = 2 * time.Minute
	}
	if opts.DefaultTimeout <= 0 {
		opts.DefaultTimeout = 10 * time.Minute
	}
	if opts.MaxAttempts <= 0 {
		opts.MaxAttempts = 5
	}
	if opts.BackoffBase <= 0 {
		opts.BackoffBase = time.Minute
	}
	if opts.BackoffMax < opts.BackoffBase {
		opts.BackoffMax = max(time.Hour, opts.BackoffBase)
	}
	opts.WorkerID = lease.WorkerID(opts.WorkerID)
	if opts.Now == nil {
		opts.Now = time.Now
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	r.opts = opts
	r.log = log.With("component", "jobs", "worker", opts.WorkerID)
	return r, nil
}

// Names are the runner's job names, in declaration order.
func (r *Runner) Names() []string { return slices.Clone(r.names) }

func (r *Runner) now() time.Time { return r.opts.Now().UTC().Truncate(time.Microsecond) }

// Run runs due occurrences until ctx is done. A job running at that moment gets a
// cancelled context; if it returns because of it, its occurrence is released for
// another replica. Errors of a pass are logged and the next pass comes after Interval.
func (r *Runner) Run(ctx context.Context) error {
	if len(r.jobs) == 0 {
		<-ctx.Done()
		return nil
	}
	r.log.InfoContext(ctx, "job runner started", "jobs", len(r.jobs))
	for {
		if _, err := r.RunOnce(ctx); err != nil && ctx.Err() == nil {
			r.log.ErrorContext(ctx, "job runner pass failed", "err", err)
		}
		// +-10% so that replicas started together drift apart.
		wait := r.opts.Interval - r.opts.Interval/10 + mrand.N(r.opts.Interval/5+1)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			r.log.InfoContext(context.WithoutCancel(ctx), "job runner stopped")
			return nil
		case <-t.C:
		}
	}
}

// claimable is the condition under which a runner may take a job's occurrence: due and
// not claimed, or claimed by a runner whose lease ran out.
const claimable = "next_run_at <= ? AND (claimed_until IS NULL OR claimed_until < ?)"

// RunOnce does one pass: it makes sure every job has its row, then claims and runs each
// due occurrence it wins. It returns how many runs it started. A database error ends
// the pass.
func (r *Runner) RunOnce(ctx context.Context) (ran int, err error) {
	if len(r.jobs) == 0 {
		return 0, nil
	}
	if !r.ready {
		if err := r.ensure(ctx); err != nil {
			return 0, err
		}
		r.ready = true
	}
	now := r.now()
	var due []string
	err = r.db.WithContext(ctx).Model(&record{}).
		Where("name IN ?", r.names).Where(claimable, now, now).
		Order("next_run_at, name").Pluck("name", &due).Error
	if err != nil {
		return 0, fmt.Errorf("jobs: find due jobs: %w", err)
	}
	// Runners that read the same names would otherwise race for them in one order.
	mrand.Shuffle(len(due), func(i, j int) { due[i], due[j] = due[j], due[i] })
	for _, name := range due {
		if ctx.Err() != nil {
			return ran, nil
		}
		ok, err := r.process(ctx, r.jobs[name])
		if err != nil {
			return ran, err
		}
		if ok {
			ran++
		}
	}
	return ran, nil
}

// ensure inserts the row of every job not yet known and moves the next run of a job
// whose schedule changed.
func (r *Runner) ensure(ctx context.Context) error {
	now := r.now()
	for _, name := range r.names {
		j := r.jobs[name]
		sched := truncate(j.Schedule.String(), maxScheduleLen)
		rec := record{Name: name, Schedule: sched, NextRunAt: timePtr(first(j.Schedule, now))}
		err := r.db.WithContext(ctx).Clauses(clause.OnConflict{DoNothing: true}).Create(&rec).Error
		if err != nil {
			return fmt.Errorf("jobs: register %s: %w", name, err)
		}
		err = r.db.WithContext(ctx).Model(&record{}).
			Where("name = ? AND schedule <> ? AND (claimed_until IS NULL OR claimed_until < ?)", name, sched, now).
			Updates(map[string]any{"schedule": sched, "next_run_at": timePtr(first(j.Schedule, now)), "attempts": 0}).Error
		if err != nil {
			return fmt.Errorf("jobs: update schedule of %s: %w", name, err)
		}
	}
	return nil
}

// process claims job's due occurrence and, if won, runs it and records the outcome. It
// reports whether it ran the job.
func (r *Runner) process(ctx context.Context, j Job) (bool, error) {
	rec, token, err := r.claim(ctx, j.Name)
	if err != nil || rec == nil {
		return false, err
	}
	bg := context.WithoutCancel(ctx)
	log := r.log.With("job", j.Name, "attempt", rec.Attempts)
	if rec.Attempts > r.opts.MaxAttempts {
		// Its last claimer died while running it: do not loop on it forever.
		return false, r.record(bg, j, rec, token, errors.New("jobs: runner lost on the last attempt"), log)
	}
	started := r.now()
	timeout := j.Timeout
	if timeout <= 0 {
		timeout = r.opts.DefaultTimeout
	}
	runCtx, cancel := context.WithTimeout(ctx, timeout)
	stop := lease.Keep(runCtx, r.opts.Lease/3, func(c context.Context) (bool, error) {
		res := r.db.WithContext(c).Model(&record{}).
			Where("name = ? AND claim_token = ?", j.Name, token).
			Update("claimed_until", r.now().Add(r.opts.Lease))
		return res.RowsAffected > 0, res.Error
	}, func() {
		log.WarnContext(ctx, "claim lost while running; the occurrence may run twice")
	})
	runErr := safeRun(runCtx, j, started)
	stop()
	cancel()
	if runErr != nil && ctx.Err() != nil {
		// Shutdown: hand the occurrence back untouched for another replica.
		return true, r.release(bg, j, token, log)
	}
	return true, r.record(bg, j, rec, token, runErr, log)
}

// safeRun runs j, turning a panic into an error so that one job cannot stop the runner.
func safeRun(ctx context.Context, j Job, now time.Time) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("jobs: %s panicked: %v", j.Name, p)
		}
	}()
	return j.Run(ctx, now)
}

// claim takes job name's occurrence for this runner if it is still claimable, counting
// an attempt. It returns nil (and no error) when another runner was first.
func (r *Runner) claim(ctx context.Context, name string) (*record, string, error) {
	now := r.now()
	token := lease.Token(r.opts.WorkerID)
	res := r.db.WithContext(ctx).Model(&record{}).
		Where("name = ?", name).Where(claimable, now, now).
		Updates(map[string]any{
			"claim_token":     token,
			"claimed_until":   now.Add(r.opts.Lease),
			"attempts":        gorm.Expr("attempts + 1"),
			"last_started_at": now,
		})
	if res.Error != nil {
		return nil, "", fmt.Errorf("jobs: claim %s: %w", name, res.Error)
	}
	if res.RowsAffected != 1 {
		return nil, "", nil
	}
	var rec record
	if err := r.db.WithContext(ctx).Where("name = ? AND claim_token = ?", name, token).Take(&rec).Error; err != nil {
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return nil, "", nil // lost already: only with a lease shorter than this read
		}
		return nil, "", fmt.Errorf("jobs: read claimed %s: %w", name, err)
	}
	return &rec, token, nil
}

// record stores the outcome of a run, only if the claim is still this runner's.
func (r *Runner) record(ctx context.Context, j Job, rec *record, token string, runErr error, log *slog.Logger) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	now := r.now()
	set := map[string]any{"claim_token": "", "claimed_until": nil, "last_finished_at": now}
	level, msg := slog.LevelInfo, "job done"
	switch {
	case runErr == nil:
		set["next_run_at"] = timePtr(j.Schedule.Next(now))
		set["attempts"] = 0
		set["runs"] = gorm.Expr("runs + 1")
		set["last_outcome"] = string(OutcomeOK)
	case rec.Attempts >= r.opts.MaxAttempts:
		set["next_run_at"] = timePtr(j.Schedule.Next(now))
		set["attempts"] = 0
		set["last_outcome"] = string(OutcomeGivenUp)
		set["last_error"] = lease.TruncateError(runErr, maxErrorRunes)
		set["last_error_at"] = now
		level, msg = slog.LevelError, "job failed; occurrence given up"
		log = log.With("err", runErr)
	default:
		next := timePtr(now.Add(lease.Backoff(r.opts.BackoffBase, r.opts.BackoffMax, rec.Attempts)))
		set["next_run_at"] = next
		set["last_outcome"] = string(OutcomeRetry)
		set["last_error"] = lease.TruncateError(runErr, maxErrorRunes)
		set["last_error_at"] = now
		level, msg = slog.LevelWarn, "job failed; will retry"
		log = log.With("err", runErr, "retry_at", *next)
	}
	res := r.db.WithContext(ctx).Model(&record{}).
		Where("name = ? AND claim_token = ?", j.Name, token).Updates(set)
	if res.Error != nil {
		return fmt.Errorf("jobs: record outcome of %s: %w", j.Name, res.Error)
	}
	if res.RowsAffected != 1 {
		log.WarnContext(ctx, "claim lost before the outcome was recorded; another runner owns the occurrence", "outcome", msg)
		return nil
	}
	log.Log(ctx, level, msg)
	return nil
}

// release hands back an occurrence interrupted by shutdown: no attempt counted, due at
// once for another runner.
func (r *Runner) release(ctx context.Context, j Job, token string, log *slog.Logger) error {
	res := r.db.WithContext(ctx).Model(&record{}).
		Where("name = ? AND claim_token = ?", j.Name, token).
		Updates(map[string]any{"claim_token": "", "claimed_until": nil, "attempts": gorm.Expr("attempts - 1")})
	if res.Error != nil {
		return fmt.Errorf("jobs: release %s: %w", j.Name, res.Error)
	}
	log.InfoContext(ctx, "job interrupted by shutdown; occurrence released")
	return nil
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	t = t.UTC().Truncate(time.Microsecond)
	return &t
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
