package jobs

import (
	"fmt"
	"time"
)

// Schedule says when a job's occurrences fall due. Schedules are hand-written rather
// than parsed from cron expressions: the portal needs "every d" and "daily at hh:mm in
// Europe/Rome", and the daylight-saving rules of the latter are clearer in code.
type Schedule interface {
	// Next returns the first due time strictly after t, or the zero time when there is
	// none (a one-shot job that has run).
	Next(t time.Time) time.Time
	// String describes the schedule; a change of it moves the job's next run.
	String() string
}

// Every returns a schedule with occurrences d apart, the first d after the job is
// first seen. d under a second is raised to a second.
func Every(d time.Duration) Schedule { return every(max(d, time.Second)) }

type every time.Duration

func (e every) Next(t time.Time) time.Time { return t.Add(time.Duration(e)) }
func (e every) String() string             { return "every " + time.Duration(e).String() }

// rome is the comune's time zone (the binary imports time/tzdata).
var rome = loadRome()

func loadRome() *time.Location {
	loc, err := time.LoadLocation("Europe/Rome")
	if err != nil {
		return time.FixedZone("CET", 3600)
	}
	return loc
}

// DailyAt returns a schedule due every day at hour:minute, Europe/Rome time, once a
// calendar day: on the fall-back day a repeated time is due once; on the spring-forward
// day a time that does not exist (02:30) is due at the instant Go's time.Date gives it
// (within the missing hour's neighbourhood). hour and minute out of range panic: they
// are constants in code.
func DailyAt(hour, minute int) Schedule {
	if hour < 0 || hour > 23 || minute < 0 || minute > 59 {
		panic(fmt.Sprintf("jobs: DailyAt(%d, %d): not a time of day", hour, minute))
	}
	return daily{hour, minute}
}

type daily struct{ hour, minute int }

func (d daily) Next(t time.Time) time.Time {
	local := t.In(rome)
	day := local.Day()
	// Today's time only if the local clock has not reached it yet: comparing wall
	// clocks, not instants, keeps a repeated hour from giving a second run.
	if local.Hour() > d.hour || (local.Hour() == d.hour && local.Minute() >= d.minute) {
		day++
	}
	c := time.Date(local.Year(), local.Month(), day, d.hour, d.minute, 0, 0, rome)
	if !c.After(t) { // only on a spring-forward day, when c was normalized backwards
		c = time.Date(local.Year(), local.Month(), day+1, d.hour, d.minute, 0, 0, rome)
	}
	return c.UTC()
}

func (d daily) String() string {
	return fmt.Sprintf("daily at %02d:%02d Europe/Rome", d.hour, d.minute)
}

// At returns a one-shot schedule due at t: the job runs once, at or after t.
func At(t time.Time) Schedule { return at(t.UTC().Truncate(time.Second)) }

type at time.Time

func (a at) Next(t time.Time) time.Time {
	if time.Time(a).After(t) {
		return time.Time(a)
	}
	return time.Time{}
}

func (a at) String() string { return "once at " + time.Time(a).Format(time.RFC3339) }

// first is the first due time of a job first seen at now: for a one-shot schedule its
// time (even if past), otherwise its next time after now.
func first(s Schedule, now time.Time) time.Time {
	if a, ok := s.(at); ok {
		return time.Time(a)
	}
	return s.Next(now)
}
