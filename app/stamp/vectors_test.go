package stamp

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/veraison/go-cose"
)

// The test vectors of docs/STAMP.md, in testdata/vectors: generated deterministically
// (RFC 6979 signatures) from fictional data with THROW-AWAY TEST KEYS derived from
// public labels (deterministicKey): never use them for anything but tests.
// Regenerate with: go test ./app/stamp -run TestVectors -update-vectors
var updateVectors = flag.Bool("update-vectors", false, "rewrite testdata/vectors")

// vector is one file of testdata/vectors.
type vector struct {
	Name        string          `json:"name"`
	Description string          `json:"description"`
	Warning     string          `json:"warning"`
	Format      int             `json:"format"`
	Keys        json.RawMessage `json:"keys"`
	URL         string          `json:"url"`
	MessageHex  string          `json:"message_hex"`
	Expect      string          `json:"expect"`
	Error       string          `json:"error,omitempty"`
	Payload     *vectorPayload  `json:"payload,omitempty"`
	Data        map[string]any  `json:"data"`
}

type vectorPayload struct {
	KeyID       string `json:"kid"`
	Issuer      string `json:"issuer,omitempty"`
	Certificate string `json:"certificate"`
	Type        string `json:"type"`
	Holder      string `json:"holder"`
	IssuedOn    string `json:"issued_on"`
	LastValid   string `json:"last_valid_day"`
	DataHashHex string `json:"data_hash_hex"`
}

// detSigner signs with RFC 6979 deterministic ECDSA (a nil random source).
type detSigner struct{ priv *ecdsa.PrivateKey }

func (s detSigner) Public() crypto.PublicKey { return &s.priv.PublicKey }
func (s detSigner) Sign(_ io.Reader, digest []byte, _ crypto.SignerOpts) ([]byte, error) {
	return s.priv.Sign(nil, digest, crypto.SHA256) // ES256: the digest is SHA-256
}

func vectorKey(t *testing.T, label string) *Key {
	k := deterministicKey(t, label)
	signer, err := cose.NewSigner(cose.AlgorithmES256, detSigner{k.priv})
	if err != nil {
		t.Fatal(err)
	}
	k.signer = signer
	return k
}

