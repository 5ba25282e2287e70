// Package idp is the portal's embedded OpenID Provider, at /idp, for the credentials
// the URP desk issues (app/accounts). It speaks standard OpenID Connect only: the
// portal's relying party (app/auth) talks to it over HTTP exactly as to SPID/CIE or any
// other provider, so that a provider can be swapped by configuration alone.
//
// The contract:
//
//   - Protocol: built on github.com/ory/fosite. Authorization Code flow only
//     (response_type=code, response_mode=query), PKCE with S256 required of every
//     client (plain refused), state and nonce as the client sends them. Authorization
//     codes live AuthCodeLifespan (5 min) and work once, access tokens
//     AccessTokenLifespan (15 min, opaque, HMAC-signed), refresh tokens
//     RefreshTokenLifespan (8 h; only with scope offline_access) and rotate at every
//     use: a rotated refresh token used again revokes its whole family. ID tokens are
//     RS256 JWTs with a kid, valid IDTokenLifespan.
//   - Storage: everything is in the portal's database (both dialects), so any replica
//     serves any request: clients (secrets as SHA-256 hashes, see secretHasher), codes, PKCE and OpenID
//     Connect requests, access and refresh tokens, by their signatures (never the
//     tokens themselves) with the request that produced them as JSON. Single use is
//     enforced by conditional updates whose RowsAffected is checked (UPDATE ... WHERE
//     signature = ? AND active), so a code replayed on another replica still fails.
//     DeleteExpired removes what has expired; the app calls it periodically.
//   - Keys and secrets: the signing key, the HMAC key of opaque tokens, the subject
//     salt and the portal client's seed are generated on first start and kept in the
//     database (idp_keys, idp_secrets), shared by every replica. The signing keys,
//     the HMAC key and the seed are sealed with the system secret (Options.Box,
//     app/secretbox; sealed.go), which lives outside the database: a copy of the
//     database alone cannot sign an ID token or mint a token. New refuses to start on
//     values sealed with a secret it is not given, and seals values an older version
//     wrote in clear. The subject salt stays in clear (it signs nothing; see
//     sealed.go). RotateKeys makes a new signing key current; the old one stays in the
//     JWKS for KeyRetention.
//   - Clients: the comune registers its own clients (EnsurePortalClient for the
//     portal, AddClient from the command line). They are first-party, so consent is
//     implicit: no consent screen, every client may request every supported scope.
//     The portal client's secret is derived (HMAC-SHA256) from a random seed in
//     idp_secrets, so the portal recomputes it at every start on every replica without
//     configuring it, and the client row keeps only its SHA-256 hash.
//   - Claims, named as in the SPID/CIE OpenID Connect profile: sub (opaque and stable:
//     an HMAC of the account id); with scope profile given_name, family_name,
//     birthdate (YYYY-MM-DD), https://attributes.eid.gov.it/fiscal_number
//     ("TINIT-<codice fiscale>") for citizens and preferred_username for staff; with
//     scope email, email and email_verified; with scope sportello, roles (an array) for
//     staff. The ID token carries the claims of the login; userinfo reads the account
//     anew and refuses tokens of accounts that can no longer log in.
//   - Login: the provider's own pages (Italian and English, Bootstrap Italia):
//     username and password, then a TOTP code whenever app/accounts says so (always
//     for staff). Wrong username and wrong password get the same message; a lockout
//     gets its own. The login is remembered in the portal session under keys starting
//     with "idp." (single sign-on for the next authorization request), apart from the
//     relying party's viewer; the session token is renewed at login. A pending
//     authorization request is kept in the session under a random id and validated
//     again by fosite at every step. prompt=login and max_age force a new login,
//     prompt=none fails with login_required when nobody is logged in.
//   - Activation (/idp/attiva) and password reset (/idp/password/recupero,
//     /idp/password/nuova) drive app/accounts; their refusals never tell whether an
//     account exists.
//   - Logout (/idp/logout, RP-Initiated Logout 1.0, GET or POST): with a valid
//     id_token_hint the provider login ends at once and the visitor returns to a
//     registered post_logout_redirect_uri (with state); without one the visitor
//     confirms on LogoutConfirmPath (/idp/uscita), a form with the CSRF token.
//   - The token, revocation and userinfo endpoints are called server to server and
//     the authorization and end_session endpoints may receive cross-site form posts:
//     CSRFExempt lists them for the portal's CSRF middleware. Every other form
//     carries _csrf.
package idp
