package stamp

import (
	"errors"
	"regexp"
	"strings"
	"testing"
)

var codeShape = regexp.MustCompile(`^[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z*~$=U]$`)

func TestNewCodeRoundTrip(t *testing.T) {
	t.Parallel()
	seen := make(map[string]bool)
	for range 1000 {
		c, err := NewCode()
		if err != nil {
			t.Fatal(err)
		}
		if !codeShape.MatchString(c) {
			t.Fatalf("NewCode = %q, not XXXX-XXXX-XXXX-C", c)
		}
		if seen[c] {
			t.Fatalf("NewCode repeated %q", c)
		}
		seen[c] = true
		if n, err := NormalizeCode(c); err != nil || n != c {
			t.Fatalf("NormalizeCode(%q) = %q, %v", c, n, err)
		}
	}
}

func TestNormalizeCode(t *testing.T) {
	t.Parallel()
	// 0x0123456789ABCDE in code form (computed independently); it is 2 mod 37.
	const want = "04HM-ASW9-NF6Y-2"
	if got := formatCode(0x0123456789ABCDE); got != want {
		t.Fatalf("formatCode = %q, want %q", got, want)
	}
	tests := []struct {
		typed, want string
	}{
		{want, want},
		{"04hm-asw9-nf6y-2", want},
		{"04HMASW9NF6Y2", want},
		{" 04HM ASW9 NF6Y 2 ", want},
		{"04HM\u00a0ASW9\tNF6Y-2\n", want}, // pasted

		{"o4HM-ASW9-NF6Y-2", want}, // O read as 0
		{"0000-0000-0000-0", "0000-0000-0000-0"},
		{"OOOO oooo OOOO o", "0000-0000-0000-0"},
		{"0000-0000-0001-1", "0000-0000-0001-1"},
		{"oooo-oooo-oooi-l", "0000-0000-0001-1"}, // I and L read as 1
		{"0000-0000-000L-i", "0000-0000-0001-1"},
		{"0000-0000-0014-u", "0000-0000-0014-U"}, // value 36: check symbol U
		{"0000-0000-0010-*", "0000-0000-0010-*"}, // value 32: check symbol *
	}
	for _, tt := range tests {
		got, err := NormalizeCode(tt.typed)
		if err != nil || got != tt.want {
			t.Errorf("NormalizeCode(%q) = %q, %v; want %q", tt.typed, got, err, tt.want)
		}
	}

	bad := []string{
		"",
		"04HM-ASW9-NF6Y",         // no check character
		"04HM-ASW9-NF6Y-22",      // one too many
		"04HM-ASW9-NF6Y-3",       // wrong check character
		"U4HM-ASW9-NF6Y-2",       // U is only a check symbol
		"04HM-ASW9-NF6Y-!",       // not a symbol
		"04HM_ASW9_NF6Y_2",       // underscores are not separators
		"04HM-ASW9-NF6Y-2\u00e0", // non-ASCII
		"04НМ-ASW9-NF6Y-2",       // Cyrillic look-alikes
		strings.Repeat("0", 100),
	}
	for _, s := range bad {
		if got, err := NormalizeCode(s); !errors.Is(err, ErrBadCode) {
			t.Errorf("NormalizeCode(%q) = %q, %v; want ErrBadCode", s, got, err)
		}
	}
}

// TestCheckCharacterCatchesTypos changes each character of some codes to every other
// symbol, and swaps each pair of adjacent different characters: all must be rejected.
func TestCheckCharacterCatchesTypos(t *testing.T) {
	t.Parallel()
	codes := []string{"04HM-ASW9-NF6Y-2", "0000-0000-0000-0", "ZZZZ-ZZZZ-ZZZZ-" + string(checkSymbols[(1<<60-1)%37])}
	for range 20 {
		c, err := NewCode()
		if err != nil {
			t.Fatal(err)
		}
		codes = append(codes, c)
	}
	for _, code := range codes {
		if _, err := NormalizeCode(code); err != nil {
			t.Fatalf("NormalizeCode(%q): %v", code, err)
		}
		compact := strings.ReplaceAll(code, "-", "")
		for i := range len(compact) {
			symbols := crockford
			if i == codeDataLen {
				symbols = checkSymbols
			}
			for _, s := range []byte(symbols) {
				if s == compact[i] {
					continue
				}
				typo := compact[:i] + string(s) + compact[i+1:]
				if got, err := NormalizeCode(typo); err == nil {
					t.Fatalf("typo %q of %q accepted as %q", typo, code, got)
				}
			}
			if i+1 < len(compact) && compact[i] != compact[i+1] {
				swap := compact[:i] + string(compact[i+1]) + string(compact[i]) + compact[i+2:]
				if got, err := NormalizeCode(swap); err == nil {
					t.Fatalf("swap %q of %q accepted as %q", swap, code, got)
				}
			}
		}
	}
}
