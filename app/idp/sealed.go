package idp

import (
	"github.com/comuni-italiani/sportello/app/secretbox"
)

// Encryption at rest. What would let a reader of the database sign an ID token or
// derive a credential is stored sealed with the system secret (app/secretbox):
//
//   - idp_keys.private_pem: the RSA signing keys (purpose keyPurpose, bound to the
//     kid);
//   - idp_secrets.value for token_hmac_key (the HMAC key of opaque access and refresh
//     tokens and authorization codes) and portal_client_seed (from which the portal
//     client's secret is derived), purpose secretPurpose, bound to the name.
//
// The subject salt stays in clear on purpose: it signs nothing and checks nothing (it
// turns account ids into the stable "sub" every relying party keys on), and losing it
// with the system secret would change every subject.
const (
	keyPurpose    = "idp.signing_key"
	secretPurpose = "idp.secret"
)

// sealedSecretNames are the idp_secrets rows stored sealed.
var sealedSecretNames = []string{"token_hmac_key", "portal_client_seed"}

// SealedColumns are the columns of this package that hold values sealed with the
// system secret, for the start-up check and for `sportello secrets rotate`.
func SealedColumns() []secretbox.Column {
	return []secretbox.Column{
		{Table: "idp_keys", Key: "kid", Value: "private_pem", Purpose: keyPurpose},
		{Table: "idp_secrets", Key: "name", Value: "value", Purpose: secretPurpose,
			Where: "name IN ?", Args: []any{sealedSecretNames}},
	}
}
