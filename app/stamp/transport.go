package stamp

import (
	"fmt"
	"net/url"
	"strings"
)

// MaxMessageSize is the largest stamp message Decode returns and Verify accepts, in
// bytes. A real stamp is about 220 bytes.
const MaxMessageSize = 4096

// maxEncodedLen is the base64url length of a MaxMessageSize message: longer text is
// refused before any work is done.
const maxEncodedLen = (MaxMessageSize*4 + 2) / 3

// verifyPath is the path segment of the verification page, before the certificate id.
const verifyPath = "/verifica/"

// Encode returns the text form of a stamp for a URL or a QR code: base64url without
// padding of the message. The message is not compressed: a COSE_Sign1 of about 190
// bytes is mostly a signature and a hash, which deflate cannot shrink (zlib made it 16
// bytes longer), and a decompressor would add a zip-bomb risk and several spellings of
// the same message.
func Encode(msg []byte) string {
	return b64.EncodeToString(msg)
}

// Decode reverses Encode. It refuses (ErrMalformed) empty text, text longer than a
// MaxMessageSize message needs, and text that is not strict base64url without padding.
func Decode(s string) ([]byte, error) {
	if len(s) == 0 || len(s) > maxEncodedLen {
		return nil, fmt.Errorf("%w: encoded length %d", ErrMalformed, len(s))
	}
	msg, err := b64.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	return msg, nil
}

// VerificationURL returns the URL the QR code holds:
// baseURL + "/verifica/" + certID + "#" + Encode(msg). baseURL is the portal's public
// URL (a trailing slash is dropped); certID is escaped as a path segment. The fragment
// stays in the browser: it is not sent to the server, nor logged by it.
func VerificationURL(baseURL, certID string, msg []byte) string {
	return strings.TrimRight(baseURL, "/") + verifyPath + url.PathEscape(certID) + "#" + Encode(msg)
}

// ParseVerificationURL splits a URL made by VerificationURL into the certificate id
// from its path and the decoded message from its fragment. Errors wrap ErrMalformed.
// The id is not checked against the message: use KeyRing.VerifyURL for that.
func ParseVerificationURL(u string) (certID string, msg []byte, err error) {
	if len(u) > 2*maxEncodedLen {
		return "", nil, fmt.Errorf("%w: URL too long", ErrMalformed)
	}
	pu, err := url.Parse(strings.TrimSpace(u))
	if err != nil {
		return "", nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	i := strings.LastIndex(pu.Path, verifyPath)
	if i < 0 {
		return "", nil, fmt.Errorf("%w: URL path has no %s", ErrMalformed, verifyPath)
	}
	certID = pu.Path[i+len(verifyPath):]
	if certID == "" || strings.Contains(certID, "/") {
		return "", nil, fmt.Errorf("%w: URL path has no certificate id", ErrMalformed)
	}
	if pu.Fragment == "" {
		return "", nil, fmt.Errorf("%w: URL has no fragment", ErrMalformed)
	}
	msg, err = Decode(pu.Fragment)
	if err != nil {
		return "", nil, err
	}
	return certID, msg, nil
}

// VerifyURL parses a verification URL, verifies its message and checks that the
// certificate id in the path is the one signed (exactly, or after NormalizeCode), so
// that a page showing the status of the id in the path shows the certificate stamped.
// Errors wrap ErrMalformed, ErrUnknownKey or ErrBadSignature.
func (r *KeyRing) VerifyURL(u string) (Payload, error) {
	certID, msg, err := ParseVerificationURL(u)
	if err != nil {
		return Payload{}, err
	}
	p, err := r.Verify(msg)
	if err != nil {
		return Payload{}, err
	}
	if certID != p.CertID {
		if norm, err := NormalizeCode(certID); err != nil || norm != p.CertID {
			return Payload{}, fmt.Errorf("%w: certificate id %q in the URL is not the one signed", ErrMalformed, certID)
		}
	}
	return p, nil
}
