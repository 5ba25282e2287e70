package ztl

import (
	"errors"
	"regexp"
	"strings"
)

// Plate kinds, as the rules recognise them.
const (
	PlateCar       = "autoveicolo"     // AA000AA, since 1994
	PlateMotorbike = "motoveicolo"     // AA00000, since 1999
	PlateMoped     = "ciclomotore"     // X + five characters, since 2006
	PlateMopedOld  = "ciclomotore_old" // five characters, 1993-2006
	PlateProvince  = "provinciale"     // province code and serial, before 1994
	PlateForeign   = "estera"          // any foreign plate, with its country
)

// Plate errors (message keys carry the user's wording).
var (
	ErrPlateEmpty   = errors.New("ztl.plate.empty")
	ErrPlateFormat  = errors.New("ztl.plate.format")
	ErrPlateCountry = errors.New("ztl.plate.country")
)

// Hand-written rules: no maintained Go library knows Italian plate formats. The letters
// I, O, Q and U are never used in national plates since 1994 (they look like 1, 0 and
// V); moped plates since 2006 start with X and use digits 2-9 and consonants.
var (
	reCar       = regexp.MustCompile(`^[A-HJ-NPR-TV-Z]{2}[0-9]{3}[A-HJ-NPR-TV-Z]{2}$`)
	reMotorbike = regexp.MustCompile(`^[A-HJ-NPR-TV-Z]{2}[0-9]{5}$`)
	reMoped     = regexp.MustCompile(`^X[2-9BCDFGHJKLMNPRSTVWXYZ]{5}$`)
	reMopedOld  = regexp.MustCompile(`^[0-9][0-9A-Z]{4}$`)
	// Before 1994: the province (two letters, or ROMA) then a serial of five or six
	// characters with at most one letter ("MI 123456", "TO A12345", "ROMA 60123B").
	reProvince = regexp.MustCompile(`^(ROMA|[A-Z]{2})([0-9]{5,6}|[A-Z][0-9]{5}|[0-9]{5}[A-Z])$`)
	reForeign  = regexp.MustCompile(`^[A-Z0-9]{2,10}$`)
	reCountry  = regexp.MustCompile(`^[A-Z]{2}$`)
)

// Plate is a normalized vehicle plate: upper case, no spaces, dashes or dots; Country
// is "IT" or the ISO 3166-1 alpha-2 code of a foreign plate.
type Plate struct {
	Number  string
	Country string
	Kind    string
}

// String is the plate as the whitelist carries it: the number, and for a foreign plate
// the country before it ("D:B-AB1234" would be ambiguous; "DE B AB 1234" is "DE:BAB1234").
func (p Plate) String() string {
	if p.Country == "IT" {
		return p.Number
	}
	return p.Country + ":" + p.Number
}

// NormalizePlate removes spaces, dashes, dots and the middle dot, and upper-cases.
func NormalizePlate(s string) string {
	var b strings.Builder
	for _, r := range strings.ToUpper(s) {
		switch r {
		case ' ', '\t', '-', '.', '·', '•', '/':
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// ParsePlate checks and normalizes a plate. country is "" or "IT" for an Italian plate,
// otherwise the foreign country's two-letter code.
func ParsePlate(number, country string) (Plate, error) {
	n := NormalizePlate(number)
	cc := strings.ToUpper(strings.TrimSpace(country))
	if n == "" {
		return Plate{}, ErrPlateEmpty
	}
	if cc == "" || cc == "I" || cc == "IT" || cc == "ITA" {
		for _, r := range []struct {
			re   *regexp.Regexp
			kind string
		}{{reCar, PlateCar}, {reMotorbike, PlateMotorbike}, {reMoped, PlateMoped}, {reProvince, PlateProvince}, {reMopedOld, PlateMopedOld}} {
			if r.re.MatchString(n) {
				return Plate{Number: n, Country: "IT", Kind: r.kind}, nil
			}
		}
		return Plate{}, ErrPlateFormat
	}
	if !reCountry.MatchString(cc) {
		return Plate{}, ErrPlateCountry
	}
	if !reForeign.MatchString(n) {
		return Plate{}, ErrPlateFormat
	}
	return Plate{Number: n, Country: cc, Kind: PlateForeign}, nil
}

// ParsePlateKey reads a plate as the whitelist writes it (String): "AB123CD" or
// "DE:BAB1234".
func ParsePlateKey(s string) (Plate, error) {
	if cc, n, ok := strings.Cut(s, ":"); ok {
		return ParsePlate(n, cc)
	}
	return ParsePlate(s, "")
}
