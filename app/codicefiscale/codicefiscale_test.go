package codicefiscale

import (
	"errors"
	"testing"
	"time"
)

func date(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }

// people are fictional residents. Their codes were worked out by hand with the
// official rules (and cross-checked with an independent script); the first
// two are the textbook examples.
var people = []struct {
	surname, name string
	birth         time.Time
	female        bool
	belfiore      string
	want          string
}{
	{"Rossi", "Mario", date(1980, 1, 1), false, "H501", "RSSMRA80A01H501U"},
	{"Moretti", "Matteo", date(1925, 4, 9), false, "F205", "MRTMTT25D09F205Z"},
	// two given names, 4+ consonants: M, G, R (1st, 3rd, 4th); woman: day + 40
	{"Bianchi", "Maria Grazia", date(1975, 7, 15), true, "L219", "BNCMGR75L55L219O"},
	// apostrophe in the surname; accent and 4 consonants in the name
	{"D'Angelo", "Niccolò", date(2001, 12, 31), false, "F205", "DNGNCL01T31F205C"},
	// short names padded with X
	{"Fo", "Ugo", date(1990, 3, 5), true, "A944", "FOXGUO90C45A944J"},
	{"Li", "Yu", date(2010, 6, 30), false, "Z210", "LIXYUX10H30Z210X"},
	{"Verdi", "Gianfranco", date(1968, 10, 20), false, "G273", "VRDGFR68R20G273Z"},
	// accents on both; 29 February
	{"Lucà", "Zoë", date(2004, 2, 29), true, "D612", "LCUZOE04B69D612O"},
	// space in the surname, two names
	{"De Santis", "Anna Maria", date(1959, 5, 1), true, "h501", "DSNNMR59E41H501S"},
	// born abroad (Z + country code), letters with diacritics from other languages
	{"Öztürk", "Ayşe", date(1999, 11, 11), true, "Z243", "ZTRYSA99S51Z243S"},
}

func TestCompute(t *testing.T) {
	for _, p := range people {
		got, err := Compute(p.surname, p.name, p.birth, p.female, p.belfiore)
		if err != nil {
			t.Errorf("Compute(%q, %q): %v", p.surname, p.name, err)
			continue
		}
		if got != p.want {
			t.Errorf("Compute(%q, %q, %s) = %s, want %s", p.surname, p.name, p.birth.Format(time.DateOnly), got, p.want)
		}
		if err := Validate(got); err != nil {
			t.Errorf("computed code %s does not validate: %v", got, err)
		}
	}
}

func TestComputeRefusesBadInput(t *testing.T) {
	for _, c := range []struct{ surname, name, belfiore string }{
		{"", "Mario", "H501"},
		{"'  -", "Mario", "H501"},
		{"Rossi", "", "H501"},
		{"Иванов", "Иван", "Z154"},
		{"Rossi", "Mario", "H50"},
		{"Rossi", "Mario", "1501"},
		{"Rossi", "Mario", "H5O1"},
	} {
		if code, err := Compute(c.surname, c.name, date(1980, 1, 1), false, c.belfiore); err == nil {
			t.Errorf("Compute(%q, %q, %q) = %s, want an error", c.surname, c.name, c.belfiore, code)
		}
	}
}

