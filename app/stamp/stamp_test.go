package stamp

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/fxamacker/cbor/v2"
	"github.com/veraison/go-cose"
)

// Europe/Rome without depending on the tz database of the machine running the tests.
var (
	cet  = time.FixedZone("CET", 1*60*60)
	cest = time.FixedZone("CEST", 2*60*60)
)

const testBaseURL = "https://sportello.comune.esempio.it"

// testPayload is a typical certificate stamp.
func testPayload() Payload {
	return Payload{
		CertID:    "04HM-ASW9-NF6Y-2",
		Type:      "stato_famiglia",
		Holder:    "RSSMRA85T10A562S",
		IssuedAt:  time.Date(2026, time.March, 5, 10, 42, 0, 0, cet),
		ExpiresAt: time.Date(2026, time.September, 5, 0, 0, 0, 0, cest),
		DataHash:  DataHash(map[string]any{"famiglia": []string{"RSSMRA85T10A562S", "BNCLRA88A41H501X"}}),
	}
}

// deterministicKey derives a P-256 key from a label, so that tests and the fuzz corpus
// see the same kid on every run. Test use only.
func deterministicKey(tb testing.TB, label string) *Key {
	tb.Helper()
	d := sha256.Sum256([]byte("sportello stamp test key: " + label))
	priv, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), d[:])
	if err != nil {
		tb.Fatal(err)
	}
	k, err := NewSigningKey(priv)
	if err != nil {
		tb.Fatal(err)
	}
	return k
}

func newTestRing(tb testing.TB) *KeyRing {
	tb.Helper()
	k, err := GenerateKey()
	if err != nil {
		tb.Fatal(err)
	}
	r, err := NewKeyRing(k)
	if err != nil {
		tb.Fatal(err)
	}
	return r
}

func mustSign(tb testing.TB, r *KeyRing, p Payload) []byte {
	tb.Helper()
	msg, err := r.Sign(p)
	if err != nil {
		tb.Fatal(err)
	}
	return msg
}

// sameDate reports whether two times fall on the same calendar date, each in its own
// location, which is the precision the format keeps.
func sameDate(a, b time.Time) bool {
	ay, am, ad := a.Date()
	by, bm, bd := b.Date()
	return ay == by && am == bm && ad == bd
}

func assertPayload(t *testing.T, got, want Payload, wantKID string) {
	t.Helper()
	if got.Issuer != want.Issuer || got.CertID != want.CertID || got.Type != want.Type || got.Holder != want.Holder {
		t.Errorf("payload text fields = %+v, want %+v", got, want)
	}
	if got.KeyID != wantKID {
		t.Errorf("KeyID = %q, want %q", got.KeyID, wantKID)
	}
	if !sameDate(got.IssuedAt, want.IssuedAt) || !sameDate(got.ExpiresAt, want.ExpiresAt) {
		t.Errorf("dates = %v..%v, want %v..%v", got.IssuedAt, got.ExpiresAt, want.IssuedAt, want.ExpiresAt)
	}
	if got.IssuedAt.Location() != time.UTC || got.IssuedAt.Hour() != 0 {
		t.Errorf("IssuedAt = %v, want midnight UTC", got.IssuedAt)
	}
	if !bytes.Equal(got.DataHash, want.DataHash) {
		t.Errorf("DataHash = %x, want %x", got.DataHash, want.DataHash)
	}
}

