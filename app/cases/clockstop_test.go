package cases_test

import (
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/comuni-italiani/sportello/app/cases"
	"github.com/comuni-italiani/sportello/app/store/storetest"
)

// TestClockStops: the decision's deadline, counted from the submission, stops while
// the case waits for the citizen's integration, each time it does.
func TestClockStops(t *testing.T) {
	t.Parallel()
	storetest.Each(t, migrations(), func(t *testing.T, db *gorm.DB) {
		start := time.Date(2026, 4, 1, 8, 0, 0, 0, time.UTC)
		clk := &clock{t: start}
		s := newService(t, db, clk)
		typ := probeTypeDecl()
		typ.ID, typ.ClockStops = "sospeso", []cases.State{cases.WaitingForCitizen}
		if err := s.Register(typ); err != nil {
			t.Fatal(err)
		}
		c, err := s.Create(ctx(), applicant, probeModule, "sospeso", nil)
		if err != nil {
			t.Fatal(err)
		}
		day := 24 * time.Hour
		step := func(at time.Duration, a cases.Actor, name string, want time.Time) {
			t.Helper()
			clk.Set(start.Add(at))
			got, err := s.Apply(ctx(), a, c.ID, name, cases.Input{Message: "testo"})
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if got.Deadline == nil || !got.Deadline.Equal(want) {
				t.Fatalf("after %s: deadline %v, want %v", name, got.Deadline, want)
			}
		}
		step(0, applicant, "submit", start.Add(30*day))
		step(2*day, officer, "take", start.Add(30*day))
		step(5*day, officer, "request_integration", start.Add(15*day)) // the citizen's own 10 days
		step(15*day, applicant, "reply", start.Add(40*day))            // 10 days stopped
		step(16*day, officer, "request_integration", start.Add(26*day))
		step(20*day, applicant, "reply", start.Add(44*day)) // 4 more days stopped
		clk.Set(start.Add(21 * day))
		if got, err := s.Apply(ctx(), officer, c.ID, "approve", cases.Input{}); err != nil || got.Deadline != nil {
			t.Fatalf("approved: %v %v", got, err)
		}
		// A type without ClockStops keeps counting from the submission.
		clk.Set(start)
		plain := draft(t, s, nil)
		s.Apply(ctx(), applicant, plain.ID, "submit", cases.Input{})
		s.Apply(ctx(), officer, plain.ID, "take", cases.Input{})
		s.Apply(ctx(), officer, plain.ID, "request_integration", cases.Input{Message: "testo"})
		clk.Set(start.Add(10 * day))
		got, err := s.Apply(ctx(), applicant, plain.ID, "reply", cases.Input{Message: "testo"})
		if err != nil || !got.Deadline.Equal(start.Add(30*day)) {
			t.Fatalf("without clock stops: %v %v", got.Deadline, err)
		}
	})
}
