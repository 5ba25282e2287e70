package cases_test

import (
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/comuni-italiani/sportello/app/cases"
	"github.com/comuni-italiani/sportello/app/jobs"
	"github.com/comuni-italiani/sportello/app/store/storetest"
)

// TestEscalationJob runs the deadline escalation through the platform's job runner
// with an injected clock: nothing before the deadline, the late case flagged and its
// office mailed once after it, however many runners pass.
func TestEscalationJob(t *testing.T) {
	t.Parallel()
	migs := append(migrations(), jobs.Migrations()...)
	storetest.Each(t, migs, func(t *testing.T, db *gorm.DB) {
		start := time.Date(2026, 9, 1, 7, 0, 0, 0, time.UTC)
		clk := &clock{t: start}
		s := newService(t, db, clk)
		c := draft(t, s, nil)
		if _, err := s.Apply(ctx(), applicant, c.ID, "submit", cases.Input{}); err != nil {
			t.Fatal(err)
		}
		runners := make([]*jobs.Runner, 3)
		for i := range runners {
			r, err := jobs.NewRunner(db, s.Jobs(), jobs.Options{Now: clk.Now, WorkerID: string(rune('a' + i))})
			if err != nil {
				t.Fatal(err)
			}
			runners[i] = r
		}
		overdue := func() (flagged bool, mails int64) {
			got, _ := s.Get(ctx(), c.ID)
			db.Table("outbox_messages").Where("kind = ?", "cases.overdue").Count(&mails)
			return got.EscalatedAt != nil, mails
		}
		// Day 29: the job runs, nothing is late.
		clk.Set(start.Add(29 * 24 * time.Hour))
		for _, r := range runners {
			if _, err := r.RunOnce(ctx()); err != nil {
				t.Fatal(err)
			}
		}
		clk.Set(clk.Now().Add(cases.EscalationEvery + time.Minute))
		for _, r := range runners {
			r.RunOnce(ctx())
		}
		if f, m := overdue(); f || m != 0 {
			t.Fatalf("flagged before the deadline: %v, %d mails", f, m)
		}
		// Day 31: late. Every runner passes twice; one run flags and mails once.
		clk.Set(start.Add(31 * 24 * time.Hour))
		ran := 0
		for range 2 {
			for _, r := range runners {
				n, err := r.RunOnce(ctx())
				if err != nil {
					t.Fatal(err)
				}
				ran += n
			}
			clk.Set(clk.Now().Add(time.Minute))
		}
		if f, m := overdue(); !f || m != 1 || ran != 1 {
			t.Fatalf("after the deadline: flagged %v, %d mails, %d runs", f, m, ran)
		}
	})
}
