package stamp

import (
	"bytes"
	"crypto/rand"
	"errors"
	"strings"
	"testing"
)

func TestDecodeRoundTrip(t *testing.T) {
	t.Parallel()
	for _, n := range []int{1, 200, MaxMessageSize} {
		msg := make([]byte, n)
		rand.Read(msg)
		got, err := Decode(Encode(msg))
		if err != nil || !bytes.Equal(got, msg) {
			t.Errorf("Decode(Encode(%d random bytes)) = %d bytes, %v", n, len(got), err)
		}
	}
}

func TestDecodeRejects(t *testing.T) {
	t.Parallel()
	valid := Encode([]byte("a stamp"))
	tests := []struct {
		name, text string
	}{
		{"empty", ""},
		{"one byte over the limit", Encode(make([]byte, MaxMessageSize+1))},
		{"text over the length limit", strings.Repeat("A", maxEncodedLen+1)},
		{"padding", valid + "="},
		{"standard alphabet", "+" + valid[1:]},
		{"non-zero padding bits", valid[:len(valid)-1] + "f"},
		{"space inside", valid[:4] + " " + valid[4:]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got, err := Decode(tt.text); !errors.Is(err, ErrMalformed) {
				t.Fatalf("Decode = %d bytes, %v; want ErrMalformed", len(got), err)
			}
		})
	}
}

func TestParseVerificationURL(t *testing.T) {
	t.Parallel()
	msg := []byte("a stamp")
	enc := Encode(msg)
	good := []struct {
		name, url, certID string
	}{
		{"plain", testBaseURL + "/verifica/04HM-ASW9-NF6Y-2#" + enc, "04HM-ASW9-NF6Y-2"},
		{"base URL with a path", "https://www.comune.esempio.it/servizi/sportello/verifica/04HM-ASW9-NF6Y-2#" + enc, "04HM-ASW9-NF6Y-2"},
		{"escaped check symbol", VerificationURL(testBaseURL, "0000-0000-0010-*", msg), "000000000010*"},
		{"legacy URL", LegacyVerificationURL(testBaseURL, "0000-0000-0010-*", msg), "0000-0000-0010-*"},
		{"short path under a base path", "https://www.comune.esempio.it/servizi/sportello/v/04HMASW9NF6Y2#" + EncodeNumeric(msg), "04HMASW9NF6Y2"},
		{"surrounding spaces from a scanner", " " + VerificationURL(testBaseURL, "X", msg) + "\n", "X"},
	}
	for _, tt := range good {
		id, got, err := ParseVerificationURL(tt.url)
		if err != nil || id != tt.certID || !bytes.Equal(got, msg) {
			t.Errorf("%s: ParseVerificationURL(%q) = %q, %q, %v; want %q", tt.name, tt.url, id, got, err, tt.certID)
		}
	}
	bad := []struct {
		name, url string
	}{
		{"no fragment", testBaseURL + "/verifica/04HM-ASW9-NF6Y-2"},
		{"empty fragment", testBaseURL + "/verifica/04HM-ASW9-NF6Y-2#"},
		{"no id", testBaseURL + "/verifica/#" + enc},
		{"id with a slash", testBaseURL + "/verifica/04HM/ASW9#" + enc},
		{"other page", testBaseURL + "/certificati/04HM-ASW9-NF6Y-2#" + enc},
		{"bad fragment", testBaseURL + "/verifica/04HM-ASW9-NF6Y-2#" + enc[:9]},
		{"not a URL", "%zz"},
		{"huge", testBaseURL + "/verifica/X#" + strings.Repeat("A", 4*maxEncodedLen)},
	}
	for _, tt := range bad {
		if _, _, err := ParseVerificationURL(tt.url); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: ParseVerificationURL = %v, want ErrMalformed", tt.name, err)
		}
	}
}
