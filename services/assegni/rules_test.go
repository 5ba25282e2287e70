package assegni

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func d(s string) time.Time {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		panic(err)
	}
	return t
}

func catalogue(t *testing.T) *Catalogue {
	t.Helper()
	c, err := LoadCatalogue(Settings{})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestShippedFigures(t *testing.T) {
	c := catalogue(t)
	for _, tc := range []struct {
		id              string
		full, threshold int64
		open            bool
	}{
		{"maternita-2024", 5 * 40417, 2022113, true},
		{"maternita-2025", 5 * 40740, 2038290, true},
		{"maternita-2026", 206550, 2066826, true},
		{"nucleo-2021", 13 * 14514, 895598, false},
	} {
		s, ok := c.ByID("valdoria", tc.id)
		if !ok || s.Full() != tc.full || s.ISEEThresholdCents != tc.threshold || s.Open != tc.open {
			t.Errorf("%s: %+v (ok %v), want full %d threshold %d open %v", tc.id, s, ok, tc.full, tc.threshold, tc.open)
		}
	}
	if s, _ := c.ByID("valdoria", "maternita-2026"); s.MonthlyCents*s.Months != s.Full() {
		t.Errorf("2026: 413.10 × 5 = %d, total %d", s.MonthlyCents*s.Months, s.Full())
	}
	// The demo comune's own scheme exists for it only.
	if _, ok := c.ByID("valdoria", "bonus-bebe-valdoria-2026"); !ok {
		t.Error("the demo comune lacks its local scheme")
	}
	if _, ok := c.ByID("roccabruna", "bonus-bebe-valdoria-2026"); ok {
		t.Error("another comune sees Valdoria's local scheme")
	}
	if _, ok := c.Measure("roccabruna", "maternita"); !ok {
		t.Error("the national scheme is missing for another comune")
	}
}

func TestCatalogueOverride(t *testing.T) {
	c, err := LoadCatalogue(Settings{Schemes: []Scheme{{ID: "maternita-2026", Measure: "maternita", Year: 2026,
		TitleIT: "Assegno 2026 (rettificato)", MonthlyCents: 41310, Months: 5, ISEEThresholdCents: 2100000,
		DeadlineMonths: 6, Applicants: []string{"madre"}, Open: true, ValidFrom: "2026-01-01", ValidTo: "2026-12-31"}}})
	if err != nil {
		t.Fatal(err)
	}
	s, _ := c.ByID("valdoria", "maternita-2026")
	if s.ISEEThresholdCents != 2100000 || s.TitleIT != "Assegno 2026 (rettificato)" {
		t.Fatalf("override not applied: %+v", s)
	}
	n := 0
	for _, x := range c.schemes {
		if x.ID == "maternita-2026" {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("%d schemes maternita-2026", n)
	}
	for _, bad := range []Scheme{
		{ID: "X", Measure: "m", Year: 2026, TitleIT: "t", TotalCents: 1, ISEEThresholdCents: 1, Applicants: []string{"madre"}, ValidFrom: "2026-01-01", ValidTo: "2026-12-31"},
		{ID: "x", Measure: "m", Year: 2026, TitleIT: "t", ISEEThresholdCents: 1, Applicants: []string{"madre"}, ValidFrom: "2026-01-01", ValidTo: "2026-12-31"},
		{ID: "x", Measure: "m", Year: 2026, TitleIT: "t", TotalCents: 1, ISEEThresholdCents: 1, Applicants: []string{"nonna"}, ValidFrom: "2026-01-01", ValidTo: "2026-12-31"},
		{ID: "x", Measure: "m", Year: 2026, TitleIT: "t", TotalCents: 1, ISEEThresholdCents: 1, Applicants: []string{"madre"}, ValidFrom: "2026-12-31", ValidTo: "2026-01-01"},
		{ID: "x", Measure: "m", Year: 2026, TitleIT: "t", TotalCents: 1, ISEEThresholdCents: 1, Applicants: []string{"madre"}, Documents: []string{"pagella"}, ValidFrom: "2026-01-01", ValidTo: "2026-12-31"},
	} {
		if _, err := NewCatalogue([]Scheme{bad}); err == nil {
			t.Errorf("accepted a bad scheme %+v", bad)
		}
	}
}

func TestLastDay(t *testing.T) {
	for _, tc := range []struct{ ev, want string }{
		{"2025-08-31", "2026-02-28"}, // no 31 February: the month's last day
		{"2023-08-31", "2024-02-29"}, // leap year
		{"2025-08-29", "2026-02-28"},
		{"2023-08-29", "2024-02-29"},
		{"2024-02-29", "2024-08-29"}, // born on a leap day
		{"2025-03-15", "2025-09-15"},
		{"2025-12-31", "2026-06-30"},
		{"2025-07-31", "2026-01-31"}, // across the year
	} {
		if got := LastDay(d(tc.ev), 6); !got.Equal(d(tc.want)) {
			t.Errorf("LastDay(%s) = %s, want %s", tc.ev, got.Format(time.DateOnly), tc.want)
		}
	}
	if !LastDay(d("2025-01-01"), 0).IsZero() {
		t.Error("0 months must mean no deadline")
	}
}

// TestDeadlineDayByDay walks the days around the six months from a birth on 31
// August: the last day is 28 February (29 in a leap year), the next day is late.
func TestDeadlineDayByDay(t *testing.T) {
	c := catalogue(t)
	base := Request{Measure: "maternita", Resident: true, Sex: "F", ChildInHousehold: true, Event: EventBirth}
	for _, tc := range []struct {
		birth, today string
		left         int
		err          error
	}{
		{"2024-08-31", "2025-02-26", 2, nil},
		{"2024-08-31", "2025-02-27", 1, nil},
		{"2024-08-31", "2025-02-28", 0, nil},
		{"2024-08-31", "2025-03-01", -1, ErrTooLate},
		{"2024-08-31", "2025-03-02", -2, ErrTooLate},
		{"2025-08-31", "2026-02-28", 0, nil},
		{"2025-08-31", "2026-03-01", -1, ErrTooLate},
		{"2024-02-29", "2024-08-29", 0, nil}, // leap-day birth
		{"2024-02-29", "2024-08-30", -1, ErrTooLate},
		{"2026-01-01", "2026-01-01", 181, nil}, // the day of birth
	} {
		r := base
		r.EventDate, r.Today = d(tc.birth), d(tc.today)
		o, err := Evaluate(c, "valdoria", r)
		if !errors.Is(err, tc.err) || o.DaysLeft != tc.left {
			t.Errorf("birth %s, today %s: days %d err %v; want %d %v", tc.birth, tc.today, o.DaysLeft, err, tc.left, tc.err)
		}
	}
	// The day turns at midnight in Rome, not in UTC: 23:30 UTC on 28 February 2026 is
	// already 1 March in Italy.
	r := base
	r.EventDate, r.Today = d("2025-08-31"), Day(time.Date(2026, 2, 28, 23, 30, 0, 0, time.UTC))
	if _, err := Evaluate(c, "valdoria", r); !errors.Is(err, ErrTooLate) {
		t.Errorf("23:30 UTC on the last day: %v, want late (00:30 in Rome)", err)
	}
	r.Today = Day(time.Date(2026, 2, 28, 22, 59, 0, 0, time.UTC))
	if _, err := Evaluate(c, "valdoria", r); err != nil {
		t.Errorf("23:59 in Rome on the last day: %v", err)
	}
}

func TestEligibility(t *testing.T) {
	c := catalogue(t)
	ok := Request{Measure: "maternita", Resident: true, Sex: "F", ChildInHousehold: true, Event: EventBirth,
		EventDate: d("2026-03-10"), Today: d("2026-04-01"), ISEEKnown: true}
	for _, tc := range []struct {
		name   string
		edit   func(r *Request)
		ente   string
		err    error
		amount int64
	}{
		{"full amount", func(r *Request) {}, "valdoria", nil, 206550},
		{"ISEE at the threshold", func(r *Request) { r.ISEE = 2066826 }, "valdoria", nil, 206550},
		{"ISEE one cent over", func(r *Request) { r.ISEE = 2066827 }, "valdoria", ErrISEEOver, 0},
		{"2025 threshold, at", func(r *Request) { r.EventDate, r.ISEE = d("2025-12-31"), 2038290 }, "valdoria", nil, 203700},
		{"2025 threshold, one cent over", func(r *Request) { r.EventDate, r.ISEE = d("2025-12-31"), 2038291 }, "valdoria", ErrISEEOver, 0},
		{"2024 amount", func(r *Request) { r.EventDate, r.Today = d("2024-12-01"), d("2025-01-15") }, "valdoria", nil, 202085},
		{"quota differenziale", func(r *Request) { r.Benefit = 100000 }, "valdoria", nil, 106550},
		{"benefit one cent under", func(r *Request) { r.Benefit = 206549 }, "valdoria", nil, 1},
		{"benefit equal", func(r *Request) { r.Benefit = 206550 }, "valdoria", ErrNothingDue, 0},
		{"benefit over", func(r *Request) { r.Benefit = 300000 }, "valdoria", ErrNothingDue, 0},
		{"child not in the household", func(r *Request) { r.ChildInHousehold = false }, "valdoria", ErrChildNotHere, 0},
		{"applicant not resident", func(r *Request) { r.Resident = false }, "valdoria", ErrNotResident, 0},
		{"father for a mother-only scheme", func(r *Request) { r.Sex = "M" }, "valdoria", ErrNotMother, 0},
		{"year not configured", func(r *Request) { r.EventDate, r.Today = d("2023-11-01"), d("2024-01-10") }, "valdoria", ErrNoScheme, 0},
		{"year not configured, long past", func(r *Request) { r.EventDate = d("2014-09-20") }, "valdoria", ErrTooLate, 0},
		{"future birth", func(r *Request) { r.EventDate = d("2026-05-01") }, "valdoria", ErrFutureEvent, 0},
		{"repealed scheme", func(r *Request) { r.Measure, r.EventDate = "nucleo", d("2021-06-01") }, "valdoria", ErrClosed, 0},
		{"repealed scheme after its end", func(r *Request) { r.Measure = "nucleo" }, "valdoria", ErrClosed, 0},
		{"unknown measure", func(r *Request) { r.Measure = "bonus-auto" }, "valdoria", ErrUnknownMeasure, 0},
		{"local scheme, father may apply", func(r *Request) { r.Measure, r.Sex = "bonus-bebe", "M" }, "valdoria", nil, 50000},
		{"local scheme of another comune", func(r *Request) { r.Measure = "bonus-bebe" }, "roccabruna", ErrUnknownMeasure, 0},
		{"adoption counted from the entry", func(r *Request) {
			r.Event, r.EventDate, r.Today = EventAdoption, d("2025-09-01"), d("2026-03-01")
		}, "valdoria", nil, 203700},
		{"adoption one day late", func(r *Request) {
			r.Event, r.EventDate, r.Today = EventAdoption, d("2025-09-01"), d("2026-03-02")
		}, "valdoria", ErrTooLate, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := ok
			tc.edit(&r)
			o, err := Evaluate(c, tc.ente, r)
			if !errors.Is(err, tc.err) {
				t.Fatalf("err %v, want %v", err, tc.err)
			}
			if err == nil && o.Amount != tc.amount {
				t.Fatalf("amount %d, want %d", o.Amount, tc.amount)
			}
		})
	}
}

func TestIBAN(t *testing.T) {
	for _, tc := range []struct {
		v  string
		ok bool
	}{
		{"IT60X0542811101000000123456", true},
		{"it60 x054 2811 1010 0000 0123 456", true},
		{"IT61X0542811101000000123456", false}, // check digits
		{"IT60X0542811101000000123457", false}, // one digit changed
		{"IT60X054281110100000012345", false},  // 26 characters
		{"DE89370400440532013000", true},
		{"DE89370400440532013001", false},
		{"", false},
		{"IT60-X054", false},
	} {
		if got := ValidIBAN(tc.v); got != tc.ok {
			t.Errorf("ValidIBAN(%q) = %v", tc.v, got)
		}
	}
}

func TestDSU(t *testing.T) {
	for _, tc := range []struct {
		v  string
		ok bool
	}{
		{"INPS-ISEE-2026-00123456A-00", true},
		{"inps-isee-2026-00123456a-00", true},
		{"INPS-ISEE-2026-0012345A-00", false},
		{"INPS-ISEE-26-00123456A-00", false},
		{"INPS-ISEE-2026-00123456-00", false},
		{"2026-00123456A-00", false},
	} {
		if got := ValidDSU(tc.v); got != tc.ok {
			t.Errorf("ValidDSU(%q) = %v", tc.v, got)
		}
	}
}

func TestEuro(t *testing.T) {
	for _, tc := range []struct {
		v     string
		cents int64
		ok    bool
	}{
		{"0", 0, true}, {"12", 1200, true}, {"12,5", 1250, true}, {"12,50", 1250, true}, {"1.234,56", 123456, true},
		{"1234.56", 123456, true}, {"20.668,26", 2066826, true}, {"€ 10", 1000, true}, {"1.234", 123400, true},
		{"12,345", 0, false}, {"-5", 0, false}, {"abc", 0, false}, {"", 0, false}, {"1e5", 0, false},
		{"9999999999999", 0, false},
	} {
		c, ok := ParseEuro(tc.v)
		if ok != tc.ok || c != tc.cents {
			t.Errorf("ParseEuro(%q) = %d %v", tc.v, c, ok)
		}
	}
	for cents, want := range map[int64]string{206550: "2.065,50 €", 5: "0,05 €", 123456789: "1.234.567,89 €", 0: "0,00 €"} {
		if got := FormatEuro(cents); got != want {
			t.Errorf("FormatEuro(%d) = %q", cents, got)
		}
	}
}

func TestMeasuresOrder(t *testing.T) {
	var ids []string
	for _, m := range catalogue(t).Measures("valdoria") {
		ids = append(ids, m.ID)
	}
	if strings.Join(ids, ",") != "maternita,bonus-bebe,nucleo" {
		t.Fatalf("measures in order %v, want national open, local open, closed", ids)
	}
}

func TestRequiredDocuments(t *testing.T) {
	s, _ := catalogue(t).ByID("valdoria", "maternita-2026")
	for _, tc := range []struct {
		citizenship, event, want string
	}{
		{"ITALIA", EventBirth, "isee,identita"},
		{"ROMANIA", EventBirth, "isee,identita"}, // EU citizen
		{"MAROCCO", EventBirth, "isee,identita,permesso"},
		{"ITALIA", EventAdoption, "isee,identita,adozione"},
		{"ALBANIA", EventFoster, "isee,identita,permesso,adozione"},
	} {
		if got := strings.Join(RequiredDocuments(s, tc.citizenship, tc.event), ","); got != tc.want {
			t.Errorf("%s, %s: %s, want %s", tc.citizenship, tc.event, got, tc.want)
		}
	}
}
