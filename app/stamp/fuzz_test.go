package stamp

import (
	"bytes"
	"errors"
	"testing"
	"time"
)

// fuzzPayload is the only payload ever signed with the fuzz key, so any input that
// verifies must carry exactly this content. Do not change it: the committed corpus
// holds stamps of it.
func fuzzPayload() Payload {
	return Payload{
		CertID:    "04HM-ASW9-NF6Y-2",
		Type:      "stato_famiglia",
		Holder:    "RSSMRA85T10A562S",
		IssuedAt:  time.Date(2026, time.March, 5, 0, 0, 0, 0, time.UTC),
		ExpiresAt: time.Date(2026, time.September, 5, 0, 0, 0, 0, time.UTC),
		DataHash:  bytes.Repeat([]byte{0xd5}, 32),
	}
}

// FuzzDecodeVerify feeds arbitrary text to Decode then Verify, to VerifyURL, and, as
// raw bytes, straight to Verify: a mutation rarely survives base64url decoding, so the
// raw seeds are what exercises the COSE and CBOR parsing. The functions must not
// panic, must fail only with the documented errors, and must never accept content
// other than what the key signed. Run with
//
//	go test -run x -fuzz FuzzDecodeVerify -fuzztime 60s ./app/stamp/
func FuzzDecodeVerify(f *testing.F) {
	ring, err := NewKeyRing(deterministicKey(f, "fuzz"))
	if err != nil {
		f.Fatal(err)
	}
	want := fuzzPayload()
	msg := mustSign(f, ring, want)
	f.Add(Encode(msg))
	f.Add(string(msg))
	f.Add(VerificationURL(testBaseURL, want.CertID, msg))
	f.Add(Encode(msg[:len(msg)-1]))
	f.Add(Encode(append(bytes.Clone(msg), 0)))
	f.Add(Encode([]byte{0xd2, 0x84, 0x40, 0xa0, 0x40, 0x40}))
	f.Add(Encode(nil))
	f.Add("")
	f.Add("eNo")
	f.Add(Encode(make([]byte, MaxMessageSize+1))) // one byte over the size limit

	check := func(t *testing.T, what string, p Payload, err error) {
		if err != nil {
			if !isVerifyError(err) {
				t.Fatalf("%s: undocumented error %v", what, err)
			}
			return
		}
		// The committed corpus holds format 1 stamps too (issuer "058091").
		wantIssuer := ""
		if p.Format == FormatV1 {
			wantIssuer = "058091"
		}
		if p.Issuer != wantIssuer || p.CertID != want.CertID || p.Type != want.Type || p.Holder != want.Holder ||
			!p.IssuedAt.Equal(want.IssuedAt) || !p.ExpiresAt.Equal(want.ExpiresAt) ||
			!bytes.Equal(p.DataHash, want.DataHash) || p.KeyID != ring.ActiveKID() {
			t.Fatalf("%s: verified a payload nobody signed: %+v", what, p)
		}
	}
	f.Fuzz(func(t *testing.T, s string) {
		m, err := Decode(s)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("Decode: undocumented error %v", err)
			}
		} else {
			if len(m) > MaxMessageSize {
				t.Fatalf("Decode returned %d bytes", len(m))
			}
			p, err := ring.Verify(m)
			check(t, "Verify", p, err)
		}
		p, err := ring.VerifyURL(s)
		check(t, "VerifyURL", p, err)
		p, err = ring.Verify([]byte(s))
		check(t, "Verify(raw)", p, err)
	})
}
