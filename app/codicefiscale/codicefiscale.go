// Package codicefiscale checks, decodes and computes the Italian tax code
// (codice fiscale) of natural persons, the key that identifies a citizen
// everywhere in the portal.
//
// Contract:
//
//   - Normalize gives the canonical form: upper case, no white space. Store
//     and compare codes in that form. Validate and BirthDate normalize their
//     input themselves, so "rssmra80a01h501u" is accepted.
//   - Validate accepts only 16-character personal codes (not the 11-digit
//     codes of companies) and says precisely what is wrong through the
//     sentinel errors ErrLength, ErrFormat and ErrCheckChar, to be tested with
//     errors.Is. Omocodia variants, where the Agenzia delle Entrate replaced
//     digits with the letters L M N P Q R S T U V to tell apart two people
//     with the same code, are valid.
//   - Validate checks form and check character only: a valid code need not
//     belong to anybody. Only the Agenzia delle Entrate can say whether it was
//     issued.
//   - Compute applies the standard algorithm from personal data; it is meant
//     for fictional demo residents and tests. The code of a real person is the
//     one on their tessera sanitaria, which may differ (omocodia).
package codicefiscale

import (
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// Sentinel errors returned (wrapped, with details) by Validate and BirthDate.
var (
	// ErrLength: the code does not have 16 characters.
	ErrLength = errors.New("codicefiscale: a personal tax code has 16 characters")
	// ErrFormat: a character is out of place (a digit where a letter belongs,
	// an unknown month letter, a day that does not exist, ...).
	ErrFormat = errors.New("codicefiscale: malformed tax code")
	// ErrCheckChar: the structure is right but the last character does not
	// match the other fifteen, typically a typing error.
	ErrCheckChar = errors.New("codicefiscale: wrong check character")
)

// Length is the number of characters of a personal tax code.
const Length = 16

const (
	months    = "ABCDEHLMPRST" // month letters, January to December
	omocodici = "LMNPQRSTUV"   // letters that replace the digits 0-9
	vowels    = "AEIOU"
)

// oddValues gives the value of characters in odd positions (1st, 3rd, ...)
// for the check character, indexed by digit value or by letter (A=0).
var oddValues = [26]int{1, 0, 5, 7, 9, 13, 15, 17, 19, 21, 2, 4, 18, 20, 11, 3, 6, 8, 12, 14, 16, 10, 22, 25, 24, 23}

// Normalize returns s in upper case with all white space removed, the form in
// which tax codes are stored and compared. It does not validate.
func Normalize(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsSpace(r) {
			return -1
		}
		return unicode.ToUpper(r)
	}, s)
}

// Validate reports whether cf, once normalized, is a well-formed personal tax
// code with the right check character. The error wraps ErrLength, ErrFormat
// or ErrCheckChar.
func Validate(cf string) error {
	_, err := parse(Normalize(cf))
	return err
}

// BirthDate decodes the date of birth and the sex from the tax code cf. The
// code holds only two digits of the year: BirthDate picks the most recent
// date that is not after now (a person born today is accepted). The date is
// returned at midnight UTC. cf is normalized and validated first; the error
// wraps ErrLength, ErrFormat or ErrCheckChar.
func BirthDate(cf string, now time.Time) (birth time.Time, female bool, err error) {
	p, err := parse(Normalize(cf))
	if err != nil {
		return time.Time{}, false, err
	}
	ny, nm, nd := now.Date()
	today := time.Date(ny, nm, nd, 0, 0, 0, 0, time.UTC)
	year := ny - ((ny-p.yy)%100+100)%100 // latest year <= ny ending in yy
	for y := year; y > year-300; y -= 100 {
		t := time.Date(y, time.Month(p.month), p.day, 0, 0, 0, 0, time.UTC)
		if t.Day() != p.day || t.After(today) { // 29 February of a common year, or future
			continue
		}
		return t, p.female, nil
	}
	return time.Time{}, false, fmt.Errorf("%w: no past date %02d/%02d/..%02d", ErrFormat, p.day, p.month, p.yy)
}

// Compute returns the tax code of a person from surname, given name(s),
// date of birth (the calendar date of birth, in the time's own location), sex
// and the Belfiore code of the comune of birth (or "Z" + three digits for a
// foreign country), such as "H501" for Rome.
//
// Accents are dropped (Niccolò → NICCOLO); apostrophes, spaces and hyphens
// are ignored (D'Angelo → DANGELO, Maria Grazia → MARIAGRAZIA). Letters
// outside the Latin alphabet must be transliterated first: Compute refuses
// them.
func Compute(surname, name string, birth time.Time, female bool, belfiore string) (string, error) {
	sn, err := latinLetters(surname)
	if err != nil {
		return "", fmt.Errorf("codicefiscale: surname: %w", err)
	}
	gn, err := latinLetters(name)
	if err != nil {
		return "", fmt.Errorf("codicefiscale: name: %w", err)
	}
	b := Normalize(belfiore)
	if len(b) != 4 || !isLetter(b[0]) || !isDigit(b[1]) || !isDigit(b[2]) || !isDigit(b[3]) {
		return "", fmt.Errorf("codicefiscale: Belfiore code %q is not a letter and three digits", belfiore)
	}
	y, m, d := birth.Date()
	if female {
		d += 40
	}
	var sb strings.Builder
	sb.Grow(Length)
	sb.WriteString(surnamePart(sn))
	sb.WriteString(namePart(gn))
	fmt.Fprintf(&sb, "%02d", (y%100+100)%100)
	sb.WriteByte(months[m-1])
	fmt.Fprintf(&sb, "%02d", d)
	sb.WriteString(b)
	code := sb.String()
	return code + string(checkChar(code)), nil
}

