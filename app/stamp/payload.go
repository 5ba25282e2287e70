package stamp

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"time"

	"github.com/fxamacker/cbor/v2"
)

// Payload is what a stamp certifies. Every field but KeyID and Format is signed.
type Payload struct {
	// Format is the payload layout Verify read: FormatV1 or FormatV2 (Sign writes
	// FormatV2 and ignores this field).
	Format int
	// Issuer names the comune that issued the certificate. Only format 1 carried it
	// (1 to 128 bytes); format 2 leaves it out, since the signing key already says
	// which comune signed, and Verify returns "" for it. Sign ignores it.
	Issuer string
	// KeyID is the kid of the key that signed the stamp. Verify fills it in from the
	// protected header; Sign ignores it (the active key signs).
	KeyID string
	// CertID identifies the certificate: its verification code in canonical form
	// (see NewCode, NormalizeCode). Format 2 signs it as the code's 60-bit number.
	CertID string
	// Type is the kind of certificate, e.g. "stato_famiglia". 1 to 64 bytes.
	Type string
	// Holder is the codice fiscale of the person the certificate is about:
	// 16 characters, digits and upper-case letters.
	Holder string
	// IssuedAt is the issue date. Only the calendar date in the time's own location
	// is signed; Verify returns midnight UTC of that date.
	IssuedAt time.Time
	// ExpiresAt is the last date of validity, same precision as IssuedAt, not before it.
	ExpiresAt time.Time
	// DataHash is the SHA-256 of the certified data as issued (see DataHash): 32 bytes.
	DataHash []byte
}

// Payload formats.
const (
	// FormatV1 is the first layout (until 2026-12): issuer text, code as text. Verify
	// still accepts it, so certificates issued before keep verifying.
	FormatV1 = 1
	// FormatV2 drops the issuer and carries the code as an unsigned integer: 40 bytes
	// shorter, which with the numeric QR transport makes a far smaller symbol.
	FormatV2 = 2
)

// wirePayloadV2 is the signed CBOR form of a Payload in FormatV2. Keys are part of the
// format: never renumber them; a new field takes a new key. Key 1 (issuer) is absent
// and key 2 is an unsigned integer, so no message is valid in both formats.
type wirePayloadV2 struct {
	CertNum   uint64 `cbor:"2,keyasint"`
	Type      string `cbor:"3,keyasint"`
	Holder    string `cbor:"4,keyasint"`
	IssuedAt  int64  `cbor:"5,keyasint"`
	ExpiresAt int64  `cbor:"6,keyasint"`
	DataHash  []byte `cbor:"7,keyasint"`
}

// wirePayload is the signed CBOR form of a Payload in FormatV1, kept to read (and, in
// tests, to write) stamps of that format. Never change it.
type wirePayload struct {
	Issuer    string `cbor:"1,keyasint"`
	CertID    string `cbor:"2,keyasint"`
	Type      string `cbor:"3,keyasint"`
	Holder    string `cbor:"4,keyasint"`
	IssuedAt  int64  `cbor:"5,keyasint"`
	ExpiresAt int64  `cbor:"6,keyasint"`
	DataHash  []byte `cbor:"7,keyasint"`
}

const (
	secondsPerDay = 24 * 60 * 60
	// maxDay bounds the dates a payload may carry (day 100000 is in the year 2243),
	// so that no arithmetic on decoded values can overflow.
	maxDay = 100000
)

var (
	// detEnc is the core deterministic encoding used for payloads and data hashes.
	detEnc cbor.EncMode
	// hashEnc is detEnc with the choices DataHash documents for its input.
	hashEnc cbor.EncMode
	// strictDec decodes payloads, refusing anything a wirePayload would not encode to.
	strictDec cbor.DecMode
)

