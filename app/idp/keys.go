package idp

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v3"
	"gorm.io/gorm"

	"github.com/comuni-italiani/sportello/app/audit"
	"github.com/comuni-italiani/sportello/app/secretbox"
	"github.com/comuni-italiani/sportello/app/store"
)

// Signing keys. ID tokens are signed RS256 (the OpenID Connect default every client
// library accepts) with a 2048-bit key kept in idp_keys, so that every replica signs
// with the same key. Exactly one key is current; RotateKeys retires it and makes a new
// one current. A retired key stays in the JWKS for KeyRetention, longer than any token
// it signed lives (ID tokens live IDTokenLifespan; the retention also covers an old ID
// token sent back as id_token_hint at logout), then it is deleted.
const (
	// SigningAlg is the JWS algorithm of ID tokens.
	SigningAlg = "RS256"
	rsaBits    = 2048
	// KeyRetention is how long a retired key stays published.
	KeyRetention = RefreshTokenLifespan
	// keyCacheTTL is how long a replica signs with the key it loaded before checking
	// for a rotation made elsewhere. The old key stays published, so tokens signed in
	// that minute still verify.
	keyCacheTTL = time.Minute
)

// keyCache holds the current private key of this process.
type keyCache struct {
	mu       sync.Mutex
	key      *jose.JSONWebKey
	loadedAt time.Time
}

func generateKey() (*rsa.PrivateKey, string, error) {
	priv, err := rsa.GenerateKey(rand.Reader, rsaBits)
	if err != nil {
		return nil, "", err
	}
	jwk := jose.JSONWebKey{Key: &priv.PublicKey}
	tp, err := jwk.Thumbprint(crypto.SHA256)
	if err != nil {
		return nil, "", err
	}
	return priv, base64.RawURLEncoding.EncodeToString(tp), nil
}

