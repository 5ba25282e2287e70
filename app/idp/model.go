package idp

import (
	"time"

	"gorm.io/gorm"

	"github.com/comuni-italiani/sportello/app/store"
)

// clientRow is one registered OAuth 2.0 client. List columns hold JSON arrays.
type clientRow struct {
	ID                     string `gorm:"primaryKey"`
	Name                   string
	SecretHash             string
	RedirectURIs           string `gorm:"column:redirect_uris"`
	PostLogoutRedirectURIs string `gorm:"column:post_logout_redirect_uris"`
	GrantTypes             string
	ResponseTypes          string
	Scopes                 string
	Public                 bool
	CreatedAt              time.Time
	UpdatedAt              time.Time
}

// TableName fixes the table name.
func (clientRow) TableName() string { return "idp_clients" }

// codeRow is an authorization code (by its HMAC signature, never the code itself).
// Active turns false when the code is redeemed; the row stays until it expires so that
// a replay is recognised and the tokens issued with it revoked.
type codeRow struct {
	Signature string `gorm:"primaryKey"`
	RequestID string
	ClientID  string
	Active    bool
	Request   string
	ExpiresAt time.Time
	CreatedAt time.Time
}

// TableName fixes the table name.
func (codeRow) TableName() string { return "idp_authorization_codes" }

// pkceRow is the PKCE challenge of an authorization code, by the code's signature.
type pkceRow struct {
	Signature string `gorm:"primaryKey"`
	RequestID string
	Request   string
	ExpiresAt time.Time
	CreatedAt time.Time
}

// TableName fixes the table name.
func (pkceRow) TableName() string { return "idp_pkce_requests" }

// oidcRow is the OpenID Connect part of an authorization request. fosite keys it by
// the authorization code itself, so only the code's SHA-256 is stored.
type oidcRow struct {
	CodeHash  string `gorm:"primaryKey"`
	RequestID string
	Request   string
	ExpiresAt time.Time
	CreatedAt time.Time
}

// TableName fixes the table name.
func (oidcRow) TableName() string { return "idp_oidc_sessions" }

// accessRow is an access token, by signature.
type accessRow struct {
	Signature string `gorm:"primaryKey"`
	RequestID string
	ClientID  string
	Subject   string
	Request   string
	ExpiresAt time.Time
	CreatedAt time.Time
}

// TableName fixes the table name.
func (accessRow) TableName() string { return "idp_access_tokens" }

// refreshRow is a refresh token, by signature. Every token of a rotation family
// shares the family's RequestID.
type refreshRow struct {
	Signature       string `gorm:"primaryKey"`
	RequestID       string
	AccessSignature string
	ClientID        string
	Subject         string
	Active          bool
	Request         string
	ExpiresAt       time.Time
	CreatedAt       time.Time
}

// TableName fixes the table name.
func (refreshRow) TableName() string { return "idp_refresh_tokens" }

// keyRow is a signing key. Current is 1 for the key that signs new tokens and NULL
// for the others: a unique index makes "one current key" a database rule.
type keyRow struct {
	KID        string `gorm:"column:kid;primaryKey"`
	Alg        string
	PrivatePEM string `gorm:"column:private_pem"`
	Current    *int
	CreatedAt  time.Time
	RetiredAt  *time.Time
	// PublishUntil is when a retired key leaves the JWKS (and is deleted).
	PublishUntil *time.Time
}

// TableName fixes the table name.
func (keyRow) TableName() string { return "idp_keys" }

// secretRow is a random secret the provider generates on first start and every
// replica shares: the HMAC key of opaque tokens, the subject salt, the portal
// client's seed.
type secretRow struct {
	Name      string `gorm:"primaryKey"`
	Value     string
	CreatedAt time.Time
}

// TableName fixes the table name.
func (secretRow) TableName() string { return "idp_secrets" }