func TestRoundTrip(t *testing.T) {
	t.Parallel()
	ring := newTestRing(t)
	code, err := NewCode()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		mutate func(*Payload)
	}{
		{"typical", func(*Payload) {}},
		// 00:30 in Rome is still the previous day in UTC: the Rome date must be kept.
		{"just after midnight in Rome", func(p *Payload) {
			p.IssuedAt = time.Date(2026, time.January, 1, 0, 30, 0, 0, cet)
			p.ExpiresAt = time.Date(2026, time.July, 1, 0, 30, 0, 0, cest)
		}},
		{"late evening in Rome", func(p *Payload) {
			p.IssuedAt = time.Date(2026, time.December, 31, 23, 59, 59, 0, cet)
			p.ExpiresAt = p.IssuedAt
		}},
		{"generated code", func(p *Payload) {
			p.CertID = code
		}},
		{"non-ASCII type", func(p *Payload) { p.Type = "idoneità_alloggiativa" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			want := testPayload()
			tt.mutate(&want)
			msg := mustSign(t, ring, want)
			u := VerificationURL(testBaseURL+"/", want.CertID, msg)
			if !strings.HasPrefix(u, testBaseURL+"/v/") {
				t.Fatalf("URL %q does not start with the base URL", u)
			}
			certID, got, err := ParseVerificationURL(u)
			if err != nil {
				t.Fatalf("ParseVerificationURL(%q): %v", u, err)
			}
			if certID != CompactCode(want.CertID) || !bytes.Equal(got, msg) {
				t.Fatalf("ParseVerificationURL = %q, %x; want %q, %x", certID, got, want.CertID, msg)
			}
			p, err := ring.Verify(got)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			assertPayload(t, p, want, ring.ActiveKID())
			p2, err := ring.VerifyURL(u)
			if err != nil {
				t.Fatalf("VerifyURL: %v", err)
			}
			assertPayload(t, p2, want, ring.ActiveKID())
		})
	}
}

func TestURLLength(t *testing.T) {
	t.Parallel()
	ring := newTestRing(t)
	p := testPayload()
	msg := mustSign(t, ring, p)
	enc := Encode(msg)
	u := VerificationURL(testBaseURL, p.CertID, msg)
	t.Logf("COSE message %d bytes, encoded %d chars (uncompressed base64 would be %d), URL %d chars: %s",
		len(msg), len(enc), b64.EncodedLen(len(msg)), len(u), u)
	// The QR code must stay small: in QR bits, the head in byte mode (8 bits a
	// character) and the numeric tail (10 bits for 3 digits), about 1 870 bits, a
	// version 13 symbol at level Q (the base64url form of format 1 needed version 16).
	head, tail, _ := strings.Cut(u, "#")
	bits := 8*(len(head)+1) + len(tail)*10/3
	if len(msg) > 180 || bits > 1900 || !isDigits(tail) {
		t.Errorf("message %d bytes, URL %d QR bits: want at most 180 bytes and 1900 bits", len(msg), bits)
	}
}

// flipsOf returns the variants of msg with one byte changed: every single-bit flip
// and the complement, at every position.
func flipsOf(msg []byte) func(yield func(int, []byte) bool) {
	return func(yield func(int, []byte) bool) {
		for i := range msg {
			for _, mask := range []byte{1, 2, 4, 8, 16, 32, 64, 128, 0xff} {
				m := bytes.Clone(msg)
				m[i] ^= mask
				if !yield(i, m) {
					return
				}
			}
		}
	}
}

func isVerifyError(err error) bool {
	return errors.Is(err, ErrMalformed) || errors.Is(err, ErrUnknownKey) || errors.Is(err, ErrBadSignature)
}

func TestEveryByteFlipFails(t *testing.T) {
	t.Parallel()
	ring := newTestRing(t)
	msg := mustSign(t, ring, testPayload())
	n := 0
	for i, m := range flipsOf(msg) {
		n++
		p, err := ring.Verify(m)
		if err == nil {
			t.Fatalf("byte %d changed to %#x: verified as %+v", i, m[i], p)
		}
		if !isVerifyError(err) {
			t.Fatalf("byte %d: error %v is none of the sentinel errors", i, err)
		}
	}
	t.Logf("%d one-byte changes over %d bytes, all rejected", n, len(msg))
}

// TestEveryCharFlipFails changes each character of the encoded text to every other
// base64url character. A change must fail, or decode to the very same message: deflate
// leaves the padding bits after a stored block header unchecked, so such a change is
// another spelling of the same signed bytes, not different content.
func TestEveryCharFlipFails(t *testing.T) {
	t.Parallel()
	ring := newTestRing(t)
	msg := mustSign(t, ring, testPayload())
	enc := Encode(msg)
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	var rejected, same int
	for i := range len(enc) {
		for _, c := range []byte(alphabet) {
			if c == enc[i] {
				continue
			}
			s := enc[:i] + string(c) + enc[i+1:]
			m, err := Decode(s)
			if err != nil {
				if !errors.Is(err, ErrMalformed) {
					t.Fatalf("Decode error %v is not ErrMalformed", err)
				}
				rejected++
				continue
			}
			if bytes.Equal(m, msg) {
				same++
				continue
			}
			if p, err := ring.Verify(m); err == nil {
				t.Fatalf("char %d changed to %q: verified as %+v", i, c, p)
			}
			rejected++
		}
	}
	t.Logf("%d one-character changes of a %d-character text: %d rejected, %d decode to the identical message",
		rejected+same, len(enc), rejected, same)
}