// makeVectors builds every vector from scratch.
func makeVectors(t *testing.T) []vector {
	active := vectorKey(t, "vector active key (test only)")
	retired := vectorKey(t, "vector retired key (test only)")
	foreign := vectorKey(t, "vector foreign key (test only)")
	published, err := NewKeyRing(active, retired)
	if err != nil {
		t.Fatal(err)
	}
	jwks, err := published.PublicJWKS()
	if err != nil {
		t.Fatal(err)
	}
	ring := func(k *Key) *KeyRing {
		r, err := NewKeyRing(k)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	// Fictional data: a residence certificate of a fictional person.
	data := map[string]any{
		"type":      "residenza",
		"holder":    map[string]any{"cf": "RSSMRA85T10A562S", "surname": "ROSSI", "name": "MARIO", "sex": "M", "birth_date": "1985-12-10", "birth_place": "VALDORIA (VD)", "citizenship": "italiana", "civil_status": "celibe"},
		"residence": map[string]any{"address": "Via dei Tigli 30", "since": "2019-01-15"},
		"bollo":     map[string]any{"mode": "dovuto", "amount_cents": "1600"},
	}
	rome := time.FixedZone("CET", 3600)
	p := Payload{
		CertID: "04HM-ASW9-NF6Y-2", Type: "residenza", Holder: "RSSMRA85T10A562S",
		IssuedAt:  time.Date(2026, time.January, 12, 9, 30, 0, 0, rome),
		ExpiresAt: time.Date(2026, time.July, 12, 0, 0, 0, 0, time.UTC),
		DataHash:  DataHash(data),
	}
	const base = "https://sportello.comune.valdoria.example"
	sign := func(r *KeyRing, p Payload) []byte {
		msg, err := r.Sign(p)
		if err != nil {
			t.Fatal(err)
		}
		return msg
	}
	valid := sign(ring(active), p)
	legacyPayload := p
	legacyPayload.Issuer = "Comune di Valdoria"
	enc, err := encodePayloadV1(legacyPayload)
	if err != nil {
		t.Fatal(err)
	}
	legacy, err := ring(active).signPayload(enc)
	if err != nil {
		t.Fatal(err)
	}
	tampered := bytes.Clone(valid)
	// The last byte of the data hash, just before the signature's 2-byte header and
	// 64 bytes: the content changes, the signature no longer matches.
	tampered[len(tampered)-67] ^= 0x01

	payload := func(kid, issuer string) *vectorPayload {
		return &vectorPayload{KeyID: kid, Issuer: issuer, Certificate: p.CertID, Type: p.Type, Holder: p.Holder,
			IssuedOn: "2026-01-12", LastValid: "2026-07-12", DataHashHex: hex.EncodeToString(p.DataHash)}
	}
	const warning = "TEST VECTOR: fictional data, signed with a throw-away test key derived from a public label. Never trust these keys outside tests."
	mk := func(name, desc string, format int, url string, msg []byte, expect, errName string, pl *vectorPayload) vector {
		return vector{Name: name, Description: desc, Warning: warning, Format: format, Keys: jwks, URL: url,
			MessageHex: hex.EncodeToString(msg), Expect: expect, Error: errName, Payload: pl, Data: data}
	}
	return []vector{
		mk("valid", "Format 2 stamp signed by the active key: authentic.", 2,
			VerificationURL(base, p.CertID, valid), valid, "valid", "", payload(active.KID(), "")),
		mk("valid-format1", "Format 1 stamp (issuer in the payload, base64url URL), as printed before format 2: authentic.", 1,
			LegacyVerificationURL(base, p.CertID, legacy), legacy, "valid", "", payload(active.KID(), "Comune di Valdoria")),
		mk("retired-key", "Signed by a key the comune has retired (status \"retired\"): still authentic.", 2,
			VerificationURL(base, p.CertID, sign(ring(retired), p)), sign(ring(retired), p), "valid", "", payload(retired.KID(), "")),
		mk("tampered", "The valid stamp with one bit of the data hash flipped: the signature does not match.", 2,
			VerificationURL(base, p.CertID, tampered), tampered, "not_authentic", "bad_signature", nil),
		mk("wrong-key", "Signed by a key that is not in the published set: not authentic.", 2,
			VerificationURL(base, p.CertID, sign(ring(foreign), p)), sign(ring(foreign), p), "not_authentic", "unknown_key", nil),
	}
}

func TestVectors(t *testing.T) {
	dir := filepath.Join("testdata", "vectors")
	for _, v := range makeVectors(t) {
		b, err := json.MarshalIndent(v, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		b = append(b, '\n')
		path := filepath.Join(dir, v.Name+".json")
		if *updateVectors {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		stored, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%s: %v (regenerate with -update-vectors)", v.Name, err)
		}
		if !bytes.Equal(stored, b) {
			t.Errorf("%s: the stored vector differs from the one generated now: generation is not deterministic or the format changed", v.Name)
		}
		checkVector(t, stored)
	}
}

// checkVector verifies a stored vector as a third-party verifier would: with the
// published keys only.
func checkVector(t *testing.T, file []byte) {
	var v vector
	if err := json.Unmarshal(file, &v); err != nil {
		t.Fatal(err)
	}
	ring, err := KeyRingFromJWKS(v.Keys)
	if err != nil {
		t.Fatalf("%s: keys: %v", v.Name, err)
	}
	p, err := ring.VerifyURL(v.URL)
	msg, _ := hex.DecodeString(v.MessageHex)
	if _, _, perr := ParseVerificationURL(v.URL); perr != nil {
		t.Fatalf("%s: URL: %v", v.Name, perr)
	}
	if _, m, _ := ParseVerificationURL(v.URL); !bytes.Equal(m, msg) {
		t.Errorf("%s: the URL does not carry message_hex", v.Name)
	}
	switch v.Expect {
	case "valid":
		want := v.Payload
		if err != nil || p.KeyID != want.KeyID || p.Issuer != want.Issuer || p.CertID != want.Certificate ||
			p.Type != want.Type || p.Holder != want.Holder || p.IssuedAt.Format(time.DateOnly) != want.IssuedOn ||
			p.ExpiresAt.Format(time.DateOnly) != want.LastValid || hex.EncodeToString(p.DataHash) != want.DataHashHex || p.Format != v.Format {
			t.Errorf("%s: verified as %+v, %v; want %+v", v.Name, p, err, want)
		}
		// The data hash is recomputed from the data in the vector.
		if hex.EncodeToString(DataHash(v.Data)) != want.DataHashHex {
			t.Errorf("%s: DataHash(data) differs from the signed hash", v.Name)
		}
	case "not_authentic":
		wantErr := map[string]error{"bad_signature": ErrBadSignature, "unknown_key": ErrUnknownKey}[v.Error]
		if wantErr == nil || !errors.Is(err, wantErr) {
			t.Errorf("%s: Verify = %v, want %s", v.Name, err, v.Error)
		}
	default:
		t.Errorf("%s: unknown expectation %q", v.Name, v.Expect)
	}
}