// Migrations creates the provider's tables. Each step uses its own frozen structs.
func Migrations() []*store.Migration {
	type idpClient struct {
		ID                     string    `gorm:"primaryKey;size:100"`
		Name                   string    `gorm:"size:200;not null"`
		SecretHash             string    `gorm:"size:200;not null;default:''"`
		RedirectURIs           string    `gorm:"column:redirect_uris;type:text;not null"`
		PostLogoutRedirectURIs string    `gorm:"column:post_logout_redirect_uris;type:text;not null"`
		GrantTypes             string    `gorm:"size:300;not null"`
		ResponseTypes          string    `gorm:"size:300;not null"`
		Scopes                 string    `gorm:"size:500;not null"`
		Public                 bool      `gorm:"not null;default:false"`
		CreatedAt              time.Time `gorm:"not null"`
		UpdatedAt              time.Time `gorm:"not null"`
	}
	type idpAuthorizationCode struct {
		Signature string    `gorm:"primaryKey;size:200"`
		RequestID string    `gorm:"size:64;not null;index:idp_codes_request"`
		ClientID  string    `gorm:"size:100;not null;index:idp_codes_client"`
		Active    bool      `gorm:"not null"`
		Request   string    `gorm:"type:text;not null"`
		ExpiresAt time.Time `gorm:"not null;index:idp_codes_expires"`
		CreatedAt time.Time `gorm:"not null"`
	}
	type idpPKCERequest struct {
		Signature string    `gorm:"primaryKey;size:200"`
		RequestID string    `gorm:"size:64;not null"`
		Request   string    `gorm:"type:text;not null"`
		ExpiresAt time.Time `gorm:"not null;index:idp_pkce_expires"`
		CreatedAt time.Time `gorm:"not null"`
	}
	type idpOIDCSession struct {
		CodeHash  string    `gorm:"primaryKey;size:64"`
		RequestID string    `gorm:"size:64;not null"`
		Request   string    `gorm:"type:text;not null"`
		ExpiresAt time.Time `gorm:"not null;index:idp_oidc_expires"`
		CreatedAt time.Time `gorm:"not null"`
	}
	type idpAccessToken struct {
		Signature string    `gorm:"primaryKey;size:200"`
		RequestID string    `gorm:"size:64;not null;index:idp_access_request"`
		ClientID  string    `gorm:"size:100;not null;index:idp_access_client"`
		Subject   string    `gorm:"size:100;not null;default:''"`
		Request   string    `gorm:"type:text;not null"`
		ExpiresAt time.Time `gorm:"not null;index:idp_access_expires"`
		CreatedAt time.Time `gorm:"not null"`
	}
	type idpRefreshToken struct {
		Signature       string    `gorm:"primaryKey;size:200"`
		RequestID       string    `gorm:"size:64;not null;index:idp_refresh_request"`
		AccessSignature string    `gorm:"size:200;not null;default:''"`
		ClientID        string    `gorm:"size:100;not null;index:idp_refresh_client"`
		Subject         string    `gorm:"size:100;not null;default:''"`
		Active          bool      `gorm:"not null"`
		Request         string    `gorm:"type:text;not null"`
		ExpiresAt       time.Time `gorm:"not null;index:idp_refresh_expires"`
		CreatedAt       time.Time `gorm:"not null"`
	}
	type idpKey struct {
		KID          string     `gorm:"column:kid;primaryKey;size:64"`
		Alg          string     `gorm:"size:16;not null"`
		PrivatePEM   string     `gorm:"column:private_pem;type:text;not null"`
		Current      *int       `gorm:"uniqueIndex:idp_keys_current"`
		CreatedAt    time.Time  `gorm:"not null"`
		RetiredAt    *time.Time `gorm:"column:retired_at"`
		PublishUntil *time.Time `gorm:"column:publish_until"`
	}
	type idpSecret struct {
		Name      string    `gorm:"primaryKey;size:64"`
		Value     string    `gorm:"size:200;not null"`
		CreatedAt time.Time `gorm:"not null"`
	}
	return []*store.Migration{{
		ID: "idp/0001_provider",
		Migrate: func(tx *gorm.DB) error {
			for _, t := range []struct {
				name  string
				model any
			}{
				{"idp_clients", &idpClient{}},
				{"idp_authorization_codes", &idpAuthorizationCode{}},
				{"idp_pkce_requests", &idpPKCERequest{}},
				{"idp_oidc_sessions", &idpOIDCSession{}},
				{"idp_access_tokens", &idpAccessToken{}},
				{"idp_refresh_tokens", &idpRefreshToken{}},
				{"idp_keys", &idpKey{}},
				{"idp_secrets", &idpSecret{}},
			} {
				if err := tx.Table(t.name).AutoMigrate(t.model); err != nil {
					return err
				}
			}
			return nil
		},
	}}
}