func newKeyRow(box *secretbox.Box, now time.Time) (*keyRow, error) {
	priv, kid, err := generateKey()
	if err != nil {
		return nil, fmt.Errorf("idp: generate signing key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, err
	}
	// The PEM is sealed with the system secret, bound to the kid (sealed.go).
	sealed, err := box.Seal(keyPurpose, kid, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
	if err != nil {
		return nil, err
	}
	one := 1
	return &keyRow{KID: kid, Alg: SigningAlg, Current: &one, CreatedAt: now.UTC(), PrivatePEM: sealed}, nil
}

// jwk opens the row's private key with the system secret.
func (r *keyRow) jwk(box *secretbox.Box) (*jose.JSONWebKey, error) {
	plain, err := box.Open(keyPurpose, r.KID, r.PrivatePEM)
	if err != nil {
		return nil, fmt.Errorf("idp: key %s: %w", r.KID, err)
	}
	block, _ := pem.Decode(plain)
	if block == nil {
		return nil, fmt.Errorf("idp: key %s: no PEM block", r.KID)
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("idp: key %s: %w", r.KID, err)
	}
	priv, ok := k.(*rsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("idp: key %s is not an RSA key", r.KID)
	}
	return &jose.JSONWebKey{Key: priv, KeyID: r.KID, Algorithm: r.Alg, Use: "sig"}, nil
}

// ensureKey creates the first signing key unless one is current. Two replicas starting
// at once both try; the unique index keeps one.
func (p *Provider) ensureKey(ctx context.Context) error {
	var n int64
	if err := p.db.WithContext(ctx).Model(&keyRow{}).Where("current = ?", 1).Count(&n).Error; err != nil {
		return err
	}
	if n > 0 {
		return nil
	}
	row, err := newKeyRow(p.box, p.now())
	if err != nil {
		return err
	}
	err = p.db.WithContext(ctx).Create(row).Error
	if errors.Is(err, store.ErrDuplicate) {
		return nil
	}
	if err == nil {
		p.log.Info("identity provider signing key created", "kid", row.KID)
	}
	return err
}

// signingKey returns the current private key, reloading it from the database at most
// every keyCacheTTL.
func (p *Provider) signingKey(ctx context.Context) (*jose.JSONWebKey, error) {
	p.keys.mu.Lock()
	defer p.keys.mu.Unlock()
	if p.keys.key != nil && p.now().Sub(p.keys.loadedAt) < keyCacheTTL {
		return p.keys.key, nil
	}
	var row keyRow
	if err := p.db.WithContext(ctx).Where("current = ?", 1).Take(&row).Error; err != nil {
		return nil, fmt.Errorf("idp: load signing key: %w", err)
	}
	k, err := row.jwk(p.box)
	if err != nil {
		return nil, err
	}
	p.keys.key, p.keys.loadedAt = k, p.now()
	return k, nil
}

// publishedKeys returns the public keys of the JWKS: the current key first, then the
// retired ones still published, newest first.
func (p *Provider) publishedKeys(ctx context.Context) ([]jose.JSONWebKey, error) {
	var rows []keyRow
	if err := p.db.WithContext(ctx).Where("current = ? OR publish_until > ?", 1, p.now().UTC()).
		Order("created_at DESC").Find(&rows).Error; err != nil {
		return nil, err
	}
	out := make([]jose.JSONWebKey, 0, len(rows))
	for i := range rows {
		k, err := rows[i].jwk(p.box)
		if err != nil {
			return nil, err
		}
		pub := k.Public()
		if rows[i].Current != nil {
			out = append([]jose.JSONWebKey{pub}, out...)
		} else {
			out = append(out, pub)
		}
	}
	return out, nil
}

// JWKS returns the provider's public key set as served at /idp/jwks.
func (p *Provider) JWKS(ctx context.Context) (*jose.JSONWebKeySet, error) {
	keys, err := p.publishedKeys(ctx)
	if err != nil {
		return nil, err
	}
	return &jose.JSONWebKeySet{Keys: keys}, nil
}

// RotateKeys makes a new signing key current and retires the previous one, which
// stays in the JWKS for KeyRetention so that the tokens it signed still verify. It
// returns the new key id. Other replicas start signing with the new key within a
// minute. The rotation is audited.
func (p *Provider) RotateKeys(ctx context.Context) (string, error) {
	now := p.now().UTC()
	row, err := newKeyRow(p.box, now)
	if err != nil {
		return "", err
	}
	until := now.Add(KeyRetention)
	var old []string
	err = store.WithTx(ctx, p.db, func(tx *gorm.DB) error {
		if err := tx.Model(&keyRow{}).Where("current = ?", 1).Pluck("kid", &old).Error; err != nil {
			return err
		}
		if err := tx.Model(&keyRow{}).Where("current = ?", 1).Updates(map[string]any{
			"current": nil, "retired_at": now, "publish_until": until,
		}).Error; err != nil {
			return err
		}
		if err := tx.Create(row).Error; err != nil {
			return err
		}
		return audit.Record(ctx, tx, audit.Entry{ActorKind: audit.ActorSystem, Action: "idp.keys_rotate",
			ObjectType: "idp_key", ObjectID: row.KID, Details: map[string]any{"retired": old}})
	})
	if err != nil {
		return "", fmt.Errorf("idp: rotate keys: %w", err)
	}
	p.keys.mu.Lock()
	p.keys.key = nil
	p.keys.mu.Unlock()
	p.log.Info("identity provider signing key rotated", "kid", row.KID, "retired", old)
	return row.KID, nil
}

// deleteRetiredKeys removes keys no longer published.
func (p *Provider) deleteRetiredKeys(ctx context.Context) (int64, error) {
	res := p.db.WithContext(ctx).Where("current IS NULL AND publish_until < ?", p.now().UTC()).Delete(&keyRow{})
	return res.RowsAffected, res.Error
}

// idTokenClaims verifies an ID token this provider signed with any published key,
// whether or not it has expired (an id_token_hint may be expired), and returns its
// issuer, subject and audience.
func (p *Provider) idTokenClaims(ctx context.Context, raw string) (sub string, aud []string, err error) {
	jws, err := jose.ParseSigned(raw)
	if err != nil {
		return "", nil, err
	}
	if len(jws.Signatures) != 1 {
		return "", nil, errors.New("idp: one signature expected")
	}
	h := jws.Signatures[0].Header
	if h.Algorithm != SigningAlg {
		return "", nil, fmt.Errorf("idp: unexpected algorithm %q", h.Algorithm)
	}
	keys, err := p.publishedKeys(ctx)
	if err != nil {
		return "", nil, err
	}
	var payload []byte
	for _, k := range keys {
		if k.KeyID == h.KeyID {
			payload, err = jws.Verify(k.Key)
			if err != nil {
				return "", nil, err
			}
			break
		}
	}
	if payload == nil {
		return "", nil, errors.New("idp: unknown key id")
	}
	var c struct {
		Iss string          `json:"iss"`
		Sub string          `json:"sub"`
		Aud json.RawMessage `json:"aud"`
	}
	if err := json.Unmarshal(payload, &c); err != nil {
		return "", nil, err
	}
	if c.Iss != p.issuer {
		return "", nil, errors.New("idp: foreign issuer")
	}
	var one string
	if json.Unmarshal(c.Aud, &one) == nil {
		aud = []string{one}
	} else if err := json.Unmarshal(c.Aud, &aud); err != nil {
		return "", nil, errors.New("idp: bad audience")
	}
	return c.Sub, aud, nil
}
