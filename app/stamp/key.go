package stamp

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"

	"github.com/veraison/go-cose"
)

// kidLen is the length of a key id: 12 base64url characters, 72 bits of the thumbprint.
const kidLen = 12

// Key is one stamp key: an ECDSA P-256 key pair, or only its public half for a key
// that verifies but no longer signs. A Key is immutable and safe for concurrent use.
type Key struct {
	kid      string
	priv     *ecdsa.PrivateKey // nil for a verify-only key
	pub      *ecdsa.PublicKey
	point    []byte // uncompressed SEC 1 point: 0x04 || X || Y
	signer   cose.Signer
	verifier cose.Verifier
}

// GenerateKey returns a new P-256 signing key from crypto/rand.
func GenerateKey() (*Key, error) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("stamp: generating key: %w", err)
	}
	return NewSigningKey(priv)
}

// NewSigningKey wraps a P-256 private key.
func NewSigningKey(priv *ecdsa.PrivateKey) (*Key, error) {
	if priv == nil {
		return nil, errors.New("stamp: nil private key")
	}
	k, err := NewVerifyKey(&priv.PublicKey)
	if err != nil {
		return nil, err
	}
	k.priv = priv
	if k.signer, err = cose.NewSigner(cose.AlgorithmES256, priv); err != nil {
		return nil, fmt.Errorf("stamp: %w", err)
	}
	return k, nil
}

// NewVerifyKey wraps a P-256 public key; the Key verifies but cannot sign.
func NewVerifyKey(pub *ecdsa.PublicKey) (*Key, error) {
	if pub == nil || pub.Curve != elliptic.P256() {
		return nil, errors.New("stamp: key is not an ECDSA P-256 key")
	}
	point, err := pub.Bytes()
	if err != nil {
		return nil, fmt.Errorf("stamp: invalid public key: %w", err)
	}
	verifier, err := cose.NewVerifier(cose.AlgorithmES256, pub)
	if err != nil {
		return nil, fmt.Errorf("stamp: %w", err)
	}
	return &Key{kid: thumbprintKID(point), pub: pub, point: point, verifier: verifier}, nil
}

// KID returns the key id: the first 12 characters of the base64url RFC 7638 JWK
// thumbprint (SHA-256) of the public key.
func (k *Key) KID() string { return k.kid }

// Public returns the public key.
func (k *Key) Public() *ecdsa.PublicKey { return k.pub }

// CanSign reports whether the Key holds a private key.
func (k *Key) CanSign() bool { return k.priv != nil }

// verifyOnly returns k without its private half.
func (k *Key) verifyOnly() *Key {
	if k.priv == nil {
		return k
	}
	c := *k
	c.priv, c.signer = nil, nil
	return &c
}

// xy returns the base64url coordinates of the public key, as a JWK writes them.
func (k *Key) xy() (x, y string) {
	return b64.EncodeToString(k.point[1:33]), b64.EncodeToString(k.point[33:])
}

// b64 is base64url without padding, rejecting non-zero trailing bits on decode.
var b64 = base64.RawURLEncoding.Strict()

// thumbprintKID computes the kid from an uncompressed P-256 point. The RFC 7638
// thumbprint input is the JWK with only the required members, in lexicographic order,
// without whitespace.
func thumbprintKID(point []byte) string {
	x, y := b64.EncodeToString(point[1:33]), b64.EncodeToString(point[33:])
	canon := `{"crv":"P-256","kty":"EC","x":"` + x + `","y":"` + y + `"}`
	sum := sha256.Sum256([]byte(canon))
	return b64.EncodeToString(sum[:])[:kidLen]
}

// validKID reports whether s has the shape of a key id. Key ids become file names, so
// this also keeps path separators and dots out of them.
func validKID(s string) bool {
	if len(s) != kidLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < 'A' || c > 'Z') && (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' && c != '_' {
			return false
		}
	}
	return true
}
