package jobs_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/comuni-italiani/sportello/app/jobs"
	"github.com/comuni-italiani/sportello/app/store/storetest"
)

var ctx = context.Background()

// clock is a settable clock shared by runners.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 3, 10, 8, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func (c *clock) Add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

func newRunner(t *testing.T, db *gorm.DB, c *clock, id string, list ...jobs.Job) *jobs.Runner {
	t.Helper()
	r, err := jobs.NewRunner(db, list, jobs.Options{Now: c.Now, WorkerID: id, Lease: time.Minute,
		BackoffBase: time.Minute, BackoffMax: 10 * time.Minute, MaxAttempts: 3})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func runOnce(t *testing.T, r *jobs.Runner) int {
	t.Helper()
	n, err := r.RunOnce(ctx)
	if err != nil {
		t.Fatalf("RunOnce: %v", err)
	}
	return n
}

func state(t *testing.T, db *gorm.DB, c *clock, name string) jobs.State {
	t.Helper()
	list, err := jobs.List(ctx, db, c.Now())
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range list {
		if s.Name == name {
			return s
		}
	}
	t.Fatalf("job %s not listed in %+v", name, list)
	return jobs.State{}
}

func TestFirstRunAfterOneInterval(t *testing.T) {
	t.Parallel()
	storetest.Each(t, jobs.Migrations(), func(t *testing.T, db *gorm.DB) {
		c := newClock()
		var calls []time.Time
		r := newRunner(t, db, c, "a", jobs.Job{Name: "platform/tick", Schedule: jobs.Every(time.Hour),
			Run: func(_ context.Context, now time.Time) error { calls = append(calls, now); return nil }})
		if n := runOnce(t, r); n != 0 {
			t.Fatalf("ran %d before the first occurrence was due", n)
		}
		s := state(t, db, c, "platform/tick")
		if s.NextRunAt == nil || !s.NextRunAt.Equal(c.Now().Add(time.Hour)) || s.Schedule != "every 1h0m0s" {
			t.Fatalf("registered state: %+v", s)
		}
		c.Add(time.Hour)
		if n := runOnce(t, r); n != 1 || len(calls) != 1 || !calls[0].Equal(c.Now()) {
			t.Fatalf("ran %d, calls %v", n, calls)
		}
		if n := runOnce(t, r); n != 0 {
			t.Fatalf("the same occurrence ran again")
		}
		s = state(t, db, c, "platform/tick")
		if s.Runs != 1 || s.Attempts != 0 || s.LastOutcome != jobs.OutcomeOK || s.Running ||
			!s.NextRunAt.Equal(c.Now().Add(time.Hour)) || s.LastFinishedAt == nil {
			t.Fatalf("after the run: %+v", s)
		}
	})
}

// Twenty runners (as twenty replicas) claim one due occurrence at once: it runs once.
func TestConcurrentRunnersRunAnOccurrenceOnce(t *testing.T) {
	t.Parallel()
	storetest.Each(t, jobs.Migrations(), func(t *testing.T, db *gorm.DB) {
		c := newClock()
		var runs atomic.Int32
		job := jobs.Job{Name: "platform/once", Schedule: jobs.At(c.Now()),
			Run: func(context.Context, time.Time) error {
				runs.Add(1)
				time.Sleep(20 * time.Millisecond) // let the others try while it runs
				return nil
			}}
		const n = 20
		runners := make([]*jobs.Runner, n)
		for i := range runners {
			runners[i] = newRunner(t, db, c, fmt.Sprintf("replica-%d", i), job)
		}
		var wg sync.WaitGroup
		start := make(chan struct{})
		var ran atomic.Int32
		errs := make(chan error, n)
		for _, r := range runners {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				k, err := r.RunOnce(ctx)
				if err != nil {
					errs <- err
				}
				ran.Add(int32(k))
			}()
		}
		close(start)
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatalf("runner: %v", err)
		}
		if runs.Load() != 1 || ran.Load() != 1 {
			t.Fatalf("the occurrence ran %d times (%d reported), want 1", runs.Load(), ran.Load())
		}
		s := state(t, db, c, "platform/once")
		if s.Runs != 1 || s.NextRunAt != nil || s.LastOutcome != jobs.OutcomeOK {
			t.Fatalf("one-shot job after its run: %+v", s)
		}
		c.Add(24 * time.Hour)
		for _, r := range runners {
			runOnce(t, r)
		}
		if runs.Load() != 1 {
			t.Fatalf("a one-shot job ran again a day later")
		}
	})
}

