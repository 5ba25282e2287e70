package idp

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/ory/fosite"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/comuni-italiani/sportello/app/secretbox"
	"github.com/comuni-italiani/sportello/app/store"
)

// storage implements every fosite storage interface the provider's handlers need
// (fosite.ClientManager, oauth2.CoreStorage, oauth2.TokenRevocationStorage,
// openid.OpenIDConnectRequestStorage, pkce.PKCERequestStorage and
// storage.Transactional) over the portal's database. It keeps token signatures, never
// tokens, and the request that produced each one as JSON, from which it rebuilds a
// fosite.Requester.
type storage struct {
	db   *gorm.DB
	now  func() time.Time
	life lifespans
}

// lifespans are the fallback expiries of rows whose session carries none.
type lifespans struct {
	code, access, refresh time.Duration
}

type txKey struct{}

// conn returns the transaction carried by ctx (BeginTX), or the database.
func (s *storage) conn(ctx context.Context) *gorm.DB {
	if tx, ok := ctx.Value(txKey{}).(*gorm.DB); ok {
		return tx
	}
	return s.db.WithContext(ctx)
}

// BeginTX implements storage.Transactional: fosite wraps the token exchange and the
// refresh rotation in one transaction.
func (s *storage) BeginTX(ctx context.Context) (context.Context, error) {
	if _, ok := ctx.Value(txKey{}).(*gorm.DB); ok {
		return ctx, errors.New("idp: transaction already open")
	}
	tx := s.db.WithContext(ctx).Begin()
	if tx.Error != nil {
		return ctx, tx.Error
	}
	return context.WithValue(ctx, txKey{}, tx), nil
}

// Commit implements storage.Transactional.
func (s *storage) Commit(ctx context.Context) error {
	tx, ok := ctx.Value(txKey{}).(*gorm.DB)
	if !ok {
		return errors.New("idp: no transaction to commit")
	}
	return tx.Commit().Error
}

// Rollback implements storage.Transactional.
func (s *storage) Rollback(ctx context.Context) error {
	tx, ok := ctx.Value(txKey{}).(*gorm.DB)
	if !ok {
		return errors.New("idp: no transaction to roll back")
	}
	return tx.Rollback().Error
}

// storedRequest is a fosite.Requester as a row keeps it. The client is kept by id and
// loaded again, so a removed client's tokens stop working.
type storedRequest struct {
	ID                string          `json:"id"`
	RequestedAt       time.Time       `json:"requested_at"`
	ClientID          string          `json:"client_id"`
	RequestedScopes   []string        `json:"requested_scopes"`
	GrantedScopes     []string        `json:"granted_scopes"`
	RequestedAudience []string        `json:"requested_audience,omitempty"`
	GrantedAudience   []string        `json:"granted_audience,omitempty"`
	Form              url.Values      `json:"form"`
	Session           json.RawMessage `json:"session"`
}

func encodeRequest(r fosite.Requester) (string, error) {
	sess, err := json.Marshal(r.GetSession())
	if err != nil {
		return "", fmt.Errorf("idp: encode session: %w", err)
	}
	sr := storedRequest{
		ID: r.GetID(), RequestedAt: r.GetRequestedAt().UTC(), ClientID: r.GetClient().GetID(),
		RequestedScopes: r.GetRequestedScopes(), GrantedScopes: r.GetGrantedScopes(),
		RequestedAudience: r.GetRequestedAudience(), GrantedAudience: r.GetGrantedAudience(),
		Form: r.GetRequestForm(), Session: sess,
	}
	b, err := json.Marshal(sr)
	if err != nil {
		return "", fmt.Errorf("idp: encode request: %w", err)
	}
	return string(b), nil
}

// decodeRequest rebuilds a stored request with a fresh *Session.
func (s *storage) decodeRequest(ctx context.Context, raw string) (*fosite.Request, error) {
	var sr storedRequest
	if err := json.Unmarshal([]byte(raw), &sr); err != nil {
		return nil, fmt.Errorf("idp: decode request: %w", err)
	}
	client, err := s.GetClient(ctx, sr.ClientID)
	if err != nil {
		return nil, err
	}
	sess := NewSession()
	if len(sr.Session) > 0 && string(sr.Session) != "null" {
		if err := json.Unmarshal(sr.Session, sess); err != nil {
			return nil, fmt.Errorf("idp: decode session: %w", err)
		}
	}
	form := sr.Form
	if form == nil {
		form = url.Values{}
	}
	return &fosite.Request{
		ID: sr.ID, RequestedAt: sr.RequestedAt, Client: client,
		RequestedScope: sr.RequestedScopes, GrantedScope: sr.GrantedScopes,
		RequestedAudience: sr.RequestedAudience, GrantedAudience: sr.GrantedAudience,
		Form: form, Session: sess,
	}, nil
}

