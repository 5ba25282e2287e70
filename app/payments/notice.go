package payments

import (
	"errors"
	"fmt"
	"strconv"
)

// AuxDigit is the auxiliary digit of the notice numbers this package makes: 3, the
// schema for creditors with more than one point of generation of the IUV, where the
// IUV starts with the segregation code pagoPA assigned to the generating system.
const AuxDigit = 3

// ErrNoticeNumber is returned for a notice number that is not 18 digits with valid
// check digits.
var ErrNoticeNumber = errors.New("payments: invalid notice number")

// maxIUVBase is the largest IUV base of schema 3 (13 digits).
const maxIUVBase = 9_999_999_999_999

// CheckDigits returns the two IUV check digits of a notice number of aux digit 3.
//
// The rule is in "Specifiche attuative dei codici identificativi di versamento,
// riversamento e rendicontazione" (Allegato A alle Linee guida pagoPA, v1.3.1),
// § 2.2.2.4 "Valore 3 del componente <Aux Digit>": the notice number is
//
//	3<codice segregazione (2n)><IUV base (13n)><IUV check digit (2n)>   (NAV.3)
//
// and the IUV is <codice segregazione><IUV base><IUV check digit> (IUV.3), "dove il
// componente <IUV check digit> si calcola come resto della divisione per 93 del
// numero ottenuto concatenando i componenti <aux digit>, <codice segregazione> e
// <IUV base>" (source: github.com/italia/pagopa-codici-docs,
// sezione1-composizione-dei-codici-per-il-versamento/Capitolo2.md).
// The concatenation has 16 digits, below 2^63: integer arithmetic is exact.
func CheckDigits(segregation int, base int64) (int, error) {
	if segregation < 0 || segregation > 99 {
		return 0, fmt.Errorf("%w: segregation code %d is not two digits", ErrNoticeNumber, segregation)
	}
	if base < 0 || base > maxIUVBase {
		return 0, fmt.Errorf("%w: IUV base %d is not 13 digits", ErrNoticeNumber, base)
	}
	n := int64(AuxDigit)*1e15 + int64(segregation)*1e13 + base
	return int(n % 93), nil
}

// NoticeNumber makes the 18-digit notice number (numero avviso) of aux digit 3 from
// the segregation code and the IUV base, and returns it with its IUV (the last 17
// digits).
func NoticeNumber(segregation int, base int64) (notice, iuv string, err error) {
	cd, err := CheckDigits(segregation, base)
	if err != nil {
		return "", "", err
	}
	notice = fmt.Sprintf("%d%02d%013d%02d", AuxDigit, segregation, base, cd)
	return notice, notice[1:], nil
}

// ParseNoticeNumber checks an 18-digit notice number of aux digit 3 and returns its
// segregation code and IUV base.
func ParseNoticeNumber(s string) (segregation int, base int64, err error) {
	if len(s) != 18 || s[0] != '0'+AuxDigit {
		return 0, 0, fmt.Errorf("%w: %q is not 18 digits starting with %d", ErrNoticeNumber, s, AuxDigit)
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return 0, 0, fmt.Errorf("%w: %q has a non-digit", ErrNoticeNumber, s)
		}
	}
	seg, _ := strconv.Atoi(s[1:3])
	b, _ := strconv.ParseInt(s[3:16], 10, 64)
	cd, _ := strconv.Atoi(s[16:18])
	want, err := CheckDigits(seg, b)
	if err != nil {
		return 0, 0, err
	}
	if cd != want {
		return 0, 0, fmt.Errorf("%w: %q has check digits %02d, want %02d", ErrNoticeNumber, s, cd, want)
	}
	return seg, b, nil
}

// FormatNotice groups a notice number as printed on notices: "3010 0000 0000 0042 38"
// (pagoPA's graphic guidelines print the code in groups of four for legibility).
func FormatNotice(n string) string {
	out := make([]byte, 0, len(n)+5)
	for i := 0; i < len(n); i++ {
		if i > 0 && i%4 == 0 {
			out = append(out, ' ')
		}
		out = append(out, n[i])
	}
	return string(out)
}

// FormatEuro writes cents as euro with a comma, the Italian way ("16,00"), without
// floating point.
func FormatEuro(cents int64) string {
	sign := ""
	if cents < 0 {
		sign, cents = "-", -cents
	}
	whole := strconv.FormatInt(cents/100, 10)
	// thousands separators
	var b []byte
	for i, r := range whole {
		if i > 0 && (len(whole)-i)%3 == 0 {
			b = append(b, '.')
		}
		b = append(b, byte(r))
	}
	return fmt.Sprintf("%s%s,%02d", sign, b, cents%100)
}
