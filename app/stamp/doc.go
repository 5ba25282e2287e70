// Package stamp makes and checks the "timbro digitale", the digital stamp printed as a
// QR code on every certificate, so that whoever holds the paper (a bank, a school) can
// check it is authentic, online or offline.
//
// # Contract
//
// A stamp is a COSE_Sign1 message (RFC 9052, tagged, CBOR tag 18) signed with ECDSA
// P-256 / SHA-256 (ES256) by the comune's active key. Its protected header holds exactly
// the algorithm (ES256) and the key id (kid, a byte string); its unprotected header is
// empty. Its payload is a [Payload] encoded as a CBOR map with small integer keys in
// core deterministic encoding (RFC 8949 §4.2.1). [Sign] writes format 2 ([FormatV2]):
//
//	2: CertID (uint, the code's 60-bit number)    3: Type (text)
//	4: Holder (text, codice fiscale, 16 characters)
//	5: IssuedAt (uint, days since 1970-01-01)    6: ExpiresAt (uint, days since 1970-01-01)
//	7: DataHash (bytes, SHA-256, 32 bytes)
//
// [Verify] also reads format 1 ([FormatV1]), printed before: the same map with
// 1: Issuer (text) and 2: CertID as text. docs/STAMP.md is the full specification.
//
// Dates are calendar dates: the date of a time.Time as seen in its own location is
// kept, the time of day is dropped, and a verified payload carries midnight UTC of
// that date. Callers pass times in the comune's zone (Europe/Rome).
//
// [KeyRing.Verify] accepts one encoding only: the exact bytes [KeyRing.Sign] produces for
// that content. Anything else (another algorithm, extra headers, non-canonical CBOR,
// unknown payload fields, trailing bytes) is [ErrMalformed]; a kid missing from the ring
// is [ErrUnknownKey]; a signature that does not match is [ErrBadSignature]. So a changed
// byte never yields a valid payload with different content. Verify does not judge expiry
// or revocation: that is the certificate module's business, on the payload it returns.
//
// The key id is the first 12 characters of the base64url RFC 7638 JWK thumbprint of the
// public key, so it is derived from the key and checked wherever a key is loaded.
// A [KeyRing] holds any number of keys and at most one active signing key; after a
// rotation ([Rotate]) the old public key stays in the ring and old stamps keep
// verifying. [KeyRing.PublicJWKS] publishes the public keys (served at
// /.well-known/sportello-stamp-keys.json) and [KeyRingFromJWKS] rebuilds a
// verify-only ring from them, for the offline "sportello verify" command.
//
// In the QR code the message travels as a URL, baseURL/v/<code without hyphens>#<text>,
// where text is [EncodeNumeric]: decimal digits, 17 for every 7 bytes, which the QR
// code stores in numeric mode (8.03 bits a byte instead of 10.7 for base64url). Format
// 1 certificates carry baseURL/verifica/<CertID>#<[Encode] base64url>; [Decode] reads
// both. The fragment never reaches the server in an HTTP request; the verification
// page reads it in the browser. [Decode] caps the size at [MaxMessageSize].
//
// Certificate ids are short codes a person can type ([NewCode], [NormalizeCode]):
// 12 Crockford base32 characters (60 random bits) and a Crockford mod-37 check
// character, written XXXX-XXXX-XXXX-C.
//
// [DataHash] binds the stamp to the certificate data: SHA-256 over the deterministic
// CBOR encoding of the data as issued, recomputed from the stored snapshot when the
// stamp is checked.
//
// Keys, rings and functions in this package are safe for concurrent use. A KeyRing is
// immutable once built: a process picks up a rotation when it loads the directory again.
package stamp