// expiry is when the token of type tt in r expires, or now+fallback.
func (s *storage) expiry(r fosite.Requester, tt fosite.TokenType, fallback time.Duration) time.Time {
	if sess := r.GetSession(); sess != nil {
		if t := sess.GetExpiresAt(tt); !t.IsZero() {
			return t.UTC()
		}
	}
	return s.now().UTC().Add(fallback)
}

func subjectOf(r fosite.Requester) string {
	if sess := r.GetSession(); sess != nil {
		return sess.GetSubject()
	}
	return ""
}

func notFound(err error) error {
	if errors.Is(err, store.ErrNotFound) {
		return fosite.ErrNotFound
	}
	return err
}

// hashKey is the SHA-256 of a value that must not be stored as is.
func hashKey(v string) string {
	h := sha256.Sum256([]byte(v))
	return hex.EncodeToString(h[:])
}

// GetClient implements fosite.ClientManager.
func (s *storage) GetClient(ctx context.Context, id string) (fosite.Client, error) {
	var row clientRow
	if err := s.conn(ctx).Where("id = ?", id).Take(&row).Error; err != nil {
		return nil, notFound(err)
	}
	return row.fositeClient()
}

// ClientAssertionJWTValid implements fosite.ClientManager. Clients authenticate with a
// secret (or not at all, when public), never with signed assertions: fosite refuses
// assertions before asking.
func (s *storage) ClientAssertionJWTValid(context.Context, string) error { return nil }

// SetClientAssertionJWT implements fosite.ClientManager (see ClientAssertionJWTValid).
func (s *storage) SetClientAssertionJWT(context.Context, string, time.Time) error {
	return fosite.ErrJTIKnown
}

// CreateAuthorizeCodeSession implements oauth2.AuthorizeCodeStorage.
func (s *storage) CreateAuthorizeCodeSession(ctx context.Context, signature string, r fosite.Requester) error {
	raw, err := encodeRequest(r)
	if err != nil {
		return err
	}
	return s.conn(ctx).Create(&codeRow{
		Signature: signature, RequestID: r.GetID(), ClientID: r.GetClient().GetID(), Active: true,
		Request: raw, ExpiresAt: s.expiry(r, fosite.AuthorizeCode, s.life.code), CreatedAt: s.now().UTC(),
	}).Error
}

// GetAuthorizeCodeSession implements oauth2.AuthorizeCodeStorage. A redeemed code
// returns its request together with fosite.ErrInvalidatedAuthorizeCode, so fosite
// revokes what was issued with it.
func (s *storage) GetAuthorizeCodeSession(ctx context.Context, signature string, _ fosite.Session) (fosite.Requester, error) {
	var row codeRow
	if err := s.conn(ctx).Where("signature = ?", signature).Take(&row).Error; err != nil {
		return nil, notFound(err)
	}
	r, err := s.decodeRequest(ctx, row.Request)
	if err != nil {
		return nil, err
	}
	if !row.Active {
		return r, fosite.ErrInvalidatedAuthorizeCode
	}
	return r, nil
}

// InvalidateAuthorizeCodeSession implements oauth2.AuthorizeCodeStorage. The update
// is conditional on the code being active, so of two exchanges of one code (even on
// two replicas) exactly one gets past this point.
func (s *storage) InvalidateAuthorizeCodeSession(ctx context.Context, signature string) error {
	res := s.conn(ctx).Model(&codeRow{}).Where("signature = ? AND active = ?", signature, true).
		Update("active", false)
	if res.Error != nil {
		return res.Error
	}
	if res.RowsAffected != 1 {
		return fosite.ErrInvalidatedAuthorizeCode
	}
	return nil
}

// CreatePKCERequestSession implements pkce.PKCERequestStorage.
func (s *storage) CreatePKCERequestSession(ctx context.Context, signature string, r fosite.Requester) error {
	raw, err := encodeRequest(r)
	if err != nil {
		return err
	}
	return s.conn(ctx).Create(&pkceRow{
		Signature: signature, RequestID: r.GetID(), Request: raw,
		ExpiresAt: s.expiry(r, fosite.AuthorizeCode, s.life.code), CreatedAt: s.now().UTC(),
	}).Error
}

