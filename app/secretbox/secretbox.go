// Package secretbox encrypts, with the portal's system secret, the values that would
// let whoever reads a copy of the database sign, derive or check credentials: the
// identity provider's signing keys and token keys, TOTP secrets.
//
// The contract:
//
//   - The system secret lives outside the database (configuration key
//     secrets.system, SPORTELLO_SECRETS_SYSTEM): a list, newest first. New values
//     are sealed with the newest secret; any secret of the list opens them, so a
//     secret can be rotated (add the new one in front, run `sportello secrets
//     rotate`, then drop the old one).
//   - Each purpose ("idp.signing_key", "accounts.totp"...) has its own key, derived
//     from the secret with HKDF-SHA256 (info = purpose), so a key never serves two
//     purposes.
//   - Sealing is XChaCha20-Poly1305 (golang.org/x/crypto) with a random 192-bit
//     nonce, which is safe to draw at random for any number of messages.
//   - A sealed value is text, storable in any column of both databases:
//     "sb1:<key id>:<base64url(nonce || ciphertext)>". The key id (16 hex digits) is
//     derived from the secret by HKDF with its own info string: it names which secret
//     sealed the value without revealing anything about it.
//   - The additional data binds a value to its purpose and to its row (the caller's
//     context, such as the account id): a sealed value copied into another row, or
//     another column with another purpose, does not open.
package secretbox

import (
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"

	"golang.org/x/crypto/chacha20poly1305"
)

// Prefix starts every sealed value (format version 1).
const Prefix = "sb1:"

// KeyIDLen is the length of a key id (hex digits).
const KeyIDLen = 16

// MinSecretLen is the shortest system secret accepted, in characters.
const MinSecretLen = 32

// Errors returned by Open. They never include the value or the secret.
var (
	// ErrMalformed: the value is not a sealed value of a known format.
	ErrMalformed = errors.New("secretbox: not a sealed value")
	// ErrUnknownKey: the value was sealed with a secret that is not configured.
	ErrUnknownKey = errors.New("secretbox: sealed with a system secret that is not configured")
	// ErrTampered: the value does not authenticate (changed, or moved to another row
	// or purpose).
	ErrTampered = errors.New("secretbox: sealed value does not authenticate (changed or moved)")
)

// Box seals and opens values with a list of system secrets, newest first. It is safe
// for concurrent use.
type Box struct {
	keys []*secretKey
}

type secretKey struct {
	id  string
	prk []byte // HKDF pseudorandom key extracted from the secret
	// aeads caches the cipher of each purpose (purpose -> cipherAEAD): the HKDF
	// derivation and the cipher setup cost more than sealing a short value.
	aeads sync.Map
}

// New builds a box from the system secrets, newest first (the first one seals). It
// refuses an empty list, a secret shorter than MinSecretLen, and repeated secrets.
func New(secrets []string) (*Box, error) {
	if len(secrets) == 0 {
		return nil, errors.New("secretbox: no system secret")
	}
	b := &Box{}
	seen := map[string]bool{}
	for i, s := range secrets {
		if len(s) < MinSecretLen {
			return nil, fmt.Errorf("secretbox: system secret #%d is shorter than %d characters", i+1, MinSecretLen)
		}
		prk, err := hkdf.Extract(sha256.New, []byte(s), []byte("sportello secretbox v1"))
		if err != nil {
			return nil, err
		}
		idb, err := hkdf.Expand(sha256.New, prk, "sportello secretbox v1 key id", KeyIDLen/2)
		if err != nil {
			return nil, err
		}
		id := hex.EncodeToString(idb)
		if seen[id] {
			return nil, fmt.Errorf("secretbox: system secret #%d is repeated", i+1)
		}
		seen[id] = true
		b.keys = append(b.keys, &secretKey{id: id, prk: prk})
	}
	return b, nil
}

// Generate returns a new random system secret (256 bits, base64url).
func Generate() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// KeyID is the id of the newest secret, the one Seal uses.
func (b *Box) KeyID() string { return b.keys[0].id }

// KeyIDs are the ids of every configured secret, newest first.
func (b *Box) KeyIDs() []string {
	out := make([]string, len(b.keys))
	for i, k := range b.keys {
		out[i] = k.id
	}
	return out
}

// Known reports whether the secret with this key id is configured.
func (b *Box) Known(keyID string) bool {
	return b.find(keyID) != nil
}