// parsed holds what a valid code says about the person.
type parsed struct {
	yy, month, day int
	female         bool
}

// parse validates a normalized code and decodes its date fields.
func parse(s string) (parsed, error) {
	if n := utf8.RuneCountInString(s); n != Length {
		return parsed{}, fmt.Errorf("%w, not %d", ErrLength, n)
	}
	for i, r := range []rune(s) {
		c := byte(r)
		if r >= utf8.RuneSelf {
			c = 0 // neither a letter nor a digit
		}
		switch i {
		case 6, 7, 9, 10, 12, 13, 14: // digits, or the letters that replace them
			if !isDigit(c) && strings.IndexByte(omocodici, c) < 0 {
				return parsed{}, fmt.Errorf("%w: character %d (%q) must be a digit", ErrFormat, i+1, r)
			}
		default:
			if !isLetter(c) {
				return parsed{}, fmt.Errorf("%w: character %d (%q) must be a letter", ErrFormat, i+1, r)
			}
		}
	}
	p := parsed{yy: number(s[6:8])}
	p.month = strings.IndexByte(months, s[8]) + 1
	if p.month == 0 {
		return parsed{}, fmt.Errorf("%w: %q is not a month letter (%s)", ErrFormat, rune(s[8]), months)
	}
	p.day = number(s[9:11])
	if p.day > 40 {
		p.day -= 40
		p.female = true
	}
	// 29 February is allowed here: the century, and so the leap year, is
	// not in the code.
	if p.day < 1 || p.day > daysIn(p.month) {
		return parsed{}, fmt.Errorf("%w: day %q does not exist in month %d", ErrFormat, s[9:11], p.month)
	}
	if want := checkChar(s[:15]); s[15] != want {
		return parsed{}, fmt.Errorf("%w: %q, expected %q", ErrCheckChar, rune(s[15]), rune(want))
	}
	return p, nil
}

// checkChar computes the check character of the first 15 characters of a
// code, which must be upper-case letters and digits.
func checkChar(s string) byte {
	sum := 0
	for i := 0; i < 15; i++ {
		v := value(s[i])
		if i%2 == 0 { // 1st, 3rd, ... character: odd position
			sum += oddValues[v]
		} else {
			sum += v
		}
	}
	return byte('A' + sum%26)
}

// value maps 0-9 to 0-9 and A-Z to 0-25, as both check-character tables do.
func value(c byte) int {
	if isDigit(c) {
		return int(c - '0')
	}
	return int(c - 'A')
}

// number decodes two digits that may have been replaced by omocodia letters.
func number(s string) int {
	n := 0
	for i := 0; i < len(s); i++ {
		d := int(s[i] - '0')
		if !isDigit(s[i]) {
			d = strings.IndexByte(omocodici, s[i])
		}
		n = n*10 + d
	}
	return n
}

func daysIn(month int) int {
	switch month {
	case 2:
		return 29
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// surnamePart: consonants, then vowels, then X, first three.
func surnamePart(s string) string {
	cons, vows := split(s)
	return (cons + vows + "XXX")[:3]
}

// namePart: like the surname, except that with four or more consonants the
// 1st, 3rd and 4th are taken.
func namePart(s string) string {
	cons, vows := split(s)
	if len(cons) >= 4 {
		return string([]byte{cons[0], cons[2], cons[3]})
	}
	return (cons + vows + "XXX")[:3]
}

func split(s string) (cons, vows string) {
	var c, v []byte
	for i := 0; i < len(s); i++ {
		if strings.IndexByte(vowels, s[i]) >= 0 {
			v = append(v, s[i])
		} else {
			c = append(c, s[i])
		}
	}
	return string(c), string(v)
}

// foldLetters spells upper-case letters that have no decomposition into A-Z.
var foldLetters = map[rune]string{
	'ß': "SS", 'Æ': "AE", 'Œ': "OE", 'Ø': "O", 'Ł': "L", 'Đ': "D", 'Þ': "TH", 'Ð': "D", 'Ħ': "H",
}

// latinLetters returns the letters of s in upper case without diacritics,
// dropping anything that is not a letter (apostrophes, spaces, hyphens).
func latinLetters(s string) (string, error) {
	var b strings.Builder
	for _, r := range norm.NFD.String(s) {
		if unicode.Is(unicode.Mn, r) || !unicode.IsLetter(r) {
			continue
		}
		u := unicode.ToUpper(r)
		switch {
		case u >= 'A' && u <= 'Z':
			b.WriteRune(u)
		case foldLetters[u] != "":
			b.WriteString(foldLetters[u])
		default:
			return "", fmt.Errorf("letter %q is not in the Latin alphabet: transliterate it first", r)
		}
	}
	if b.Len() == 0 {
		return "", errors.New("no letters")
	}
	return b.String(), nil
}

func isDigit(c byte) bool  { return c >= '0' && c <= '9' }
func isLetter(c byte) bool { return c >= 'A' && c <= 'Z' }