// GetPKCERequestSession implements pkce.PKCERequestStorage.
func (s *storage) GetPKCERequestSession(ctx context.Context, signature string, _ fosite.Session) (fosite.Requester, error) {
	var row pkceRow
	if err := s.conn(ctx).Where("signature = ?", signature).Take(&row).Error; err != nil {
		return nil, notFound(err)
	}
	return s.decodeRequest(ctx, row.Request)
}

// DeletePKCERequestSession implements pkce.PKCERequestStorage. fosite deletes the
// challenge before comparing it, so each challenge is checked at most once; a
// concurrent second check finds nothing to delete and fails.
func (s *storage) DeletePKCERequestSession(ctx context.Context, signature string) error {
	res := s.conn(ctx).Where("signature = ?", signature).Delete(&pkceRow{})
	if res.Error != nil {
		return res.Error
	}
	if res.RowsAffected != 1 {
		return fosite.ErrNotFound
	}
	return nil
}

// CreateOpenIDConnectSession implements openid.OpenIDConnectRequestStorage.
func (s *storage) CreateOpenIDConnectSession(ctx context.Context, code string, r fosite.Requester) error {
	raw, err := encodeRequest(r)
	if err != nil {
		return err
	}
	return s.conn(ctx).Create(&oidcRow{
		CodeHash: hashKey(code), RequestID: r.GetID(), Request: raw,
		ExpiresAt: s.expiry(r, fosite.AuthorizeCode, s.life.code), CreatedAt: s.now().UTC(),
	}).Error
}

// GetOpenIDConnectSession implements openid.OpenIDConnectRequestStorage.
func (s *storage) GetOpenIDConnectSession(ctx context.Context, code string, _ fosite.Requester) (fosite.Requester, error) {
	var row oidcRow
	if err := s.conn(ctx).Where("code_hash = ?", hashKey(code)).Take(&row).Error; err != nil {
		return nil, notFound(err)
	}
	return s.decodeRequest(ctx, row.Request)
}

// DeleteOpenIDConnectSession implements openid.OpenIDConnectRequestStorage.
func (s *storage) DeleteOpenIDConnectSession(ctx context.Context, code string) error {
	return s.conn(ctx).Where("code_hash = ?", hashKey(code)).Delete(&oidcRow{}).Error
}

// CreateAccessTokenSession implements oauth2.AccessTokenStorage.
func (s *storage) CreateAccessTokenSession(ctx context.Context, signature string, r fosite.Requester) error {
	raw, err := encodeRequest(r)
	if err != nil {
		return err
	}
	return s.conn(ctx).Create(&accessRow{
		Signature: signature, RequestID: r.GetID(), ClientID: r.GetClient().GetID(), Subject: subjectOf(r),
		Request: raw, ExpiresAt: s.expiry(r, fosite.AccessToken, s.life.access), CreatedAt: s.now().UTC(),
	}).Error
}

// GetAccessTokenSession implements oauth2.AccessTokenStorage.
func (s *storage) GetAccessTokenSession(ctx context.Context, signature string, _ fosite.Session) (fosite.Requester, error) {
	var row accessRow
	if err := s.conn(ctx).Where("signature = ?", signature).Take(&row).Error; err != nil {
		return nil, notFound(err)
	}
	return s.decodeRequest(ctx, row.Request)
}

// DeleteAccessTokenSession implements oauth2.AccessTokenStorage.
func (s *storage) DeleteAccessTokenSession(ctx context.Context, signature string) error {
	return s.conn(ctx).Where("signature = ?", signature).Delete(&accessRow{}).Error
}

// CreateRefreshTokenSession implements oauth2.RefreshTokenStorage.
func (s *storage) CreateRefreshTokenSession(ctx context.Context, signature, accessSignature string, r fosite.Requester) error {
	raw, err := encodeRequest(r)
	if err != nil {
		return err
	}
	return s.conn(ctx).Create(&refreshRow{
		Signature: signature, RequestID: r.GetID(), AccessSignature: accessSignature,
		ClientID: r.GetClient().GetID(), Subject: subjectOf(r), Active: true, Request: raw,
		ExpiresAt: s.expiry(r, fosite.RefreshToken, s.life.refresh), CreatedAt: s.now().UTC(),
	}).Error
}