func init() {
	var err error
	if detEnc, err = cbor.CoreDetEncOptions().EncMode(); err != nil {
		panic(err)
	}
	ho := cbor.CoreDetEncOptions()
	ho.Time = cbor.TimeUnixDynamic
	ho.NilContainers = cbor.NilContainerAsEmpty
	if hashEnc, err = ho.EncMode(); err != nil {
		panic(err)
	}
	strictDec, err = cbor.DecOptions{
		DupMapKey:         cbor.DupMapKeyEnforcedAPF,
		IndefLength:       cbor.IndefLengthForbidden,
		TagsMd:            cbor.TagsForbidden,
		ExtraReturnErrors: cbor.ExtraDecErrorUnknownField,
		MaxNestedLevels:   4,
		MaxArrayElements:  16,
		MaxMapPairs:       16,
		UTF8:              cbor.UTF8RejectInvalid,
	}.DecMode()
	if err != nil {
		panic(err)
	}
}

// DataHash returns the SHA-256 of the core deterministic CBOR encoding (RFC 8949
// §4.2.1) of fields, a struct or map holding the certified data, so that the same data
// always hashes the same whatever the map order. Struct fields are keyed by name (or
// their cbor/json tag); nil and empty slices and maps hash alike; a time.Time hashes as
// its instant in Unix seconds rounded to the microsecond, whatever its location.
// Numbers hash by value and kind: 5 and 5.0 differ, so data read back from JSON
// (where every number is a float64) should be decoded into the same typed struct.
// Renaming a field changes the hash of every certificate, so hash a dedicated,
// stable snapshot type.
//
// DataHash panics if fields holds something CBOR cannot encode (a func or a channel):
// that is a programming error, like a bad pattern passed to regexp.MustCompile.
func DataHash(fields any) []byte {
	b, err := hashEnc.Marshal(fields)
	if err != nil {
		panic(fmt.Sprintf("stamp: DataHash: cannot encode %T: %v", fields, err))
	}
	sum := sha256.Sum256(b)
	return sum[:]
}

// day converts a time to its calendar date, as days since 1970-01-01.
func day(t time.Time) int64 {
	y, m, d := t.Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC).Unix() / secondsPerDay
}

// dayTime is the inverse of day: midnight UTC of the date.
func dayTime(d int64) time.Time {
	return time.Unix(d*secondsPerDay, 0).UTC()
}

// validate checks the rules the Payload fields document.
func (w *wirePayload) validate() error {
	switch {
	case w.Issuer == "" || len(w.Issuer) > 128:
		return errors.New("issuer must be 1 to 128 bytes")
	case w.CertID == "" || len(w.CertID) > 64:
		return errors.New("certificate id must be 1 to 64 bytes")
	case w.Type == "" || len(w.Type) > 64:
		return errors.New("type must be 1 to 64 bytes")
	case !validHolder(w.Holder):
		return errors.New("holder must be a codice fiscale: 16 digits or upper-case letters")
	case w.IssuedAt <= 0 || w.IssuedAt > maxDay:
		return errors.New("issue date out of range")
	case w.ExpiresAt <= 0 || w.ExpiresAt > maxDay:
		return errors.New("expiry date out of range")
	case w.ExpiresAt < w.IssuedAt:
		return errors.New("expiry date before issue date")
	case len(w.DataHash) != sha256.Size:
		return fmt.Errorf("data hash must be %d bytes", sha256.Size)
	}
	return nil
}

func validHolder(s string) bool {
	if len(s) != 16 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'A' || c > 'Z') {
			return false
		}
	}
	return true
}