func (b *Box) find(id string) *secretKey {
	for _, k := range b.keys {
		if k.id == id {
			return k
		}
	}
	return nil
}

func (k *secretKey) aead(purpose string) (cipherAEAD, error) {
	if a, ok := k.aeads.Load(purpose); ok {
		return a.(cipherAEAD), nil
	}
	key, err := hkdf.Expand(sha256.New, k.prk, "sportello secretbox v1 purpose "+purpose, chacha20poly1305.KeySize)
	if err != nil {
		return nil, err
	}
	a, err := chacha20poly1305.NewX(key)
	if err != nil {
		return nil, err
	}
	k.aeads.Store(purpose, a)
	return a, nil
}

type cipherAEAD interface {
	NonceSize() int
	Overhead() int
	Seal(dst, nonce, plaintext, additionalData []byte) []byte
	Open(dst, nonce, ciphertext, additionalData []byte) ([]byte, error)
}

// additional data: format, key id, purpose and row context, length-prefixed so that
// no two different (purpose, context) pairs give the same bytes.
func aad(keyID, purpose, context string) []byte {
	return fmt.Appendf(nil, "sb1|%s|%d:%s|%d:%s", keyID, len(purpose), purpose, len(context), context)
}

// Seal encrypts plaintext for purpose, bound to context (the row it is stored in),
// with the newest secret.
func (b *Box) Seal(purpose, context string, plaintext []byte) (string, error) {
	k := b.keys[0]
	a, err := k.aead(purpose)
	if err != nil {
		return "", err
	}
	nonce := make([]byte, a.NonceSize(), a.NonceSize()+len(plaintext)+a.Overhead())
	rand.Read(nonce)
	out := a.Seal(nonce, nonce, plaintext, aad(k.id, purpose, context))
	return Prefix + k.id + ":" + base64.RawURLEncoding.EncodeToString(out), nil
}

// SealString is Seal for text.
func (b *Box) SealString(purpose, context, plaintext string) (string, error) {
	return b.Seal(purpose, context, []byte(plaintext))
}

// IsSealed reports whether v looks like a sealed value (it may still fail to open).
func IsSealed(v string) bool { return strings.HasPrefix(v, Prefix) }

// KeyIDOf returns the key id a sealed value names, or ErrMalformed.
func KeyIDOf(v string) (string, error) {
	rest, ok := strings.CutPrefix(v, Prefix)
	if !ok {
		return "", ErrMalformed
	}
	id, _, ok := strings.Cut(rest, ":")
	if !ok || len(id) != KeyIDLen {
		return "", ErrMalformed
	}
	return id, nil
}

// Open decrypts a value sealed for purpose and context with any configured secret.
func (b *Box) Open(purpose, context, sealed string) ([]byte, error) {
	id, err := KeyIDOf(sealed)
	if err != nil {
		return nil, err
	}
	k := b.find(id)
	if k == nil {
		return nil, fmt.Errorf("%w (key id %s)", ErrUnknownKey, id)
	}
	raw, err := base64.RawURLEncoding.DecodeString(sealed[len(Prefix)+KeyIDLen+1:])
	if err != nil {
		return nil, ErrMalformed
	}
	a, err := k.aead(purpose)
	if err != nil {
		return nil, err
	}
	if len(raw) < a.NonceSize()+a.Overhead() {
		return nil, ErrMalformed
	}
	out, err := a.Open(nil, raw[:a.NonceSize()], raw[a.NonceSize():], aad(id, purpose, context))
	if err != nil {
		return nil, ErrTampered
	}
	return out, nil
}

// OpenString is Open for text.
func (b *Box) OpenString(purpose, context, sealed string) (string, error) {
	out, err := b.Open(purpose, context, sealed)
	return string(out), err
}

// Reseal returns v sealed with the newest secret: a value sealed with an older
// configured secret is opened and sealed again, a value not sealed at all (written
// before encryption at rest existed) is sealed. changed is false when v already is
// sealed with the newest secret.
func (b *Box) Reseal(purpose, context, v string) (out string, changed bool, err error) {
	if !IsSealed(v) {
		out, err = b.SealString(purpose, context, v)
		return out, err == nil, err
	}
	id, err := KeyIDOf(v)
	if err != nil {
		return "", false, err
	}
	if id == b.KeyID() {
		return v, false, nil
	}
	plain, err := b.Open(purpose, context, v)
	if err != nil {
		return "", false, err
	}
	out, err = b.Seal(purpose, context, plain)
	return out, err == nil, err
}