func TestNormalize(t *testing.T) {
	for in, want := range map[string]string{
		"rssmra80a01h501u":       "RSSMRA80A01H501U",
		" RSS MRA 80A01 H501U\t": "RSSMRA80A01H501U",
		"rss\u00a0mra80a01h501u": "RSSMRA80A01H501U",
		"":                       "",
	} {
		if got := Normalize(in); got != want {
			t.Errorf("Normalize(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestValidateAccepts(t *testing.T) {
	valid := []string{
		"RSSMRA80A01H501U",
		"rssmra80a01h501u",     // lower case is normalized
		" RSS MRA 80A01 H501U", // so are spaces
		"BNCMGR75L55L219O",     // woman
		"LCUZOE04B69D612O",     // 29 February
		// Omocodia: digits replaced from the right with L M N P Q R S T U V,
		// check character recomputed by hand.
		"RSSMRA80A01H50MM",
		"RSSMRA80A01H5LMX",
		"RSSMRA80A01HRLMS",
		"RSSMRA80A0MHRLMK",
		"RSSMRA80ALMHRLMV",
		"RSSMRA8LALMHRLMG",
		"RSSMRAULALMHRLMD",
		"rssmraulalmhrlmd",
	}
	for _, cf := range valid {
		if err := Validate(cf); err != nil {
			t.Errorf("Validate(%q) = %v, want nil", cf, err)
		}
	}
}

func TestValidateRejects(t *testing.T) {
	for _, c := range []struct {
		cf   string
		want error
	}{
		{"", ErrLength},
		{"RSSMRA80A01H501", ErrLength},
		{"RSSMRA80A01H501UX", ErrLength},
		{"12345678901", ErrLength}, // a company's code
		{"R5SMRA80A01H501U", ErrFormat},
		{"RSSMRA8XA01H501U", ErrFormat}, // X is not an omocodia letter
		{"RSSMRA80F01H501U", ErrFormat}, // F is not a month
		{"RSSMRA80A00H501U", ErrFormat}, // day 00
		{"RSSMRA80A32H501U", ErrFormat}, // day 32
		{"RSSMRA80A40H501U", ErrFormat}, // neither man nor woman
		{"RSSMRA80A72H501U", ErrFormat},
		{"RSSMRA80B30H501U", ErrFormat}, // 30 February
		{"RSSMRA80D31H501U", ErrFormat}, // 31 April
		{"RSSMRA80A01H5011", ErrFormat}, // digit as check character
		{"RSSMRA80A011501U", ErrFormat},
		{"RSSMRÀ80A01H501U", ErrFormat},
		{"RSSMRA80A01H501A", ErrCheckChar},
		{"RSSMRA80A01H501V", ErrCheckChar},
		{"RSSMAR80A01H501U", ErrCheckChar}, // swapped letters
		{"RSSMRA80A01H50MU", ErrCheckChar}, // omocodia without the new check character
	} {
		err := Validate(c.cf)
		if !errors.Is(err, c.want) {
			t.Errorf("Validate(%q) = %v, want %v", c.cf, err, c.want)
		}
		for _, other := range []error{ErrLength, ErrFormat, ErrCheckChar} {
			if other != c.want && errors.Is(err, other) {
				t.Errorf("Validate(%q) = %v, also matches %v", c.cf, err, other)
			}
		}
	}
}

func TestBirthDate(t *testing.T) {
	now := date(2026, 3, 1)
	for _, c := range []struct {
		cf     string
		now    time.Time
		want   time.Time
		female bool
	}{
		{"RSSMRA80A01H501U", now, date(1980, 1, 1), false},
		{"rssmraulalmhrlmd", now, date(1980, 1, 1), false}, // omocodia, lower case
		{"DNGNCL01T31F205C", now, date(2001, 12, 31), false},
		{"BNCMGR75L55L219O", now, date(1975, 7, 15), true},
		{"LCUZOE04B69D612O", now, date(2004, 2, 29), true},
		{"LIXYUX10H30Z210X", now, date(2010, 6, 30), false},
		// Century: the most recent 9 April '25 that is not after now.
		{"MRTMTT25D09F205Z", now, date(2025, 4, 9), false},
		{"MRTMTT25D09F205Z", date(2025, 4, 9), date(2025, 4, 9), false}, // born today
		{"MRTMTT25D09F205Z", date(2025, 4, 8), date(1925, 4, 9), false}, // tomorrow: a century ago
		{"MRTMTT25D09F205Z", date(2024, 12, 31), date(1925, 4, 9), false},
		{"MRTMTT25D09F205Z", time.Date(2025, 4, 9, 23, 30, 0, 0, time.FixedZone("CEST", 2*3600)), date(2025, 4, 9), false},
	} {
		got, female, err := BirthDate(c.cf, c.now)
		if err != nil {
			t.Errorf("BirthDate(%q, %s): %v", c.cf, c.now.Format(time.DateOnly), err)
			continue
		}
		if !got.Equal(c.want) || female != c.female {
			t.Errorf("BirthDate(%q, %s) = %s female=%v, want %s female=%v", c.cf, c.now.Format(time.DateOnly),
				got.Format(time.DateOnly), female, c.want.Format(time.DateOnly), c.female)
		}
	}
}

func TestBirthDateErrors(t *testing.T) {
	now := date(2026, 3, 1)
	if _, _, err := BirthDate("RSSMRA80A01H501A", now); !errors.Is(err, ErrCheckChar) {
		t.Errorf("BirthDate with a wrong check character: %v", err)
	}
	// 29 February 2001 and 1901 do not exist.
	code := "RSSMRA01B29H501"
	code += string(checkChar(code))
	if err := Validate(code); err != nil {
		t.Fatalf("29 February should pass Validate (the century is unknown): %v", err)
	}
	if _, _, err := BirthDate(code, now); !errors.Is(err, ErrFormat) {
		t.Errorf("BirthDate(%s) = %v, want ErrFormat", code, err)
	}
}

// Compute and BirthDate agree for every day of the last century.
func TestRoundTrip(t *testing.T) {
	now := date(2026, 3, 1)
	for d := now.AddDate(-99, 0, 1); !d.After(now); d = d.AddDate(0, 0, 1) {
		female := d.Day()%2 == 0
		code, err := Compute("Esposito", "Gennaro", d, female, "F839")
		if err != nil {
			t.Fatal(err)
		}
		got, gotF, err := BirthDate(code, now)
		if err != nil || !got.Equal(d) || gotF != female {
			t.Fatalf("%s: BirthDate(%s) = %s %v %v", d.Format(time.DateOnly), code, got.Format(time.DateOnly), gotF, err)
		}
	}
}

func BenchmarkValidate(b *testing.B) {
	for b.Loop() {
		if err := Validate("RSSMRA80A01H501U"); err != nil {
			b.Fatal(err)
		}
	}
}

// Validate never panics, and whatever it accepts BirthDate can decode (but
// 29 February of a year that was not a leap year).
func FuzzValidate(f *testing.F) {
	for _, p := range people {
		f.Add(p.want)
	}
	f.Add("rssmraulalmhrlmd")
	f.Add("RSSMRÀ80A01H501U")
	f.Fuzz(func(t *testing.T, cf string) {
		if Validate(cf) != nil {
			return
		}
		if n := len(Normalize(cf)); n != Length {
			t.Fatalf("Validate accepted %q, %d bytes once normalized", cf, n)
		}
		if _, _, err := BirthDate(cf, date(2026, 3, 1)); err != nil && !errors.Is(err, ErrFormat) {
			t.Fatalf("BirthDate(%q): %v", cf, err)
		}
	})
}
