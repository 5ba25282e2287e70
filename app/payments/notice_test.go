package payments

import (
	"errors"
	"testing"
)

// The check digits are the remainder of the division by 93 of <aux digit 3><segregation
// code><IUV base> (Specifiche attuative dei codici identificativi di versamento,
// § 2.2.2.4). The expected values below are that division worked by hand for each
// row, digit string by digit string; the last row is the largest number schema 3 allows.
func TestNoticeNumber(t *testing.T) {
	tests := []struct {
		seg    int
		base   int64
		notice string
	}{
		{0, 0, "300000000000000003"},              // 3000000000000000 = 93 * 32258064516129 + 3
		{1, 1, "301000000000000144"},              // 3010000000000001 mod 93 = 44
		{1, 42, "301000000000004285"},             // 3010000000000042 mod 93 = 85
		{12, 1234567890123, "312123456789012384"}, // 3121234567890123 mod 93 = 84
		{99, 9999999999999, "399999999999999903"}, // 3999999999999999 mod 93 = 3
	}
	for _, tt := range tests {
		n, iuv, err := NoticeNumber(tt.seg, tt.base)
		if err != nil {
			t.Fatal(err)
		}
		if n != tt.notice || iuv != tt.notice[1:] {
			t.Errorf("NoticeNumber(%d, %d) = %s, %s; want %s", tt.seg, tt.base, n, iuv, tt.notice)
		}
		seg, base, err := ParseNoticeNumber(n)
		if err != nil || seg != tt.seg || base != tt.base {
			t.Errorf("ParseNoticeNumber(%s) = %d, %d, %v", n, seg, base, err)
		}
	}
}

func TestNoticeNumberRefusals(t *testing.T) {
	for _, s := range []string{
		"",
		"30100000000000014",   // 17 digits
		"301000000000000145",  // wrong check digits
		"201000000000000144",  // aux digit 2
		"30100000000000a144x", // letters
		"301000000000000１44",  // non-ASCII digit
	} {
		if _, _, err := ParseNoticeNumber(s); !errors.Is(err, ErrNoticeNumber) {
			t.Errorf("ParseNoticeNumber(%q) = %v, want ErrNoticeNumber", s, err)
		}
	}
	if _, _, err := NoticeNumber(100, 1); !errors.Is(err, ErrNoticeNumber) {
		t.Errorf("segregation 100 accepted")
	}
	if _, _, err := NoticeNumber(1, 10_000_000_000_000); !errors.Is(err, ErrNoticeNumber) {
		t.Errorf("14-digit IUV base accepted")
	}
	// Every single-digit change of a valid number is caught by the check digits.
	n, _, _ := NoticeNumber(7, 4242424242424)
	for i := 3; i < 16; i++ {
		b := []byte(n)
		b[i] = '0' + (b[i]-'0'+1)%10
		if _, _, err := ParseNoticeNumber(string(b)); err == nil {
			t.Errorf("changed digit %d of %s not detected", i, n)
		}
	}
}

func TestFormat(t *testing.T) {
	for cents, want := range map[int64]string{0: "0,00", 5: "0,05", 1600: "16,00", 2221: "22,21", 123456789: "1.234.567,89", -250: "-2,50"} {
		if got := FormatEuro(cents); got != want {
			t.Errorf("FormatEuro(%d) = %q, want %q", cents, got, want)
		}
	}
	if got := FormatNotice("301000000000000144"); got != "3010 0000 0000 0001 44" {
		t.Errorf("FormatNotice = %q", got)
	}
}

// The shape of pagoPA's taxonomy codes (collection-service-taxonomy.md in
// pagopa/devportal-docs; codes from pagopa/pagopa-taxonomy's sample list).
func TestValidCategory(t *testing.T) {
	for code, want := range map[string]bool{
		"9/0101002IM/": true, "9/0102100SA/": true, "9/0101101IM/": true, "9/0702133TS/": true,
		"9/0101002IM": false, "0101002IM": false, "9/010100IM/": false, "9/0101002XX/": false, "": false,
		"9/0101002im/": false, "9/0101002IM/x": false,
	} {
		if got := ValidCategory(code); got != want {
			t.Errorf("ValidCategory(%q) = %v, want %v", code, got, want)
		}
	}
}
