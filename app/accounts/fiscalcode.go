package accounts

import (
	"errors"
	"strings"
	"time"

	"github.com/comuni-italiani/sportello/app/codicefiscale"
)

// Tax code (codice fiscale) message keys for the desk. app/codicefiscale decides
// whether a code is valid; these keys say precisely what is wrong with what was typed.
const (
	CFRequired     = "accounts.cf.required"
	CFLength       = "accounts.cf.length"
	CFCharacters   = "accounts.cf.characters"
	CFPattern      = "accounts.cf.pattern"
	CFMonth        = "accounts.cf.month"
	CFDay          = "accounts.cf.day"
	CFCheckChar    = "accounts.cf.check_character"
	CFDateMismatch = "accounts.cf.date_mismatch"
)

// FiscalCodeError explains why a tax code is refused; Key is a message key. It wraps
// the codicefiscale sentinel (ErrLength, ErrFormat, ErrCheckChar).
type FiscalCodeError struct {
	Key string
	Err error
}

// Error implements error.
func (e *FiscalCodeError) Error() string { return "accounts: invalid tax code: " + e.Key }

// Unwrap returns the codicefiscale error.
func (e *FiscalCodeError) Unwrap() error { return e.Err }

// NormalizeFiscalCode is codicefiscale.Normalize that also drops the dashes and dots
// people type to group the characters.
func NormalizeFiscalCode(cf string) string {
	return codicefiscale.Normalize(strings.NewReplacer("-", "", ".", "").Replace(cf))
}

const monthLetters = "ABCDEHLMPRST"

// ValidateFiscalCode checks a normalized personal tax code with
// codicefiscale.Validate and returns nil or a *FiscalCodeError whose key names the
// problem: length, characters that are not letters or digits, letters and digits out
// of place, month letter, day, check character.
func ValidateFiscalCode(cf string) error {
	if cf == "" {
		return &FiscalCodeError{Key: CFRequired, Err: codicefiscale.ErrLength}
	}
	err := codicefiscale.Validate(cf)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, codicefiscale.ErrLength):
		return &FiscalCodeError{Key: CFLength, Err: err}
	case errors.Is(err, codicefiscale.ErrCheckChar):
		return &FiscalCodeError{Key: CFCheckChar, Err: err}
	}
	key := CFPattern
	switch {
	case strings.ContainsFunc(cf, func(r rune) bool { return !(r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') }):
		key = CFCharacters
	case len(cf) == 16 && formatOK(cf) && strings.IndexByte(monthLetters, cf[8]) < 0:
		key = CFMonth
	case len(cf) == 16 && formatOK(cf):
		key = CFDay
	}
	return &FiscalCodeError{Key: key, Err: err}
}

// formatOK reports whether letters and digits sit where they belong (digits possibly
// replaced by omocodia letters), leaving month and day aside.
func formatOK(cf string) bool {
	for i := 0; i < 16; i++ {
		c := cf[i]
		switch i {
		case 6, 7, 9, 10, 12, 13, 14:
			if !(c >= '0' && c <= '9') && !strings.ContainsRune("LMNPQRSTUV", rune(c)) {
				return false
			}
		default:
			if !(c >= 'A' && c <= 'Z') {
				return false
			}
		}
	}
	return true
}

// BirthDateMatches reports whether birth (a calendar date) is the date of birth
// written in the valid tax code cf: same day and month, and a year ending in the same
// two digits.
func BirthDateMatches(cf string, birth time.Time) bool {
	// Decoding relative to the birth date's own year end yields the candidate in the
	// same century when the two digits agree.
	d, _, err := codicefiscale.BirthDate(cf, time.Date(birth.Year(), 12, 31, 0, 0, 0, 0, time.UTC))
	return err == nil && d.Year() == birth.Year() && d.Month() == birth.Month() && d.Day() == birth.Day()
}
