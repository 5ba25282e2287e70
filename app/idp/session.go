package idp

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"strconv"
	"time"

	"github.com/ory/fosite"
	"github.com/ory/fosite/handler/openid"
	"github.com/ory/fosite/token/jwt"

	"github.com/comuni-italiani/sportello/app/accounts"
)

// Scopes the provider knows. Every registered client may request all of them (the
// clients are the comune's own, registered by its administrators).
const (
	ScopeOpenID  = "openid"
	ScopeProfile = "profile"
	ScopeEmail   = "email"
	// ScopeSportello releases the portal-specific claims: "roles" for staff.
	ScopeSportello = "sportello"
	// ScopeOffline asks for a refresh token.
	ScopeOffline = "offline_access"
)

// SupportedScopes lists the scopes in the order discovery shows them.
var SupportedScopes = []string{ScopeOpenID, ScopeProfile, ScopeEmail, ScopeSportello, ScopeOffline}

// Claim names, as in the SPID/CIE OpenID Connect profile where one exists.
const (
	ClaimFiscalNumber      = "https://attributes.eid.gov.it/fiscal_number"
	ClaimGivenName         = "given_name"
	ClaimFamilyName        = "family_name"
	ClaimBirthdate         = "birthdate"
	ClaimEmail             = "email"
	ClaimEmailVerified     = "email_verified"
	ClaimRoles             = "roles"
	ClaimPreferredUsername = "preferred_username"
)

// SupportedClaims lists every claim the provider may release, for discovery.
var SupportedClaims = []string{"sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "amr",
	ClaimFiscalNumber, ClaimGivenName, ClaimFamilyName, ClaimBirthdate, ClaimEmail, ClaimEmailVerified,
	ClaimPreferredUsername, ClaimRoles}

// Session is what the provider keeps with every code and token: the OpenID Connect
// session fosite needs (subject, ID token claims and headers, expiries) and the
// account it stands for.
type Session struct {
	openid.DefaultSession
	// AccountID is the account in app/accounts. It never leaves the provider: the
	// subject is derived from it with a secret (see subject).
	AccountID int64 `json:"account_id"`
}

// NewSession returns an empty session, as fosite needs when it parses a request.
func NewSession() *Session {
	return &Session{DefaultSession: openid.DefaultSession{Claims: &jwt.IDTokenClaims{}, Headers: &jwt.Headers{}}}
}

// Clone implements fosite.Session (the embedded one would drop AccountID).
func (s *Session) Clone() fosite.Session {
	if s == nil {
		return nil
	}
	c := *s
	c.DefaultSession = *s.DefaultSession.Clone().(*openid.DefaultSession)
	return &c
}

// subject is the account's stable, opaque "sub": an HMAC of its id under a secret
// kept in the database, so it reveals neither the id nor how many accounts exist.
func subject(salt []byte, accountID int64) string {
	m := hmac.New(sha256.New, salt)
	m.Write([]byte("account:" + strconv.FormatInt(accountID, 10)))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// claimsFor returns the claims the granted scopes release about a (besides sub):
//
//   - profile: given_name, family_name, birthdate (YYYY-MM-DD, when known);
//     for citizens https://attributes.eid.gov.it/fiscal_number = "TINIT-<codice
//     fiscale>"; for staff preferred_username (the staff username);
//   - email: email and email_verified (when the account has an address);
//   - sportello: for staff, roles (an array, possibly empty). A "roles" claim is
//     therefore the sign of a staff identity.
func claimsFor(a *accounts.Account, scopes fosite.Arguments) map[string]any {
	out := map[string]any{}
	staff := a.Kind == accounts.KindStaff
	if scopes.Has(ScopeProfile) {
		if a.GivenName != "" {
			out[ClaimGivenName] = a.GivenName
		}
		if a.FamilyName != "" {
			out[ClaimFamilyName] = a.FamilyName
		}
		if !a.BirthDate.IsZero() {
			out[ClaimBirthdate] = a.BirthDate.UTC().Format(time.DateOnly)
		}
		if !staff && a.FiscalCode != "" {
			out[ClaimFiscalNumber] = "TINIT-" + a.FiscalCode
		}
		if staff {
			out[ClaimPreferredUsername] = a.Username
		}
	}
	if scopes.Has(ScopeEmail) && a.Email != "" {
		out[ClaimEmail] = a.Email
		out[ClaimEmailVerified] = a.EmailVerified
	}
	if scopes.Has(ScopeSportello) && staff {
		roles := append([]string{}, a.Roles...)
		out[ClaimRoles] = roles
	}
	return out
}
