package assegni

import (
	"math/big"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/comuni-italiani/sportello/app/cases"
	"github.com/comuni-italiani/sportello/app/web"
)

// The refusals of the rules, each with its message key (the text tells the citizen
// why and what to do).
var (
	ErrNoScheme       = &cases.Error{Key: "assegni.error.no_scheme"}
	ErrClosed         = &cases.Error{Key: "assegni.error.closed"}
	ErrNotResident    = &cases.Error{Key: "assegni.error.not_resident"}
	ErrNotMother      = &cases.Error{Key: "assegni.error.not_mother"}
	ErrChildNotHere   = &cases.Error{Key: "assegni.error.child_not_in_household", Field: "figlio_cf"}
	ErrFutureEvent    = &cases.Error{Key: "assegni.error.future_event", Field: "data_evento"}
	ErrTooLate        = &cases.Error{Key: "assegni.error.too_late"}
	ErrISEEOver       = &cases.Error{Key: "assegni.error.isee_over", Field: "isee"}
	ErrNothingDue     = &cases.Error{Key: "assegni.error.nothing_due", Field: "prestazione"}
	ErrDuplicate      = &cases.Error{Key: "assegni.error.duplicate"}
	ErrMissingDocs    = &cases.Error{Key: "assegni.error.missing_documents", Field: "documents"}
	ErrNotInRegister  = &cases.Error{Key: "assegni.error.not_in_register"}
	ErrUnknownMeasure = &cases.Error{Key: "assegni.error.unknown_measure"}
)

// Events that start the time to apply.
const (
	EventBirth    = "nascita"
	EventAdoption = "adozione"
	EventFoster   = "affidamento"
)

// rome is the comune's time zone: days are counted in it.
var rome = web.Rome