// GetRefreshTokenSession implements oauth2.RefreshTokenStorage. A rotated (or
// revoked) token returns its request with fosite.ErrInactiveToken: fosite treats that
// as re-use and revokes the whole family.
func (s *storage) GetRefreshTokenSession(ctx context.Context, signature string, _ fosite.Session) (fosite.Requester, error) {
	var row refreshRow
	if err := s.conn(ctx).Where("signature = ?", signature).Take(&row).Error; err != nil {
		return nil, notFound(err)
	}
	r, err := s.decodeRequest(ctx, row.Request)
	if err != nil {
		return nil, err
	}
	if !row.Active {
		return r, fosite.ErrInactiveToken
	}
	return r, nil
}

// DeleteRefreshTokenSession implements oauth2.RefreshTokenStorage.
func (s *storage) DeleteRefreshTokenSession(ctx context.Context, signature string) error {
	return s.conn(ctx).Where("signature = ?", signature).Delete(&refreshRow{}).Error
}

// RotateRefreshToken implements oauth2.RefreshTokenStorage: the refresh token being
// used is deactivated atomically (only if it is still active, so of two concurrent
// refreshes one fails), with the family's access tokens. The new pair is created by
// fosite in the same transaction.
func (s *storage) RotateRefreshToken(ctx context.Context, requestID, signature string) error {
	db := s.conn(ctx)
	res := db.Model(&refreshRow{}).Where("signature = ? AND active = ?", signature, true).Update("active", false)
	if res.Error != nil {
		return res.Error
	}
	if res.RowsAffected != 1 {
		return fosite.ErrSerializationFailure
	}
	if err := db.Model(&refreshRow{}).Where("request_id = ? AND active = ?", requestID, true).
		Update("active", false).Error; err != nil {
		return err
	}
	return db.Where("request_id = ?", requestID).Delete(&accessRow{}).Error
}

// RevokeRefreshToken implements oauth2.TokenRevocationStorage: every refresh token of
// the family (the request id is shared across rotations) stops working.
func (s *storage) RevokeRefreshToken(ctx context.Context, requestID string) error {
	return s.conn(ctx).Model(&refreshRow{}).Where("request_id = ? AND active = ?", requestID, true).
		Update("active", false).Error
}

// RevokeAccessToken implements oauth2.TokenRevocationStorage.
func (s *storage) RevokeAccessToken(ctx context.Context, requestID string) error {
	return s.conn(ctx).Where("request_id = ?", requestID).Delete(&accessRow{}).Error
}

// deleteExpired removes rows past their expiry: codes, PKCE and OpenID Connect
// requests, access and refresh tokens (used refresh tokens are kept until then, so
// that re-use is still recognised).
func (s *storage) deleteExpired(ctx context.Context) (int64, error) {
	now := s.now().UTC()
	var total int64
	for _, m := range []any{&codeRow{}, &pkceRow{}, &oidcRow{}, &accessRow{}, &refreshRow{}} {
		res := s.db.WithContext(ctx).Where("expires_at < ?", now).Delete(m)
		if res.Error != nil {
			return total, res.Error
		}
		total += res.RowsAffected
	}
	return total, nil
}

// putSecret inserts a secret unless one with the name exists, then returns the stored
// one (so that concurrent first starts agree on one value). With a box the value is
// stored sealed (purpose secretPurpose, bound to the name); without one, in clear.
func putSecret(ctx context.Context, db *gorm.DB, box *secretbox.Box, name string, gen func() (string, error), now time.Time) (string, error) {
	var row secretRow
	err := db.WithContext(ctx).Where("name = ?", name).Take(&row).Error
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return "", err
	}
	if errors.Is(err, store.ErrNotFound) {
		v, err := gen()
		if err != nil {
			return "", err
		}
		if box != nil {
			if v, err = box.SealString(secretPurpose, name, v); err != nil {
				return "", err
			}
		}
		if err := db.WithContext(ctx).Clauses(clause.OnConflict{DoNothing: true}).
			Create(&secretRow{Name: name, Value: v, CreatedAt: now.UTC()}).Error; err != nil {
			return "", err
		}
		if err := db.WithContext(ctx).Where("name = ?", name).Take(&row).Error; err != nil {
			return "", err
		}
	}
	if box == nil {
		return row.Value, nil
	}
	v, err := box.OpenString(secretPurpose, name, row.Value)
	if err != nil {
		return "", fmt.Errorf("idp_secrets %s: %w", name, err)
	}
	return v, nil
}
