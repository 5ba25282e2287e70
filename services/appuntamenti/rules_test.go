package appuntamenti

import (
	"testing"
	"time"
)

func romeAt(y int, mo time.Month, d, h, mi int) time.Time {
	return time.Date(y, mo, d, h, mi, 0, 0, rome)
}

// Slots are wall-clock Europe/Rome: the same 08:30 is 07:30 UTC in winter and 06:30
// UTC in summer, and the days the clocks change (last Sunday of March and of October)
// hold one hour less or more of slots across 02:00-03:00.
func TestDaySlotsSummerTime(t *testing.T) {
	t.Parallel()
	week := []Hours{}
	for wd := 1; wd <= 7; wd++ {
		week = append(week, Hours{Weekday: wd, Opens: "08:30", Closes: "09:30"})
	}
	night := []Hours{{Weekday: 7, Opens: "01:00", Closes: "04:00"}}
	cases := []struct {
		name   string
		day    Day
		hours  []Hours
		length time.Duration
		want   []string // UTC
	}{
		{"friday before spring change, winter", Day{2026, 3, 27}, week, 30 * time.Minute, []string{"07:30", "08:00"}},
		{"monday after spring change, summer", Day{2026, 3, 30}, week, 30 * time.Minute, []string{"06:30", "07:00"}},
		{"friday before autumn change, summer", Day{2026, 10, 23}, week, 30 * time.Minute, []string{"06:30", "07:00"}},
		{"monday after autumn change, winter", Day{2026, 10, 26}, week, 30 * time.Minute, []string{"07:30", "08:00"}},
		// 29 March 2026: 02:00 CET jumps to 03:00 CEST; 01:00-04:00 lasts two hours.
		{"last sunday of march, night desk", Day{2026, 3, 29}, night, time.Hour, []string{"00:00", "01:00"}},
		// 25 October 2026: 03:00 CEST falls back to 02:00 CET; 01:00-04:00 lasts four hours.
		{"last sunday of october, night desk", Day{2026, 10, 25}, night, time.Hour, []string{"23:00", "00:00", "01:00", "02:00"}},
		{"slot must end by closing", Day{2026, 3, 27}, []Hours{{Weekday: 5, Opens: "08:30", Closes: "09:10"}}, 20 * time.Minute, []string{"07:30", "07:50"}},
		{"closed weekday", Day{2026, 3, 28}, []Hours{{Weekday: 5, Opens: "08:30", Closes: "12:30"}}, 20 * time.Minute, nil},
	}
	for _, c := range cases {
		got, err := DaySlots(c.day, c.hours, c.length)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		var s []string
		for _, g := range got {
			s = append(s, g.UTC().Format("15:04"))
		}
		if len(s) != len(c.want) {
			t.Errorf("%s: got %v, want %v", c.name, s, c.want)
			continue
		}
		for i := range s {
			if s[i] != c.want[i] {
				t.Errorf("%s: got %v, want %v", c.name, s, c.want)
				break
			}
		}
	}
	if _, err := DaySlots(Day{2026, 3, 27}, []Hours{{Weekday: 5, Opens: "8.30", Closes: "12:30"}}, time.Minute*20); err == nil {
		t.Error("a malformed opening time was accepted")
	}
}

// Day arithmetic is on the civil date: the day after the spring change is the next
// date, not 23 hours later.
func TestDayNextAcrossChanges(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ d, want Day }{
		{Day{2026, 3, 28}, Day{2026, 3, 29}}, {Day{2026, 3, 29}, Day{2026, 3, 30}},
		{Day{2026, 10, 25}, Day{2026, 10, 26}}, {Day{2026, 12, 31}, Day{2027, 1, 1}},
	} {
		if got := c.d.Next(); got != c.want {
			t.Errorf("%v.Next() = %v, want %v", c.d, got, c.want)
		}
	}
}

func TestPolicyRules(t *testing.T) {
	t.Parallel()
	p := Policy{MinLead: 2 * time.Hour, CancelBefore: 24 * time.Hour, HorizonDays: 30}
	now := romeAt(2026, 3, 23, 10, 0) // Monday
	closure := []Closure{{StartsAt: romeAt(2026, 3, 25, 0, 0).UTC(), EndsAt: romeAt(2026, 3, 26, 0, 0).UTC()}}
	partDay := []Closure{{StartsAt: romeAt(2026, 3, 24, 11, 0).UTC(), EndsAt: romeAt(2026, 3, 24, 12, 30).UTC()}}
	l := 20 * time.Minute
	cases := []struct {
		name  string
		start time.Time
		cs    []Closure
		want  string
	}{
		{"in two hours", romeAt(2026, 3, 23, 12, 0), nil, ""},
		{"in one hour", romeAt(2026, 3, 23, 11, 0), nil, "too_soon"},
		{"past", romeAt(2026, 3, 23, 9, 0), nil, "too_soon"},
		{"last day of horizon", romeAt(2026, 4, 21, 12, 0), nil, ""},
		{"first day beyond horizon", romeAt(2026, 4, 22, 8, 30), nil, "beyond_horizon"},
		{"closed all day", romeAt(2026, 3, 25, 9, 0), closure, "closed"},
		{"day after closure", romeAt(2026, 3, 26, 9, 0), closure, ""},
		{"part-day closure hit", romeAt(2026, 3, 24, 10, 50), partDay, "closed"},
		{"part-day closure, slot ending at its start", romeAt(2026, 3, 24, 10, 40), partDay, ""},
		{"part-day closure, slot at its end", romeAt(2026, 3, 24, 12, 30), partDay, ""},
	}
	for _, c := range cases {
		if got := p.Bookable(now, c.start.UTC(), l, c.cs); got != c.want {
			t.Errorf("%s: %q, want %q", c.name, got, c.want)
		}
	}
	appt := romeAt(2026, 3, 30, 9, 0) // after the spring change: 24 h are real hours
	for _, c := range []struct {
		now  time.Time
		want bool
	}{
		{romeAt(2026, 3, 29, 8, 59), true}, {romeAt(2026, 3, 29, 9, 0), true},
		{romeAt(2026, 3, 29, 9, 1), false}, {romeAt(2026, 3, 30, 8, 0), false},
	} {
		if got := p.CanChange(c.now, appt); got != c.want {
			t.Errorf("CanChange at %v: %v, want %v", c.now, got, c.want)
		}
	}
}