func TestWrongKey(t *testing.T) {
	t.Parallel()
	signer := deterministicKey(t, "signer")
	other := deterministicKey(t, "other")
	ring, err := NewKeyRing(signer)
	if err != nil {
		t.Fatal(err)
	}
	msg := mustSign(t, ring, testPayload())

	t.Run("kid not in ring", func(t *testing.T) {
		t.Parallel()
		r, err := NewKeyRing(other)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := r.Verify(msg); !errors.Is(err, ErrUnknownKey) {
			t.Fatalf("Verify = %v, want ErrUnknownKey", err)
		}
	})
	t.Run("kid maps to another public key", func(t *testing.T) {
		t.Parallel()
		// No constructor can build this ring (kids are thumbprints), but a verifier
		// must not trust the kid alone.
		r := &KeyRing{keys: map[string]*Key{signer.KID(): other.verifyOnly()}}
		if _, err := r.Verify(msg); !errors.Is(err, ErrBadSignature) {
			t.Fatalf("Verify = %v, want ErrBadSignature", err)
		}
	})
	t.Run("message signed by another key under the ring's kid", func(t *testing.T) {
		t.Parallel()
		payload, err := encodePayload(testPayload())
		if err != nil {
			t.Fatal(err)
		}
		m := newSign1(signer.KID(), payload, nil)
		if err := m.Sign(rand.Reader, nil, other.signer); err != nil {
			t.Fatal(err)
		}
		forged, err := m.MarshalCBOR()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ring.Verify(forged); !errors.Is(err, ErrBadSignature) {
			t.Fatalf("Verify = %v, want ErrBadSignature", err)
		}
	})
}

