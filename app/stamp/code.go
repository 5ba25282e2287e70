package stamp

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"unicode"
)

// ErrBadCode is returned by NormalizeCode for text that is not a valid code.
var ErrBadCode = errors.New("stamp: invalid verification code")

const (
	// crockford is the Crockford base32 alphabet: digits and letters but I, L, O, U.
	crockford = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
	// checkSymbols are the mod-37 check symbols: the alphabet plus five more.
	checkSymbols = crockford + "*~$=U"
	codeDataLen  = 12 // 60 bits
)

// NewCode returns a new random verification code: 12 Crockford base32 characters
// (60 bits from crypto/rand) and one check character, the value of those 60 bits
// modulo 37 written with Crockford's check symbols (0-9, A-Z without I L O U, then
// * ~ $ = U). It is grouped as XXXX-XXXX-XXXX-C: three groups of four that are easy to
// read out and type, and the check character apart. The check character catches any
// single wrong character and any swap of two adjacent ones.
func NewCode() (string, error) {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("stamp: reading random bytes: %w", err)
	}
	return formatCode(binary.BigEndian.Uint64(b[:]) >> 4), nil
}

// formatCode writes the 60-bit value v as a grouped code with its check character.
func formatCode(v uint64) string {
	var data [codeDataLen]byte
	for i, x := codeDataLen-1, v; i >= 0; i, x = i-1, x>>5 {
		data[i] = crockford[x&31]
	}
	var sb strings.Builder
	sb.Grow(codeDataLen + 4)
	for i := 0; i < codeDataLen; i += 4 {
		sb.Write(data[i : i+4])
		sb.WriteByte('-')
	}
	sb.WriteByte(checkSymbols[v%37])
	return sb.String()
}

// NormalizeCode turns a code as a person typed it into its canonical form
// XXXX-XXXX-XXXX-C: it drops white space and hyphens, upper-cases, reads O as 0 and I or L
// as 1, and checks the length, the alphabet and the check character. Anything else is
// ErrBadCode.
func NormalizeCode(typed string) (string, error) {
	if len(typed) > 64 {
		return "", ErrBadCode
	}
	var sym [codeDataLen + 1]byte
	n := 0
	for _, r := range typed {
		switch {
		case r == '-' || unicode.IsSpace(r):
			continue
		case r >= 'a' && r <= 'z':
			r -= 'a' - 'A'
		}
		switch r {
		case 'O':
			r = '0'
		case 'I', 'L':
			r = '1'
		}
		if r > 127 || n == len(sym) {
			return "", ErrBadCode
		}
		sym[n] = byte(r)
		n++
	}
	if n != len(sym) {
		return "", ErrBadCode
	}
	var v uint64
	for _, c := range sym[:codeDataLen] {
		d := strings.IndexByte(crockford, c)
		if d < 0 {
			return "", ErrBadCode
		}
		v = v<<5 | uint64(d)
	}
	if strings.IndexByte(checkSymbols, sym[codeDataLen]) != int(v%37) {
		return "", ErrBadCode
	}
	return formatCode(v), nil
}

// codeValue returns the 60-bit number a canonical code (as NewCode and NormalizeCode
// write it) stands for; ok is false for anything else.
func codeValue(code string) (v uint64, ok bool) {
	norm, err := NormalizeCode(code)
	if err != nil || norm != code {
		return 0, false
	}
	for i := 0; i < len(code)-1; i++ {
		if code[i] == '-' {
			continue
		}
		v = v<<5 | uint64(strings.IndexByte(crockford, code[i]))
	}
	return v, true
}

// CompactCode returns a canonical code without its hyphens (ABCD1234EFGHC), the form
// in the QR code's URL; NormalizeCode reads it back.
func CompactCode(code string) string {
	return strings.ReplaceAll(code, "-", "")
}