// Day is the calendar date of t in Europe/Rome, at 00:00 UTC.
func Day(t time.Time) time.Time {
	y, m, d := t.In(rome).Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// LastDay is the last day to apply for an event on day ev (a calendar date): months
// later, on the same day of the month, or on the month's last day when it has no
// such day (31 August + 6 months = 28 or 29 February), as art. 2963 of the Civil
// Code counts terms in months. 0 months means no deadline (the zero time).
func LastDay(ev time.Time, months int) time.Time {
	if months <= 0 {
		return time.Time{}
	}
	y, m, d := ev.Date()
	first := time.Date(y, m+time.Month(months), 1, 0, 0, 0, 0, time.UTC)
	last := first.AddDate(0, 1, -1).Day()
	if d > last {
		d = last
	}
	return time.Date(first.Year(), first.Month(), d, 0, 0, 0, 0, time.UTC)
}

// DaysLeft is the number of days from today to lastDay (0: today is the last day;
// negative: late). Both are calendar dates.
func DaysLeft(today, lastDay time.Time) int {
	return int(lastDay.Sub(today).Hours() / 24)
}

// Amount is what the scheme pays to a mother whose benefit from work for the same
// event is benefit (cents): the full amount, or the difference when the benefit is
// smaller ("quota differenziale"); 0 when the benefit covers it all.
func Amount(s Scheme, benefit int64) int64 {
	full := s.Full()
	if benefit <= 0 {
		return full
	}
	if benefit >= full {
		return 0
	}
	return full - benefit
}

// Request is what the rules judge: the facts from the register and the form.
type Request struct {
	Measure string
	// Resident: the applicant lives in the comune (register); Sex is theirs.
	Resident bool
	Sex      string
	// ChildInHousehold: the child is a current member of the applicant's family.
	ChildInHousehold bool
	// Event is EventBirth, EventAdoption or EventFoster; EventDate is the birth or
	// the entry into the family (calendar date).
	Event     string
	EventDate time.Time
	// ISEE and Benefit are in cents; ISEEKnown says the ISEE was given.
	ISEE      int64
	ISEEKnown bool
	Benefit   int64
	// Today is the calendar date of the application (Europe/Rome).
	Today time.Time
}

// Outcome is what the rules allow.
type Outcome struct {
	Scheme   Scheme
	LastDay  time.Time
	DaysLeft int
	Amount   int64
}

// Evaluate applies the rules of ente's schemes to r. It returns the scheme, the
// deadline and the amount, or the first refusal, in the order a citizen can act on
// them: scheme, residence, applicant, child, time, ISEE, amount.
func Evaluate(cat *Catalogue, ente string, r Request) (Outcome, error) {
	m, ok := cat.Measure(ente, r.Measure)
	if !ok {
		return Outcome{}, ErrUnknownMeasure
	}
	if !m.Open() {
		// A repealed allowance takes no new application, whatever the date.
		return Outcome{Scheme: m.Latest()}, ErrClosed
	}
	if r.EventDate.After(r.Today) {
		return Outcome{}, ErrFutureEvent
	}
	s, err := cat.For(ente, m.ID, r.EventDate)
	if err != nil {
		// An event so old that the time to apply has run out anyway is late, not
		// waiting for the figures of its year.
		if dm := m.Latest().DeadlineMonths; dm > 0 && DaysLeft(r.Today, LastDay(r.EventDate, dm)) < 0 {
			return Outcome{}, ErrTooLate
		}
		return Outcome{}, err
	}
	o := Outcome{Scheme: s, LastDay: LastDay(r.EventDate, s.DeadlineMonths)}
	if !s.Open {
		return o, ErrClosed
	}
	if !r.Resident {
		return o, ErrNotResident
	}
	if s.MotherOnly() && r.Sex != "F" {
		return o, ErrNotMother
	}
	if !r.ChildInHousehold {
		return o, ErrChildNotHere
	}
	if !o.LastDay.IsZero() {
		o.DaysLeft = DaysLeft(r.Today, o.LastDay)
		if o.DaysLeft < 0 {
			return o, ErrTooLate
		}
	}
	if r.ISEEKnown && r.ISEE > s.ISEEThresholdCents {
		return o, ErrISEEOver
	}
	o.Amount = Amount(s, r.Benefit)
	if o.Amount == 0 {
		return o, ErrNothingDue
	}
	return o, nil
}

// euStates are the other member states of the European Union, as the register names
// citizenships (in Italian, upper case).
var euStates = []string{"AUSTRIA", "BELGIO", "BULGARIA", "CIPRO", "CROAZIA", "DANIMARCA", "ESTONIA", "FINLANDIA",
	"FRANCIA", "GERMANIA", "GRECIA", "IRLANDA", "LETTONIA", "LITUANIA", "LUSSEMBURGO", "MALTA", "PAESI BASSI",
	"POLONIA", "PORTOGALLO", "REPUBBLICA CECA", "ROMANIA", "SLOVACCHIA", "SLOVENIA", "SPAGNA", "SVEZIA", "UNGHERIA"}

// RequiredDocuments are the documents an application needs: the scheme's, the
// residence permit for a citizen of a state outside the European Union (art. 74
// D.Lgs. 151/2001 admits holders of a permit), and the court's order for an adoption
// or a foster care.
func RequiredDocuments(s Scheme, citizenship, event string) []string {
	out := slices.Clone(s.Documents)
	add := func(d string) {
		if !slices.Contains(out, d) {
			out = append(out, d)
		}
	}
	c := strings.ToUpper(strings.TrimSpace(citizenship))
	if c != "" && c != "ITALIA" && !slices.Contains(euStates, c) {
		add("permesso")
	}
	if event == EventAdoption || event == EventFoster {
		add("adozione")
	}
	return out
}

// ibanRE is the shape of an IBAN: country, check digits, up to 30 letters or digits.
var ibanRE = regexp.MustCompile(`^[A-Z]{2}[0-9]{2}[A-Z0-9]{11,30}$`)

// NormalizeIBAN removes spaces and upper-cases.
func NormalizeIBAN(v string) string {
	return strings.ToUpper(strings.Join(strings.Fields(v), ""))
}

// ValidIBAN checks an IBAN's shape, the Italian length (27) and its check digits
// (ISO 13616: mod 97 of the rearranged number is 1). Hand-written: it is a few lines
// of arithmetic, and the only Go IBAN library served here is unmaintained since 2022.
func ValidIBAN(v string) bool {
	v = NormalizeIBAN(v)
	if !ibanRE.MatchString(v) || (strings.HasPrefix(v, "IT") && len(v) != 27) {
		return false
	}
	r := v[4:] + v[:4]
	var digits strings.Builder
	for _, ch := range r {
		if ch >= 'A' && ch <= 'Z' {
			digits.WriteString(strconv.Itoa(int(ch-'A') + 10))
		} else {
			digits.WriteRune(ch)
		}
	}
	n, ok := new(big.Int).SetString(digits.String(), 10)
	return ok && new(big.Int).Mod(n, big.NewInt(97)).Int64() == 1
}

// dsuRE is the protocol number INPS gives a DSU (dichiarazione sostitutiva unica)
// for the ISEE: INPS-ISEE-<year>-<8 digits><letter>-<2 digits>, as printed on the
// ISEE attestation ("INPS-ISEE-2026-00123456A-00").
var dsuRE = regexp.MustCompile(`^INPS-ISEE-(20[0-9]{2})-[0-9]{8}[A-Z]-[0-9]{2}$`)

// ValidDSU checks a DSU protocol number.
func ValidDSU(v string) bool { return dsuRE.MatchString(strings.ToUpper(strings.TrimSpace(v))) }

// euroRE accepts 1234, 1234,5, 1234,56, 1.234,56 and 1234.56.
var euroRE = regexp.MustCompile(`^(?:[0-9]{1,3}(?:\.[0-9]{3})+|[0-9]+)(?:[,.][0-9]{1,2})?$`)

// ParseEuro reads an amount in euro as typed by an Italian ("1.234,56") or with a
// decimal point ("1234.56") and returns cents; ok is false for anything else.
func ParseEuro(v string) (int64, bool) {
	v = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), "€"))
	if !euroRE.MatchString(v) {
		return 0, false
	}
	whole, frac := v, ""
	if i := strings.LastIndexAny(v, ",."); i >= 0 && len(v)-i <= 3 {
		whole, frac = v[:i], v[i+1:]
	}
	whole = strings.ReplaceAll(whole, ".", "")
	if len(whole) > 12 {
		return 0, false
	}
	w, err := strconv.ParseInt(whole, 10, 64)
	if err != nil {
		return 0, false
	}
	for len(frac) < 2 {
		frac += "0"
	}
	f, _ := strconv.ParseInt(frac, 10, 64)
	return w*100 + f, true
}

// FormatEuro writes cents as "2.065,50 €".
func FormatEuro(cents int64) string {
	neg := cents < 0
	if neg {
		cents = -cents
	}
	s := strconv.FormatInt(cents/100, 10)
	var b strings.Builder
	for i, ch := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte('.')
		}
		b.WriteRune(ch)
	}
	out := b.String() + "," + strconv.FormatInt(cents%100+100, 10)[1:] + " €"
	if neg {
		out = "-" + out
	}
	return out
}
