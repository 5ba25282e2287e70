package web

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"time"

	"github.com/alexedwards/scs/v2"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/comuni-italiani/sportello/app/store"
)

// SessionCookie is the name of the session cookie.
const SessionCookie = "sportello_session"

// NewSessions returns a session manager whose data lives in the database, so that any
// replica can serve any request. Cookies are HttpOnly and SameSite=Lax, Secure when the
// portal is served over https. Callers rotate the token at login with RenewToken.
func NewSessions(db *gorm.DB, lifetime, idle time.Duration, secure bool) *scs.SessionManager {
	sm := scs.New()
	sm.Store = &SessionStore{DB: db}
	sm.Lifetime = lifetime
	sm.IdleTimeout = idle
	sm.Cookie.Name = SessionCookie
	sm.Cookie.HttpOnly = true
	sm.Cookie.SameSite = http.SameSiteLaxMode
	sm.Cookie.Secure = secure
	sm.Cookie.Path = "/"
	sm.Cookie.Persist = false
	return sm
}

// SessionStore keeps scs sessions in the sessions table. The table holds the SHA-256 of
// each token, never the token itself: a copy of the database cannot be used to hijack a
// session.
type SessionStore struct {
	DB *gorm.DB
}

type sessionRow struct {
	TokenHash string `gorm:"primaryKey"`
	Data      []byte
	Expiry    time.Time
}

func (sessionRow) TableName() string { return "sessions" }

func hashToken(token string) string {
	h := sha256.Sum256([]byte(token))
	return hex.EncodeToString(h[:])
}

// FindCtx implements scs.CtxStore.
func (s *SessionStore) FindCtx(ctx context.Context, token string) ([]byte, bool, error) {
	var row sessionRow
	err := s.DB.WithContext(ctx).Where("token_hash = ? AND expiry > ?", hashToken(token), time.Now().UTC()).Take(&row).Error
	if errors.Is(err, store.ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	return row.Data, true, nil
}

// CommitCtx implements scs.CtxStore.
func (s *SessionStore) CommitCtx(ctx context.Context, token string, b []byte, expiry time.Time) error {
	row := sessionRow{TokenHash: hashToken(token), Data: b, Expiry: expiry.UTC()}
	return s.DB.WithContext(ctx).Clauses(clause.OnConflict{
		Columns:   []clause.Column{{Name: "token_hash"}},
		DoUpdates: clause.AssignmentColumns([]string{"data", "expiry"}),
	}).Create(&row).Error
}

// DeleteCtx implements scs.CtxStore.
func (s *SessionStore) DeleteCtx(ctx context.Context, token string) error {
	return s.DB.WithContext(ctx).Where("token_hash = ?", hashToken(token)).Delete(&sessionRow{}).Error
}

// Find implements scs.Store.
func (s *SessionStore) Find(token string) ([]byte, bool, error) {
	return s.FindCtx(context.Background(), token)
}

// Commit implements scs.Store.
func (s *SessionStore) Commit(token string, b []byte, expiry time.Time) error {
	return s.CommitCtx(context.Background(), token, b, expiry)
}

// Delete implements scs.Store.
func (s *SessionStore) Delete(token string) error {
	return s.DeleteCtx(context.Background(), token)
}

// DeleteExpired removes sessions past their expiry and returns how many.
func (s *SessionStore) DeleteExpired(ctx context.Context) (int64, error) {
	res := s.DB.WithContext(ctx).Where("expiry <= ?", time.Now().UTC()).Delete(&sessionRow{})
	return res.RowsAffected, res.Error
}

// Migrations creates the sessions table.
func Migrations() []*store.Migration {
	type session struct {
		TokenHash string    `gorm:"primaryKey;size:64"`
		Data      []byte    `gorm:"not null"`
		Expiry    time.Time `gorm:"not null;index"`
	}
	return []*store.Migration{{
		ID:      "web/0001_sessions",
		Migrate: func(tx *gorm.DB) error { return tx.Table("sessions").AutoMigrate(&session{}) },
	}}
}