// craft signs payload with key under arbitrary headers, for messages Sign never makes.
func craft(t testing.TB, signer cose.Signer, protected cose.ProtectedHeader, unprotected cose.UnprotectedHeader, payload []byte, tagged bool) []byte {
	t.Helper()
	m := cose.Sign1Message{Headers: cose.Headers{Protected: protected, Unprotected: unprotected}, Payload: payload}
	if err := m.Sign(rand.Reader, nil, signer); err != nil {
		t.Fatal(err)
	}
	var b []byte
	var err error
	if tagged {
		b, err = m.MarshalCBOR()
	} else {
		b, err = (*cose.UntaggedSign1Message)(&m).MarshalCBOR()
	}
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestVerifyRejectsOtherShapes(t *testing.T) {
	t.Parallel()
	key := deterministicKey(t, "signer")
	ring, err := NewKeyRing(key)
	if err != nil {
		t.Fatal(err)
	}
	kid := []byte(key.KID())
	// The shapes are checked on a format 1 payload (its map has every kind of field).
	legacy := testPayload()
	legacy.Issuer = "058091"
	good, err := encodePayloadV1(legacy)
	if err != nil {
		t.Fatal(err)
	}
	std := func() cose.ProtectedHeader {
		return cose.ProtectedHeader{cose.HeaderLabelAlgorithm: cose.AlgorithmES256, cose.HeaderLabelKeyID: kid}
	}
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	es384, err := cose.NewSigner(cose.AlgorithmES384, p384)
	if err != nil {
		t.Fatal(err)
	}
	encodeWire := func(w wirePayload) []byte {
		b, err := detEnc.Marshal(w)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	var wire wirePayload
	if err := cbor.Unmarshal(good, &wire); err != nil {
		t.Fatal(err)
	}
	noHolder := wire
	noHolder.Holder = ""
	shortHash := wire
	shortHash.DataHash = shortHash.DataHash[:20]
	expiredBeforeIssued := wire
	expiredBeforeIssued.ExpiresAt = wire.IssuedAt - 1
	extraField, err := detEnc.Marshal(map[int]any{1: wire.Issuer, 2: wire.CertID, 3: wire.Type,
		4: wire.Holder, 5: wire.IssuedAt, 6: wire.ExpiresAt, 7: wire.DataHash, 8: "extra"})
	if err != nil {
		t.Fatal(err)
	}
	// The same map with a non-minimal integer for key 5: valid CBOR, not canonical.
	nonCanonical := bytes.Replace(good, []byte{0x05, 0x19}, []byte{0x05, 0x1a, 0x00, 0x00}, 1)
	if bytes.Equal(nonCanonical, good) {
		t.Fatal("test payload has no 2-byte issue date to rewrite")
	}

	tests := []struct {
		name string
		msg  []byte
		want error
	}{
		{"control: canonical message", craft(t, key.signer, std(), cose.UnprotectedHeader{}, good, true), nil},
		{"ES384", craft(t, es384, cose.ProtectedHeader{cose.HeaderLabelAlgorithm: cose.AlgorithmES384, cose.HeaderLabelKeyID: kid}, cose.UnprotectedHeader{}, good, true), ErrMalformed},
		{"untagged", craft(t, key.signer, std(), cose.UnprotectedHeader{}, good, false), ErrMalformed},
		{"no kid", craft(t, key.signer, cose.ProtectedHeader{cose.HeaderLabelAlgorithm: cose.AlgorithmES256}, cose.UnprotectedHeader{}, good, true), ErrMalformed},
		{"kid only in unprotected header", craft(t, key.signer, cose.ProtectedHeader{cose.HeaderLabelAlgorithm: cose.AlgorithmES256}, cose.UnprotectedHeader{cose.HeaderLabelKeyID: kid}, good, true), ErrMalformed},
		{"extra unprotected header", craft(t, key.signer, std(), cose.UnprotectedHeader{cose.HeaderLabelContentType: "application/cbor"}, good, true), ErrMalformed},
		{"extra protected header", craft(t, key.signer, cose.ProtectedHeader{cose.HeaderLabelAlgorithm: cose.AlgorithmES256, cose.HeaderLabelKeyID: kid, cose.HeaderLabelContentType: uint(60)}, cose.UnprotectedHeader{}, good, true), ErrMalformed},
		{"kid not a key id", craft(t, key.signer, cose.ProtectedHeader{cose.HeaderLabelAlgorithm: cose.AlgorithmES256, cose.HeaderLabelKeyID: []byte("../../active")}, cose.UnprotectedHeader{}, good, true), ErrMalformed},
		{"unknown well-formed kid", craft(t, key.signer, cose.ProtectedHeader{cose.HeaderLabelAlgorithm: cose.AlgorithmES256, cose.HeaderLabelKeyID: []byte("AAAAAAAAAAAA")}, cose.UnprotectedHeader{}, good, true), ErrUnknownKey},
		{"signed garbage payload", craft(t, key.signer, std(), cose.UnprotectedHeader{}, []byte("not cbor"), true), ErrMalformed},
		{"signed payload without holder", craft(t, key.signer, std(), cose.UnprotectedHeader{}, encodeWire(noHolder), true), ErrMalformed},
		{"signed payload with short hash", craft(t, key.signer, std(), cose.UnprotectedHeader{}, encodeWire(shortHash), true), ErrMalformed},
		{"signed payload expiring before issue", craft(t, key.signer, std(), cose.UnprotectedHeader{}, encodeWire(expiredBeforeIssued), true), ErrMalformed},
		{"signed payload with unknown field", craft(t, key.signer, std(), cose.UnprotectedHeader{}, extraField, true), ErrMalformed},
		{"signed non-canonical payload", craft(t, key.signer, std(), cose.UnprotectedHeader{}, nonCanonical, true), ErrMalformed},
		{"trailing byte", append(craft(t, key.signer, std(), cose.UnprotectedHeader{}, good, true), 0), ErrMalformed},
		{"empty", nil, ErrMalformed},
		{"oversized", make([]byte, MaxMessageSize+1), ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := ring.Verify(tt.msg)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Verify = %v, want success", err)
				}
				return
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("Verify = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestSignRejectsInvalidPayload(t *testing.T) {
	t.Parallel()
	ring := newTestRing(t)
	tests := []struct {
		name   string
		mutate func(*Payload)
	}{
		{"certificate id not a code", func(p *Payload) { p.CertID = "CERT-1" }},
		{"certificate id not canonical", func(p *Payload) { p.CertID = "04hm-asw9-nf6y-2" }},
		{"no cert id", func(p *Payload) { p.CertID = "" }},
		{"no type", func(p *Payload) { p.Type = "" }},
		{"short holder", func(p *Payload) { p.Holder = "RSSMRA85T10A562" }},
		{"lower-case holder", func(p *Payload) { p.Holder = strings.ToLower(p.Holder) }},
		{"no issue date", func(p *Payload) { p.IssuedAt = time.Time{} }},
		{"no expiry date", func(p *Payload) { p.ExpiresAt = time.Time{} }},
		{"expiry before issue", func(p *Payload) { p.ExpiresAt = p.IssuedAt.AddDate(0, 0, -1) }},
		{"date before 1970", func(p *Payload) { p.IssuedAt = time.Date(1969, 12, 31, 0, 0, 0, 0, time.UTC) }},
		{"date after 2243", func(p *Payload) { p.ExpiresAt = time.Date(2300, 1, 1, 0, 0, 0, 0, time.UTC) }},
		{"no data hash", func(p *Payload) { p.DataHash = nil }},
		{"short data hash", func(p *Payload) { p.DataHash = p.DataHash[:31] }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := testPayload()
			tt.mutate(&p)
			if _, err := ring.Sign(p); !errors.Is(err, ErrInvalidPayload) {
				t.Fatalf("Sign = %v, want ErrInvalidPayload", err)
			}
		})
	}
}

func TestVerifyOnlyRingCannotSign(t *testing.T) {
	t.Parallel()
	k := deterministicKey(t, "signer")
	if _, err := NewKeyRing(k.verifyOnly()); err == nil {
		t.Fatal("NewKeyRing accepted a public key as the active key")
	}
	r, err := NewKeyRing(nil, k)
	if err != nil {
		t.Fatal(err)
	}
	if r.ActiveKID() != "" {
		t.Errorf("ActiveKID = %q, want none", r.ActiveKID())
	}
	if _, err := r.Sign(testPayload()); !errors.Is(err, ErrNoSigningKey) {
		t.Fatalf("Sign = %v, want ErrNoSigningKey", err)
	}
	if _, err := NewKeyRing(nil); err == nil {
		t.Fatal("NewKeyRing accepted an empty ring")
	}
}

func TestVerifyURLChecksCertID(t *testing.T) {
	t.Parallel()
	ring := newTestRing(t)
	p := testPayload()
	msg := mustSign(t, ring, p)
	u := VerificationURL(testBaseURL, p.CertID, msg)

	lower := strings.Replace(u, CompactCode(p.CertID), strings.ToLower(p.CertID), 1)
	if _, err := ring.VerifyURL(lower); err != nil {
		t.Errorf("VerifyURL with the id as typed in lower case: %v", err)
	}
	other, err := NewCode()
	if err != nil {
		t.Fatal(err)
	}
	swapped := strings.Replace(u, CompactCode(p.CertID), other, 1)
	if _, err := ring.VerifyURL(swapped); !errors.Is(err, ErrMalformed) {
		t.Errorf("VerifyURL with another certificate's id = %v, want ErrMalformed", err)
	}
}

func TestKIDIsThumbprint(t *testing.T) {
	t.Parallel()
	// The EC key of RFC 7517 appendix A.1; its RFC 7638 SHA-256 thumbprint,
	// cn-I_WNMClehiVp51i_0VpOENW1upEerA8sEam5hn-s, was computed with go-jose.
	x, _ := b64.DecodeString("MKBCTNIcKUSDii11ySs3526iDZ8AiTo7Tu6KPAqv7D4")
	y, _ := b64.DecodeString("4Etl6SRW2YiLUrN5vfvVHuhp7x8PxltmWWlbbM4IFyM")
	pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), append(append([]byte{4}, x...), y...))
	if err != nil {
		t.Fatal(err)
	}
	k, err := NewVerifyKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	if want := "cn-I_WNMCleh"; k.KID() != want {
		t.Fatalf("KID = %q, want %q", k.KID(), want)
	}
	if k.CanSign() {
		t.Error("a public key can sign")
	}
	if k1, k2 := deterministicKey(t, "signer"), deterministicKey(t, "signer"); k1.KID() != k2.KID() || !validKID(k1.KID()) {
		t.Fatalf("kids %q, %q: not deterministic or not valid", k1.KID(), k2.KID())
	}
}