// A runner dies mid-job (its context is cancelled, it never records anything): the
// occurrence runs again on another runner once the lease has run out, and the dead
// runner's late outcome is refused.
func TestKilledRunnerOccurrenceRunsAgainAfterLease(t *testing.T) {
	t.Parallel()
	storetest.Each(t, jobs.Migrations(), func(t *testing.T, db *gorm.DB) {
		c := newClock()
		var calls atomic.Int32
		started := make(chan struct{})
		hang := make(chan struct{})
		job := jobs.Job{Name: "platform/report", Schedule: jobs.Every(time.Hour),
			Run: func(context.Context, time.Time) error {
				if calls.Add(1) == 1 {
					close(started)
					<-hang // a dead process: ignores its context, never returns in time
					return nil
				}
				return nil
			}}
		dead := newRunner(t, db, c, "dead", job)
		live := newRunner(t, db, c, "live", job)
		runOnce(t, live) // registers the job
		c.Add(time.Hour)

		deadCtx, kill := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() {
			defer close(done)
			_, _ = dead.RunOnce(deadCtx)
		}()
		<-started
		kill() // its lease renewal stops; the row keeps its claim
		if s := state(t, db, c, "platform/report"); !s.Running || s.Attempts != 1 {
			t.Fatalf("while the dead runner holds it: %+v", s)
		}
		if n := runOnce(t, live); n != 0 {
			t.Fatalf("claimed while the lease still held")
		}
		c.Add(61 * time.Second) // the one-minute lease runs out
		if n := runOnce(t, live); n != 1 || calls.Load() != 2 {
			t.Fatalf("after the lease: ran %d, calls %d", n, calls.Load())
		}
		close(hang) // the dead runner wakes up and tries to record success
		<-done
		s := state(t, db, c, "platform/report")
		if s.Runs != 1 || s.Attempts != 0 || s.Running || s.LastOutcome != jobs.OutcomeOK ||
			!s.NextRunAt.Equal(c.Now().Add(time.Hour)) {
			t.Fatalf("after the takeover: %+v", s)
		}
	})
}

// A failing job is retried with growing backoff, its error visible, then given up for
// its occurrence; the next occurrence runs as scheduled.
func TestFailureRetriesWithBackoff(t *testing.T) {
	t.Parallel()
	storetest.Each(t, jobs.Migrations(), func(t *testing.T, db *gorm.DB) {
		c := newClock()
		var calls atomic.Int32
		fail := true
		r := newRunner(t, db, c, "a", jobs.Job{Name: "certificati/expire", Schedule: jobs.DailyAt(3, 0),
			Run: func(context.Context, time.Time) error {
				calls.Add(1)
				if fail {
					return errors.New("registro non raggiungibile: \xff\x00 timeout")
				}
				return nil
			}})
		runOnce(t, r)
		due := *state(t, db, c, "certificati/expire").NextRunAt
		// 2026-03-10 08:00 UTC is 09:00 in Rome: next 03:00 Rome is 02:00 UTC on the 11th.
		if want := time.Date(2026, 3, 11, 2, 0, 0, 0, time.UTC); !due.Equal(want) {
			t.Fatalf("first due %v, want %v", due, want)
		}
		c.Add(due.Sub(c.Now()))
		prevWait := time.Duration(0)
		for attempt := 1; attempt <= 3; attempt++ {
			if n := runOnce(t, r); n != 1 {
				t.Fatalf("attempt %d: ran %d", attempt, n)
			}
			s := state(t, db, c, "certificati/expire")
			if attempt < 3 {
				base := time.Minute << (attempt - 1)
				wait := s.NextRunAt.Sub(c.Now())
				if s.LastOutcome != jobs.OutcomeRetry || s.Attempts != attempt || wait < base/2 || wait > base {
					t.Fatalf("attempt %d: %+v, wait %v, want within [%v, %v]", attempt, s, wait, base/2, base)
				}
				if s.LastError != "registro non raggiungibile: ? timeout" || s.LastErrorAt == nil || !s.Failing() {
					t.Fatalf("attempt %d: last error %q", attempt, s.LastError)
				}
				if n := runOnce(t, r); n != 0 {
					t.Fatalf("retried before the backoff ran out")
				}
				if wait < prevWait/2 {
					t.Fatalf("backoff shrank")
				}
				prevWait = wait
				c.Add(wait)
				continue
			}
			// Third failure with MaxAttempts 3: the occurrence is given up.
			if s.LastOutcome != jobs.OutcomeGivenUp || s.Attempts != 0 || s.Runs != 0 {
				t.Fatalf("given up: %+v", s)
			}
			if want := time.Date(2026, 3, 12, 2, 0, 0, 0, time.UTC); !s.NextRunAt.Equal(want) {
				t.Fatalf("next occurrence %v, want %v", s.NextRunAt, want)
			}
		}
		fail = false
		c.Add(state(t, db, c, "certificati/expire").NextRunAt.Sub(c.Now()))
		if n := runOnce(t, r); n != 1 || calls.Load() != 4 {
			t.Fatalf("next occurrence: ran %d, calls %d", n, calls.Load())
		}
		if s := state(t, db, c, "certificati/expire"); s.LastOutcome != jobs.OutcomeOK || s.Runs != 1 || s.Failing() {
			t.Fatalf("after a success: %+v", s)
		}
	})
}

