package appuntamenti

import (
	"fmt"
	"sort"
	"time"

	"github.com/comuni-italiani/sportello/app/web"
)

// rome is the comune's time zone: opening hours are wall-clock times in it.
var rome = web.Rome

// Day is a civil date in Europe/Rome.
type Day struct {
	Y int
	M time.Month
	D int
}

// DayOf returns the civil day of t in Europe/Rome.
func DayOf(t time.Time) Day {
	y, m, d := t.In(rome).Date()
	return Day{y, m, d}
}

// ParseDay reads "2006-01-02".
func ParseDay(s string) (Day, error) {
	t, err := time.ParseInLocation("2006-01-02", s, rome)
	if err != nil {
		return Day{}, err
	}
	return DayOf(t), nil
}

// String is the day as "2006-01-02".
func (d Day) String() string { return fmt.Sprintf("%04d-%02d-%02d", d.Y, d.M, d.D) }

// Start is the day's first instant in Europe/Rome.
func (d Day) Start() time.Time { return time.Date(d.Y, d.M, d.D, 0, 0, 0, 0, rome) }

// Next returns the following day (AddDate on the civil date: DST-proof).
func (d Day) Next() Day { return DayOf(time.Date(d.Y, d.M, d.D+1, 12, 0, 0, 0, rome)) }

// ISOWeekday is 1 (Monday) ... 7 (Sunday).
func (d Day) ISOWeekday() int {
	w := time.Date(d.Y, d.M, d.D, 12, 0, 0, 0, rome).Weekday()
	if w == time.Sunday {
		return 7
	}
	return int(w)
}

// clock parses "HH:MM" into hours and minutes.
func clock(s string) (int, int, error) {
	var h, m int
	if len(s) != 5 || s[2] != ':' {
		return 0, 0, fmt.Errorf("appuntamenti: time %q is not HH:MM", s)
	}
	if _, err := fmt.Sscanf(s, "%02d:%02d", &h, &m); err != nil || h > 24 || m > 59 || (h == 24 && m > 0) {
		return 0, 0, fmt.Errorf("appuntamenti: time %q is not HH:MM", s)
	}
	return h, m, nil
}

// wall returns the instant of the wall-clock time hh:mm on day d in Europe/Rome. On
// the day summer time starts, a time in the skipped hour (02:00-02:59) does not exist
// and is moved forward by Go's time.Date (to 03:xx), as a clock on the wall would show.
func wall(d Day, hhmm string) (time.Time, error) {
	h, m, err := clock(hhmm)
	if err != nil {
		return time.Time{}, err
	}
	return time.Date(d.Y, d.M, d.D, h, m, 0, 0, rome), nil
}

// DaySlots returns the start instants (UTC) of the slots of a day for a service: the
// intervals of hours falling on the day's weekday, cut into slots of length; a slot
// must end by the interval's closing time. The slots advance in elapsed time, so on the
// days the clocks change an interval that spans 02:00-03:00 holds one hour more or
// less of slots, never a slot that overlaps another.
func DaySlots(d Day, hours []Hours, length time.Duration) ([]time.Time, error) {
	if length <= 0 {
		return nil, fmt.Errorf("appuntamenti: slot length %v", length)
	}
	wd := d.ISOWeekday()
	var out []time.Time
	for _, h := range hours {
		if h.Weekday != wd {
			continue
		}
		from, err := wall(d, h.Opens)
		if err != nil {
			return nil, err
		}
		to, err := wall(d, h.Closes)
		if err != nil {
			return nil, err
		}
		for t := from; !t.Add(length).After(to); t = t.Add(length) {
			out = append(out, t.UTC())
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Before(out[j]) })
	// Overlapping intervals would yield one start twice: keep it once.
	uniq := out[:0]
	for i, t := range out {
		if i == 0 || !t.Equal(out[i-1]) {
			uniq = append(uniq, t)
		}
	}
	return uniq, nil
}

// closed reports whether the slot [start, start+length) overlaps a closure.
func closed(start time.Time, length time.Duration, cs []Closure) bool {
	end := start.Add(length)
	for _, c := range cs {
		if start.Before(c.EndsAt) && c.StartsAt.Before(end) {
			return true
		}
	}
	return false
}

// Policy holds the booking rules that depend on the clock.
type Policy struct {
	// MinLead is how long before its start a slot can still be booked.
	MinLead time.Duration
	// CancelBefore is how long before the start a booking can still be moved or
	// cancelled by the citizen.
	CancelBefore time.Duration
	// HorizonDays is how many days ahead (counting today) slots are offered.
	HorizonDays int
}

// Bookable reports why a slot starting at start cannot be booked at now ("" when it
// can): past or too close, beyond the horizon, or closed.
func (p Policy) Bookable(now, start time.Time, length time.Duration, cs []Closure) string {
	switch {
	case start.Before(now.Add(p.MinLead)):
		return "too_soon"
	case !start.Before(p.HorizonEnd(now)):
		return "beyond_horizon"
	case closed(start, length, cs):
		return "closed"
	}
	return ""
}

// HorizonEnd is the first instant beyond the horizon: the start of day today+HorizonDays.
func (p Policy) HorizonEnd(now time.Time) time.Time {
	d := DayOf(now)
	return time.Date(d.Y, d.M, d.D+p.HorizonDays, 0, 0, 0, 0, rome)
}

// CanChange reports whether a booking starting at start may still be moved or
// cancelled by the citizen at now.
func (p Policy) CanChange(now, start time.Time) bool {
	return !now.Add(p.CancelBefore).After(start)
}

var (
	weekdayNamesIT = [...]string{"domenica", "lunedì", "martedì", "mercoledì", "giovedì", "venerdì", "sabato"}
	monthNamesIT   = [...]string{"", "gennaio", "febbraio", "marzo", "aprile", "maggio", "giugno", "luglio", "agosto",
		"settembre", "ottobre", "novembre", "dicembre"}
)

// Label is the day for people: "giovedì 10 dicembre 2026" / "Thursday 10 December 2026".
func (d Day) Label(lang string) string {
	t := time.Date(d.Y, d.M, d.D, 12, 0, 0, 0, rome)
	if lang == "en" {
		return t.Format("Monday 2 January 2006")
	}
	return fmt.Sprintf("%s %d %s %d", weekdayNamesIT[t.Weekday()], d.D, monthNamesIT[d.M], d.Y)
}

// Clock is the slot's start as "15:04" in Europe/Rome.
func (s FreeSlot) Clock() string { return s.Start.In(rome).Format("15:04") }

// Unix is the slot's start in Unix seconds (its identifier in forms).
func (s FreeSlot) Unix() int64 { return s.Start.Unix() }

// Clock formats t as "15:04" in Europe/Rome.
func Clock(t time.Time) string { return t.In(rome).Format("15:04") }
