package stamp

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"encoding/json"
	"errors"
	"fmt"
)

// JWKSPath is where the portal publishes PublicJWKS.
const JWKSPath = "/.well-known/sportello-stamp-keys.json"

// Key status values in the published key set.
const (
	StatusActive  = "active"  // the key that signs new stamps
	StatusRetired = "retired" // a former key, still valid for the stamps it made
)

// jwk is one public key in a JWK Set (RFC 7517), with the non-standard "status".
type jwk struct {
	Kty    string `json:"kty"`
	Crv    string `json:"crv"`
	X      string `json:"x"`
	Y      string `json:"y"`
	Kid    string `json:"kid"`
	Use    string `json:"use,omitempty"`
	Alg    string `json:"alg,omitempty"`
	Status string `json:"status,omitempty"`
}

type jwkSet struct {
	Keys []jwk `json:"keys"`
}

// PublicJWKS returns the public keys of the ring as a JWK Set: the active key first,
// then the retired ones by kid, each with kty, crv, x, y, kid, use "sig", alg "ES256"
// and status "active" or "retired". It holds no private material and is meant to be
// published (JWKSPath).
func (r *KeyRing) PublicJWKS() ([]byte, error) {
	set := jwkSet{Keys: make([]jwk, 0, len(r.keys))}
	add := func(k *Key, status string) {
		x, y := k.xy()
		set.Keys = append(set.Keys, jwk{
			Kty: "EC", Crv: "P-256", X: x, Y: y, Kid: k.kid,
			Use: "sig", Alg: "ES256", Status: status,
		})
	}
	if r.active != nil {
		add(r.active, StatusActive)
	}
	for _, kid := range r.KIDs() {
		if k := r.keys[kid]; k != r.active {
			add(k, StatusRetired)
		}
	}
	return json.MarshalIndent(set, "", "  ")
}

// KeyRingFromJWKS builds a verify-only ring from a JWK Set such as PublicJWKS writes,
// for offline verification. Keys of another type, curve, algorithm or use are skipped;
// a P-256 key that is invalid, or whose kid is not its thumbprint, is an error, and so
// is a set with no usable key. Status is ignored: retired keys verify too.
func KeyRingFromJWKS(data []byte) (*KeyRing, error) {
	var set jwkSet
	if err := json.Unmarshal(data, &set); err != nil {
		return nil, fmt.Errorf("stamp: parsing key set: %w", err)
	}
	var keys []*Key
	for _, j := range set.Keys {
		if j.Kty != "EC" || j.Crv != "P-256" || (j.Alg != "" && j.Alg != "ES256") || (j.Use != "" && j.Use != "sig") {
			continue
		}
		k, err := keyFromJWK(j)
		if err != nil {
			return nil, fmt.Errorf("stamp: key set: key %q: %w", j.Kid, err)
		}
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		return nil, errors.New("stamp: key set has no ES256 P-256 key")
	}
	return NewKeyRing(nil, keys...)
}

func keyFromJWK(j jwk) (*Key, error) {
	x, errX := b64.DecodeString(j.X)
	y, errY := b64.DecodeString(j.Y)
	if errX != nil || errY != nil || len(x) != 32 || len(y) != 32 {
		return nil, errors.New("x and y must be 32-byte base64url coordinates")
	}
	point := append(append([]byte{4}, x...), y...)
	pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), point)
	if err != nil {
		return nil, err
	}
	k, err := NewVerifyKey(pub)
	if err != nil {
		return nil, err
	}
	if k.kid != j.Kid {
		return nil, fmt.Errorf("kid is not the key's thumbprint (%s)", k.kid)
	}
	return k, nil
}
