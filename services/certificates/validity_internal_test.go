package certificates

import (
	"testing"
	"time"
)

// Six months from the date of issue, in Europe/Rome, by the calendar: a month without
// the day ends on its last day (art. 2963 c.c.).
func TestValidity(t *testing.T) {
	t.Parallel()
	six, _ := TypeByID(TypeResidence)
	birth, _ := TypeByID(TypeBirth)
	for _, c := range []struct {
		issued  time.Time
		lastDay string
		endsUTC time.Time
	}{
		{time.Date(2026, 1, 12, 9, 30, 0, 0, time.UTC), "2026-07-12", time.Date(2026, 7, 12, 22, 0, 0, 0, time.UTC)},
		{time.Date(2026, 8, 31, 10, 0, 0, 0, time.UTC), "2027-02-28", time.Date(2027, 2, 28, 23, 0, 0, 0, time.UTC)},
		{time.Date(2027, 8, 31, 10, 0, 0, 0, time.UTC), "2028-02-29", time.Date(2028, 2, 29, 23, 0, 0, 0, time.UTC)},
		// 23:30 UTC on 31 January is already 1 February in Rome.
		{time.Date(2026, 1, 31, 23, 30, 0, 0, time.UTC), "2026-08-01", time.Date(2026, 8, 1, 22, 0, 0, 0, time.UTC)},
		{time.Date(2026, 12, 31, 12, 0, 0, 0, time.UTC), "2027-06-30", time.Date(2027, 6, 30, 22, 0, 0, 0, time.UTC)},
	} {
		exp, last := validity(six, c.issued)
		if exp == nil || !exp.Equal(c.endsUTC) || last.Format("2006-01-02") != c.lastDay {
			t.Errorf("issued %v: ends %v, last day %v; want %v, %s", c.issued, exp, last, c.endsUTC, c.lastDay)
		}
		cert := Certificate{ExpiresAt: exp}
		if got := cert.LastValidDay().Format("2006-01-02"); got != c.lastDay {
			t.Errorf("LastValidDay %s, want %s", got, c.lastDay)
		}
		if cert.ExpiredAt(c.endsUTC.Add(-time.Second)) || !cert.ExpiredAt(c.endsUTC) {
			t.Errorf("ExpiredAt around %v", c.endsUTC)
		}
	}
	if exp, _ := validity(birth, time.Now()); exp != nil {
		t.Error("a birth certificate expires")
	}
}

func TestAnonymizeIP(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"203.0.113.77": "203.0.113.0", "2001:db8:abcd:12::1": "2001:db8:abcd::", "::ffff:10.1.2.3": "10.1.2.0", "nonsense": "",
	} {
		if got := AnonymizeIP(in); got != want {
			t.Errorf("AnonymizeIP(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestEuro(t *testing.T) {
	t.Parallel()
	if euro(1600) != "16,00 €" || euro(5) != "0,05 €" {
		t.Fatal(euro(1600), euro(5))
	}
}
