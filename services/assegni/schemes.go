package assegni

import (
	"embed"
	"fmt"
	"io/fs"
	"os"
	"regexp"
	"slices"
	"sort"
	"time"

	"gopkg.in/yaml.v3"
)

//go:embed schemes/*.yaml
var shippedSchemes embed.FS

// Who may apply.
const (
	// ApplicantMother admits only the mother (the register's sex F).
	ApplicantMother = "madre"
	// ApplicantParent admits either parent.
	ApplicantParent = "genitore"
)

// Scheme is one allowance of one year, as data: what it pays, to whom, by when.
type Scheme struct {
	// ID is unique across schemes ("maternita-2026"); Measure groups the years of one
	// allowance ("maternita"): a child gets one scheme of a measure.
	ID      string `yaml:"id"`
	Measure string `yaml:"measure"`
	// Year is the year of the birth or entry into the family the scheme covers.
	Year int `yaml:"year"`
	// Enti limits a comune's own scheme to those enti; empty means every ente.
	Enti    []string `yaml:"enti"`
	TitleIT string   `yaml:"title_it"`
	TitleEN string   `yaml:"title_en"`
	// Law is the legal basis, shown on the service page and in the export.
	Law string `yaml:"law"`
	// MonthlyCents × Months is the full amount, unless TotalCents is given.
	MonthlyCents int64 `yaml:"monthly_cents"`
	Months       int64 `yaml:"months"`
	TotalCents   int64 `yaml:"total_cents"`
	// ISEEThresholdCents is the highest ISEE admitted (the threshold itself is in).
	ISEEThresholdCents int64 `yaml:"isee_threshold_cents"`
	// DeadlineMonths is the time to apply, counted from the birth or the entry into
	// the family (six for the maternity allowance); 0 means no such deadline.
	DeadlineMonths int `yaml:"deadline_months"`
	// Applicants: ApplicantMother or ApplicantParent.
	Applicants []string `yaml:"applicants"`
	// Documents are the ids of the documents the application needs (message keys
	// assegni.doc.<id>).
	Documents []string `yaml:"documents"`
	// Open says new applications are accepted; ValidFrom and ValidTo bound the
	// period of the scheme (dates of birth or entry it covers).
	Open      bool   `yaml:"open"`
	ValidFrom string `yaml:"valid_from"`
	ValidTo   string `yaml:"valid_to"`
	// ClosedNote and ClosedLink tell a citizen where to go instead of a closed scheme.
	ClosedNoteIT string `yaml:"closed_note_it"`
	ClosedNoteEN string `yaml:"closed_note_en"`
	ClosedLink   string `yaml:"closed_link"`
}

// Full is the full amount of the scheme in cents.
func (s Scheme) Full() int64 {
	if s.TotalCents > 0 {
		return s.TotalCents
	}
	return s.MonthlyCents * s.Months
}

// Title is the scheme's title in lang.
func (s Scheme) Title(lang string) string {
	if lang == "en" && s.TitleEN != "" {
		return s.TitleEN
	}
	return s.TitleIT
}

// ClosedNote is the note for a closed scheme in lang.
func (s Scheme) ClosedNote(lang string) string {
	if lang == "en" && s.ClosedNoteEN != "" {
		return s.ClosedNoteEN
	}
	return s.ClosedNoteIT
}

// MotherOnly says only the mother may apply.
func (s Scheme) MotherOnly() bool {
	return len(s.Applicants) > 0 && !slices.Contains(s.Applicants, ApplicantParent)
}

// Covers reports whether the event date d (a calendar date) falls in the validity.
func (s Scheme) Covers(d time.Time) bool {
	day := d.Format(time.DateOnly)
	return day >= s.ValidFrom && day <= s.ValidTo
}

// ForEnte reports whether the scheme applies to ente id.
func (s Scheme) ForEnte(id string) bool { return len(s.Enti) == 0 || slices.Contains(s.Enti, id) }

var schemeIDRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,47}$`)

var knownDocs = []string{"isee", "identita", "permesso", "adozione"}

func (s Scheme) check() error {
	switch {
	case !schemeIDRE.MatchString(s.ID) || !schemeIDRE.MatchString(s.Measure):
		return fmt.Errorf("scheme %q: id and measure must be lower-case identifiers", s.ID)
	case s.Year < 1999 || s.Year > 2100:
		return fmt.Errorf("scheme %s: year %d", s.ID, s.Year)
	case s.TitleIT == "":
		return fmt.Errorf("scheme %s: no title_it", s.ID)
	case s.Full() <= 0 || s.MonthlyCents < 0 || s.TotalCents < 0:
		return fmt.Errorf("scheme %s: no amount (monthly_cents × months or total_cents)", s.ID)
	case s.ISEEThresholdCents <= 0:
		return fmt.Errorf("scheme %s: no isee_threshold_cents", s.ID)
	case s.DeadlineMonths < 0 || s.DeadlineMonths > 60:
		return fmt.Errorf("scheme %s: deadline_months %d", s.ID, s.DeadlineMonths)
	case len(s.Applicants) == 0:
		return fmt.Errorf("scheme %s: no applicants", s.ID)
	}
	for _, a := range s.Applicants {
		if a != ApplicantMother && a != ApplicantParent {
			return fmt.Errorf("scheme %s: applicant %q (want madre or genitore)", s.ID, a)
		}
	}
	for _, d := range s.Documents {
		if !slices.Contains(knownDocs, d) {
			return fmt.Errorf("scheme %s: document %q (known: %v)", s.ID, d, knownDocs)
		}
	}
	from, err1 := time.Parse(time.DateOnly, s.ValidFrom)
	to, err2 := time.Parse(time.DateOnly, s.ValidTo)
	if err1 != nil || err2 != nil || to.Before(from) {
		return fmt.Errorf("scheme %s: valid_from and valid_to must be dates YYYY-MM-DD, in order", s.ID)
	}
	return nil
}

// Catalogue is every scheme the installation knows.
type Catalogue struct {
	schemes []Scheme
}

// LoadCatalogue reads the shipped schemes, then the file named by the settings (if
// any), then the settings' own list: a later scheme with an id already seen
// replaces the earlier one.
func LoadCatalogue(set Settings) (*Catalogue, error) {
	var all []Scheme
	files, err := fs.Glob(shippedSchemes, "schemes/*.yaml")
	if err != nil {
		return nil, err
	}
	sort.Strings(files)
	for _, f := range files {
		b, err := shippedSchemes.ReadFile(f)
		if err != nil {
			return nil, err
		}
		var list []Scheme
		if err := yaml.Unmarshal(b, &list); err != nil {
			return nil, fmt.Errorf("assegni: %s: %w", f, err)
		}
		all = append(all, list...)
	}
	if set.SchemesFile != "" {
		b, err := os.ReadFile(set.SchemesFile)
		if err != nil {
			return nil, fmt.Errorf("assegni: modules.settings.assegni.schemes_file: %w", err)
		}
		var list []Scheme
		if err := yaml.Unmarshal(b, &list); err != nil {
			return nil, fmt.Errorf("assegni: %s: %w", set.SchemesFile, err)
		}
		all = append(all, list...)
	}
	all = append(all, set.Schemes...)
	return NewCatalogue(all)
}

// NewCatalogue checks schemes and keeps the last of each id.
func NewCatalogue(list []Scheme) (*Catalogue, error) {
	c := &Catalogue{}
	for _, s := range list {
		if err := s.check(); err != nil {
			return nil, fmt.Errorf("assegni: %w", err)
		}
		if i := slices.IndexFunc(c.schemes, func(x Scheme) bool { return x.ID == s.ID }); i >= 0 {
			c.schemes[i] = s
			continue
		}
		c.schemes = append(c.schemes, s)
	}
	return c, nil
}

// Measure is one allowance with its schemes for an ente.
type Measure struct {
	ID      string
	Schemes []Scheme // by year, newest first
}

// Open says the measure takes new applications (some scheme is open).
func (m Measure) Open() bool {
	return slices.ContainsFunc(m.Schemes, func(s Scheme) bool { return s.Open })
}

// Latest is the newest scheme.
func (m Measure) Latest() Scheme { return m.Schemes[0] }

// Measures lists the measures offered to ente: open ones first, the national ones
// before the comune's own, then by id.
func (c *Catalogue) Measures(ente string) []Measure {
	by := map[string]*Measure{}
	var ids []string
	for _, s := range c.schemes {
		if !s.ForEnte(ente) {
			continue
		}
		m, ok := by[s.Measure]
		if !ok {
			m = &Measure{ID: s.Measure}
			by[s.Measure] = m
			ids = append(ids, s.Measure)
		}
		m.Schemes = append(m.Schemes, s)
	}
	out := make([]Measure, 0, len(ids))
	for _, id := range ids {
		m := by[id]
		sort.Slice(m.Schemes, func(i, j int) bool { return m.Schemes[i].Year > m.Schemes[j].Year })
		out = append(out, *m)
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Open() != out[j].Open() {
			return out[i].Open()
		}
		li, lj := len(out[i].Latest().Enti) > 0, len(out[j].Latest().Enti) > 0
		if li != lj {
			return lj
		}
		return out[i].ID < out[j].ID
	})
	return out
}

// Measure returns one measure offered to ente.
func (c *Catalogue) Measure(ente, id string) (Measure, bool) {
	for _, m := range c.Measures(ente) {
		if m.ID == id {
			return m, true
		}
	}
	return Measure{}, false
}

// ByID returns a scheme by id, if offered to ente.
func (c *Catalogue) ByID(ente, id string) (Scheme, bool) {
	for _, s := range c.schemes {
		if s.ID == id && s.ForEnte(ente) {
			return s, true
		}
	}
	return Scheme{}, false
}

// For returns the scheme of measure covering an event on date d for ente: the
// scheme whose validity holds d. ErrNoScheme when none is configured.
func (c *Catalogue) For(ente, measure string, d time.Time) (Scheme, error) {
	for _, s := range c.schemes {
		if s.Measure == measure && s.ForEnte(ente) && s.Covers(d) {
			return s, nil
		}
	}
	return Scheme{}, ErrNoScheme
}
