package ztl

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"encoding/hex"
	"errors"
	"strings"
	"time"

	"gorm.io/gorm"
)

// Gate keys are "ztl_<prefix>_<secret>": the prefix (8 characters) finds the key, the
// secret (32 random bytes, 52 characters) proves it. Only the SHA-256 of the whole key
// is kept: a database copy cannot call the API. A plain hash suffices (as for the
// portal's client secrets): the key is random, not a password.
const keyPrefix = "ztl_"

var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

// newKey returns a new key and its prefix.
func newKey() (key, prefix string, err error) {
	b := make([]byte, 37)
	if _, err := rand.Read(b); err != nil {
		return "", "", err
	}
	s := strings.ToLower(b32.EncodeToString(b))
	prefix, secret := s[:8], s[8:]
	return keyPrefix + prefix + "_" + secret, prefix, nil
}

func hashKey(key string) string {
	h := sha256.Sum256([]byte(key))
	return hex.EncodeToString(h[:])
}

// Key check outcomes.
var (
	errNoKey      = errors.New("ztl: no API key")
	errBadKey     = errors.New("ztl: unknown API key")
	errRevokedKey = errors.New("ztl: revoked API key")
)

// parseKey splits a key into its prefix; ok is false for anything not shaped as one.
func parseKey(key string) (prefix string, ok bool) {
	rest, found := strings.CutPrefix(key, keyPrefix)
	if !found || len(rest) != 8+1+52 || rest[8] != '_' {
		return "", false
	}
	return rest[:8], true
}

// checkKey finds the ente's key and checks it. It notes the key's use at most once a
// minute (a conditional UPDATE), so a gate polling every second writes almost nothing.
func checkKey(ctx context.Context, db *gorm.DB, key string, now time.Time) (*GateKey, error) {
	if key == "" {
		return nil, errNoKey
	}
	prefix, ok := parseKey(key)
	if !ok {
		return nil, errBadKey
	}
	var k GateKey
	err := db.WithContext(ctx).Where("prefix = ?", prefix).Take(&k).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, errBadKey
	}
	if err != nil {
		return nil, err
	}
	if subtle.ConstantTimeCompare([]byte(hashKey(key)), []byte(k.Hash)) != 1 {
		return nil, errBadKey
	}
	if k.RevokedAt != nil {
		return &k, errRevokedKey
	}
	if err := db.WithContext(ctx).Model(&GateKey{}).
		Where("id = ? AND (last_used_at IS NULL OR last_used_at < ?)", k.ID, now.Add(-time.Minute)).
		Update("last_used_at", now).Error; err != nil {
		return nil, err
	}
	return &k, nil
}

// createKey stores a new key for the gate system name and returns it (shown once).
func createKey(ctx context.Context, db *gorm.DB, name, by string, now time.Time) (*GateKey, string, error) {
	key, prefix, err := newKey()
	if err != nil {
		return nil, "", err
	}
	k := &GateKey{Name: name, Prefix: prefix, Hash: hashKey(key), CreatedAt: now, CreatedBy: by}
	if err := db.WithContext(ctx).Create(k).Error; err != nil {
		return nil, "", err
	}
	return k, key, nil
}
