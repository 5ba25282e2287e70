package stamp

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"slices"

	"github.com/veraison/go-cose"
)

// Errors returned by Verify, VerifyURL, Decode and ParseVerificationURL; test them
// with errors.Is. The wrapped message says what exactly was wrong.
var (
	// ErrMalformed: not a stamp in this package's format (bad transport encoding,
	// not a COSE_Sign1, algorithm other than ES256, non-canonical or bad CBOR,
	// missing or invalid payload fields, oversized input).
	ErrMalformed = errors.New("stamp: malformed stamp")
	// ErrUnknownKey: the stamp names a key id the ring does not hold.
	ErrUnknownKey = errors.New("stamp: unknown key")
	// ErrBadSignature: the signature does not match the content and the named key.
	ErrBadSignature = errors.New("stamp: bad signature")
)

// Errors returned by Sign.
var (
	// ErrNoSigningKey: the ring has no active key (it was built for verification only).
	ErrNoSigningKey = errors.New("stamp: key ring has no signing key")
	// ErrInvalidPayload: a Payload field breaks the rules documented on Payload.
	ErrInvalidPayload = errors.New("stamp: invalid payload")
)

// es256SigLen is the length of an ES256 signature in COSE: r || s, 32 bytes each.
const es256SigLen = 64

// KeyRing holds the comune's stamp keys by key id: at most one active key that signs,
// and any number of keys that only verify. It is immutable and safe for concurrent use.
type KeyRing struct {
	keys   map[string]*Key
	active *Key
}

// NewKeyRing builds a ring whose active signing key is active and which also verifies
// with the others. active may be nil for a verify-only ring; otherwise it must hold a
// private key. Only the active key signs: the private half of the others is dropped.
func NewKeyRing(active *Key, others ...*Key) (*KeyRing, error) {
	r := &KeyRing{keys: make(map[string]*Key, len(others)+1)}
	for _, k := range others {
		if k == nil {
			return nil, errors.New("stamp: nil key")
		}
		r.keys[k.kid] = k.verifyOnly()
	}
	if active != nil {
		if !active.CanSign() {
			return nil, fmt.Errorf("stamp: active key %s has no private key", active.kid)
		}
		r.keys[active.kid] = active
		r.active = active
	}
	if len(r.keys) == 0 {
		return nil, errors.New("stamp: empty key ring")
	}
	return r, nil
}

// ActiveKID returns the kid of the signing key, or "" for a verify-only ring.
func (r *KeyRing) ActiveKID() string {
	if r.active == nil {
		return ""
	}
	return r.active.kid
}

// KIDs returns the ids of all keys in the ring, sorted.
func (r *KeyRing) KIDs() []string {
	ids := make([]string, 0, len(r.keys))
	for kid := range r.keys {
		ids = append(ids, kid)
	}
	slices.Sort(ids)
	return ids
}

// Sign validates p and returns it as a COSE_Sign1 message signed by the active key.
// p.KeyID is ignored. Errors: ErrNoSigningKey, ErrInvalidPayload.
func (r *KeyRing) Sign(p Payload) ([]byte, error) {
	if r.active == nil {
		return nil, ErrNoSigningKey
	}
	payload, err := encodePayload(p)
	if err != nil {
		return nil, err
	}
	return r.signPayload(payload)
}

// signPayload signs an encoded payload with the active key.
func (r *KeyRing) signPayload(payload []byte) ([]byte, error) {
	m := newSign1(r.active.kid, payload, nil)
	if err := m.Sign(rand.Reader, nil, r.active.signer); err != nil {
		return nil, fmt.Errorf("stamp: signing: %w", err)
	}
	return m.MarshalCBOR()
}

// Verify checks a message made by Sign with any key of the ring and returns its
// payload, with KeyID set to the signing key's id. Errors wrap ErrMalformed,
// ErrUnknownKey or ErrBadSignature. Verify does not look at the dates: whether the
// certificate is expired or revoked is for the caller to decide.
func (r *KeyRing) Verify(msg []byte) (Payload, error) {
	if len(msg) == 0 || len(msg) > MaxMessageSize {
		return Payload{}, fmt.Errorf("%w: size %d", ErrMalformed, len(msg))
	}
	var m cose.Sign1Message
	if err := m.UnmarshalCBOR(msg); err != nil {
		return Payload{}, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if alg, err := m.Headers.Protected.Algorithm(); err != nil || alg != cose.AlgorithmES256 {
		return Payload{}, fmt.Errorf("%w: algorithm must be ES256", ErrMalformed)
	}
	rawKID, ok := m.Headers.Protected[cose.HeaderLabelKeyID].([]byte)
	if !ok || !validKID(string(rawKID)) {
		return Payload{}, fmt.Errorf("%w: missing or invalid kid", ErrMalformed)
	}
	kid := string(rawKID)
	if m.Payload == nil || len(m.Signature) != es256SigLen {
		return Payload{}, fmt.Errorf("%w: missing payload or bad signature length", ErrMalformed)
	}
	// One content, one encoding: the message must be byte for byte what Sign writes.
	// This rejects extra or unprotected headers, non-minimal lengths and the like.
	canonical, err := newSign1(kid, m.Payload, m.Signature).MarshalCBOR()
	if err != nil || !bytes.Equal(canonical, msg) {
		return Payload{}, fmt.Errorf("%w: not in canonical encoding", ErrMalformed)
	}
	key := r.keys[kid]
	if key == nil {
		return Payload{}, fmt.Errorf("%w: %s", ErrUnknownKey, kid)
	}
	if err := m.Verify(nil, key.verifier); err != nil {
		return Payload{}, fmt.Errorf("%w: key %s", ErrBadSignature, kid)
	}
	p, err := decodePayload(m.Payload)
	if err != nil {
		return Payload{}, err
	}
	p.KeyID = kid
	return p, nil
}

// newSign1 builds the one COSE_Sign1 shape this package writes and reads.
func newSign1(kid string, payload, sig []byte) *cose.Sign1Message {
	return &cose.Sign1Message{
		Headers: cose.Headers{
			Protected: cose.ProtectedHeader{
				cose.HeaderLabelAlgorithm: cose.AlgorithmES256,
				cose.HeaderLabelKeyID:     []byte(kid),
			},
			Unprotected: cose.UnprotectedHeader{},
		},
		Payload:   payload,
		Signature: sig,
	}
}