// A job that panics is a failed run, not a dead runner.
func TestPanicIsAFailure(t *testing.T) {
	t.Parallel()
	storetest.Each(t, jobs.Migrations(), func(t *testing.T, db *gorm.DB) {
		c := newClock()
		r := newRunner(t, db, c, "a", jobs.Job{Name: "platform/boom", Schedule: jobs.At(c.Now()),
			Run: func(context.Context, time.Time) error { panic("nil map") }})
		if n := runOnce(t, r); n != 1 {
			t.Fatalf("ran %d", n)
		}
		if s := state(t, db, c, "platform/boom"); s.LastOutcome != jobs.OutcomeRetry || s.LastError != "jobs: platform/boom panicked: nil map" {
			t.Fatalf("after a panic: %+v", s)
		}
	})
}

// Shutdown during a run hands the occurrence back without counting an attempt.
func TestShutdownReleasesTheOccurrence(t *testing.T) {
	t.Parallel()
	storetest.Each(t, jobs.Migrations(), func(t *testing.T, db *gorm.DB) {
		c := newClock()
		var calls atomic.Int32
		job := jobs.Job{Name: "platform/long", Schedule: jobs.At(c.Now()),
			Run: func(ctx context.Context, _ time.Time) error {
				if calls.Add(1) == 1 {
					<-ctx.Done()
					return ctx.Err()
				}
				return nil
			}}
		a := newRunner(t, db, c, "a", job)
		b := newRunner(t, db, c, "b", job)
		actx, stop := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- a.Run(actx) }()
		for calls.Load() == 0 {
			time.Sleep(time.Millisecond)
		}
		stop()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if s := state(t, db, c, "platform/long"); s.Running || s.Attempts != 0 || s.LastOutcome != jobs.OutcomeNone {
			t.Fatalf("after shutdown: %+v", s)
		}
		if n := runOnce(t, b); n != 1 || calls.Load() != 2 {
			t.Fatalf("another runner did not take it at once: ran %d", n)
		}
	})
}

func TestRunnerRefusesBadJobs(t *testing.T) {
	t.Parallel()
	ok := func(context.Context, time.Time) error { return nil }
	for _, list := range [][]jobs.Job{
		{{Name: "", Schedule: jobs.Every(time.Hour), Run: ok}},
		{{Name: "Bad Name", Schedule: jobs.Every(time.Hour), Run: ok}},
		{{Name: "x/y", Run: ok}},
		{{Name: "x/y", Schedule: jobs.Every(time.Hour)}},
		{{Name: "x/y", Schedule: jobs.Every(time.Hour), Run: ok}, {Name: "x/y", Schedule: jobs.DailyAt(1, 0), Run: ok}},
	} {
		if _, err := jobs.NewRunner(nil, list, jobs.Options{}); err == nil {
			t.Errorf("accepted %+v", list)
		}
	}
}

func TestDailyAtAcrossDaylightSaving(t *testing.T) {
	t.Parallel()
	rome, _ := time.LoadLocation("Europe/Rome")
	s := jobs.DailyAt(2, 30)
	// Fall back, 25 October 2026: 02:30 happens twice; the job is due once that day.
	first := s.Next(time.Date(2026, 10, 24, 12, 0, 0, 0, rome))
	if l := first.In(rome); l.Day() != 25 || l.Hour() != 2 || l.Minute() != 30 {
		t.Fatalf("fall-back day: %v", l)
	}
	second := s.Next(first)
	if l := second.In(rome); l.Day() != 26 || l.Hour() != 2 || l.Minute() != 30 {
		t.Fatalf("after the fall-back occurrence: %v (a repeated hour ran twice?)", l)
	}
	// Spring forward, 29 March 2026: 02:30 does not exist; the job still runs that day, once.
	spring := s.Next(time.Date(2026, 3, 28, 12, 0, 0, 0, rome))
	if l := spring.In(rome); l.Day() != 29 {
		t.Fatalf("spring-forward day: %v", l)
	}
	if l := s.Next(spring).In(rome); l.Day() != 30 || l.Hour() != 2 || l.Minute() != 30 {
		t.Fatalf("day after spring forward: %v", l)
	}
	// Ordinary day, before and after the time.
	if got := s.Next(time.Date(2026, 6, 1, 2, 29, 0, 0, rome)); !got.Equal(time.Date(2026, 6, 1, 2, 30, 0, 0, rome)) {
		t.Fatalf("same day: %v", got)
	}
	if got := s.Next(time.Date(2026, 6, 1, 2, 30, 0, 0, rome)); !got.Equal(time.Date(2026, 6, 2, 2, 30, 0, 0, rome)) {
		t.Fatalf("next day: %v", got)
	}
}