// encodePayload validates p and returns its signed encoding, in FormatV2.
func encodePayload(p Payload) ([]byte, error) {
	num, ok := codeValue(p.CertID)
	if !ok {
		return nil, fmt.Errorf("%w: certificate id must be a verification code in canonical form", ErrInvalidPayload)
	}
	w := wirePayload{
		Issuer:    "-", // not in FormatV2; set so that the shared rules pass
		CertID:    p.CertID,
		Type:      p.Type,
		Holder:    p.Holder,
		DataHash:  p.DataHash,
		IssuedAt:  -1,
		ExpiresAt: -1,
	}
	// The zero time is "not set", not year 1.
	if !p.IssuedAt.IsZero() {
		w.IssuedAt = day(p.IssuedAt)
	}
	if !p.ExpiresAt.IsZero() {
		w.ExpiresAt = day(p.ExpiresAt)
	}
	if err := w.validate(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidPayload, err)
	}
	return detEnc.Marshal(wirePayloadV2{CertNum: num, Type: w.Type, Holder: w.Holder,
		IssuedAt: w.IssuedAt, ExpiresAt: w.ExpiresAt, DataHash: w.DataHash})
}

// encodePayloadV1 validates p and returns its FormatV1 encoding (only tests and the
// test-vector generator write this format now).
func encodePayloadV1(p Payload) ([]byte, error) {
	w := wirePayload{
		Issuer:    p.Issuer,
		CertID:    p.CertID,
		Type:      p.Type,
		Holder:    p.Holder,
		DataHash:  p.DataHash,
		IssuedAt:  -1,
		ExpiresAt: -1,
	}
	// The zero time is "not set", not year 1.
	if !p.IssuedAt.IsZero() {
		w.IssuedAt = day(p.IssuedAt)
	}
	if !p.ExpiresAt.IsZero() {
		w.ExpiresAt = day(p.ExpiresAt)
	}
	if err := w.validate(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidPayload, err)
	}
	return detEnc.Marshal(w)
}

// decodePayload parses a signed payload in either format. It accepts only the
// canonical encoding of a valid payload, so that one content has exactly one encoding.
func decodePayload(b []byte) (Payload, error) {
	var w wirePayload
	errV1 := strictDec.Unmarshal(b, &w)
	if errV1 == nil {
		if err := w.validate(); err != nil {
			return Payload{}, fmt.Errorf("%w: payload: %v", ErrMalformed, err)
		}
		if again, err := detEnc.Marshal(w); err != nil || !bytes.Equal(again, b) {
			return Payload{}, fmt.Errorf("%w: payload: not in canonical encoding", ErrMalformed)
		}
		return Payload{
			Format:    FormatV1,
			Issuer:    w.Issuer,
			CertID:    w.CertID,
			Type:      w.Type,
			Holder:    w.Holder,
			IssuedAt:  dayTime(w.IssuedAt),
			ExpiresAt: dayTime(w.ExpiresAt),
			DataHash:  w.DataHash,
		}, nil
	}
	var w2 wirePayloadV2
	if err := strictDec.Unmarshal(b, &w2); err != nil {
		return Payload{}, fmt.Errorf("%w: payload: %v", ErrMalformed, errV1)
	}
	if w2.CertNum >= 1<<60 {
		return Payload{}, fmt.Errorf("%w: payload: certificate number out of range", ErrMalformed)
	}
	w = wirePayload{Issuer: "-", CertID: formatCode(w2.CertNum), Type: w2.Type, Holder: w2.Holder,
		IssuedAt: w2.IssuedAt, ExpiresAt: w2.ExpiresAt, DataHash: w2.DataHash}
	if err := w.validate(); err != nil {
		return Payload{}, fmt.Errorf("%w: payload: %v", ErrMalformed, err)
	}
	if again, err := detEnc.Marshal(w2); err != nil || !bytes.Equal(again, b) {
		return Payload{}, fmt.Errorf("%w: payload: not in canonical encoding", ErrMalformed)
	}
	return Payload{
		Format:    FormatV2,
		CertID:    w.CertID,
		Type:      w.Type,
		Holder:    w.Holder,
		IssuedAt:  dayTime(w.IssuedAt),
		ExpiresAt: dayTime(w.ExpiresAt),
		DataHash:  w.DataHash,
	}, nil
}
