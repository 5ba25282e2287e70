package stamp

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

// Stamps of format 1 (issuer text, code as text, base64url URL under /verifica/),
// printed before format 2, keep verifying; format 2 is what Sign writes now.
func TestBothFormatsVerify(t *testing.T) {
	t.Parallel()
	ring := newTestRing(t)
	legacy := testPayload()
	legacy.Issuer = "058091"
	enc, err := encodePayloadV1(legacy)
	if err != nil {
		t.Fatal(err)
	}
	v1, err := ring.signPayload(enc)
	if err != nil {
		t.Fatal(err)
	}
	v2 := mustSign(t, ring, testPayload())
	if len(v2) >= len(v1) {
		t.Errorf("format 2 message %d bytes, format 1 %d", len(v2), len(v1))
	}
	for _, c := range []struct {
		name   string
		url    string
		format int
		issuer string
	}{
		{"format 1, legacy URL", LegacyVerificationURL(testBaseURL, legacy.CertID, v1), FormatV1, "058091"},
		{"format 1, numeric URL", VerificationURL(testBaseURL, legacy.CertID, v1), FormatV1, "058091"},
		{"format 2, numeric URL", VerificationURL(testBaseURL, legacy.CertID, v2), FormatV2, ""},
		{"format 2, legacy URL", LegacyVerificationURL(testBaseURL, legacy.CertID, v2), FormatV2, ""},
	} {
		p, err := ring.VerifyURL(c.url)
		if err != nil || p.Format != c.format || p.Issuer != c.issuer || p.CertID != legacy.CertID ||
			p.Holder != legacy.Holder || !bytes.Equal(p.DataHash, legacy.DataHash) {
			t.Errorf("%s: %+v, %v", c.name, p, err)
		}
	}
}

func TestNumericTransport(t *testing.T) {
	t.Parallel()
	for n := 1; n <= 40; n++ {
		msg := bytes.Repeat([]byte{0xff}, n)
		msg[0] = byte(n)
		s := EncodeNumeric(msg)
		if len(s) != numericLen(n) || !isDigits(s) {
			t.Fatalf("%d bytes: %q", n, s)
		}
		got, err := Decode(s)
		if err != nil || !bytes.Equal(got, msg) {
			t.Fatalf("%d bytes: decoded %x, %v", n, got, err)
		}
	}
	for _, bad := range []string{
		"1",                       // no message is 1 digit long
		"256",                     // one byte, value over 255
		strings.Repeat("9", 17),   // seven bytes, value over 2^56
		strings.Repeat("0", 9999), // longer than MaxMessageSize
		"12a",
	} {
		if _, err := DecodeNumeric(bad); !errors.Is(err, ErrMalformed) {
			t.Errorf("DecodeNumeric(%.20q) = %v, want ErrMalformed", bad, err)
		}
	}
}
