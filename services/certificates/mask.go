package certificates

import (
	"strings"
	"time"
)

// The verification page and API are public: anyone holding the paper (or only its
// code) reads them. For a person under 18 they show the tax code masked, enough to
// compare with the paper but not to copy: the surname letters, the birth year, month
// and day-and-sex, and the check character stay; the name letters and the code of
// the place of birth become one "*" each (BNCGLI85C52H501J → BNC***85C52****J).
// Documented in docs/STAMP.md, section 7.

// MaskFiscalCode masks a 16-character tax code as above; anything else (a temporary
// 11-digit code) is masked but its first 3 and last character.
func MaskFiscalCode(cf string) string {
	cf = strings.ToUpper(strings.TrimSpace(cf))
	if len(cf) == 16 {
		return cf[:3] + "***" + cf[6:11] + "****" + cf[15:]
	}
	if len(cf) <= 4 {
		return strings.Repeat("*", len(cf))
	}
	return cf[:3] + strings.Repeat("*", len(cf)-4) + cf[len(cf)-1:]
}

// minorAt reports whether a person born on birth (YYYY-MM-DD) is under 18 on day now,
// in the comune's time zone. An unreadable date counts as a minor (masked).
func minorAt(birth string, now time.Time) bool {
	b := parseDay(birth)
	if b.IsZero() {
		return true
	}
	y, m, d := now.In(rome).Date()
	today := time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
	return today.Before(b.AddDate(18, 0, 0))
}

// publicData is d as the public verification page shows it: the tax codes of minors
// (holder and household members) masked. d itself, which the stamp hashes, is left
// untouched.
func publicData(d *Data, now time.Time) *Data {
	out := *d
	if minorAt(d.Holder.BirthDate, now) {
		out.Holder.FiscalCode = MaskFiscalCode(d.Holder.FiscalCode)
	}
	if d.Household != nil {
		hh := *d.Household
		hh.Members = append([]MemberData(nil), d.Household.Members...)
		for i, mm := range hh.Members {
			if minorAt(mm.BirthDate, now) {
				hh.Members[i].FiscalCode = MaskFiscalCode(mm.FiscalCode)
			}
		}
		out.Household = &hh
	}
	return &out
}
