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

// verifyPath is the path segment of the verification page, before the certificate id;
// shortPath is the same page's short address, used in QR codes since FormatV2.
const (
	verifyPath = "/verifica/"
	shortPath  = "/v/"
)

// maxNumericLen is the numeric length of a MaxMessageSize message.
var maxNumericLen = numericLen(MaxMessageSize)

// Encode returns the text form of a stamp for a URL or a QR code: base64url without
// padding of the message. The message is not compressed: a COSE_Sign1 of about 190
// bytes is mostly a signature and a hash, which deflate cannot shrink (zlib made it 16
// bytes longer), and a decompressor would add a zip-bomb risk and several spellings of
// the same message.
func Encode(msg []byte) string {
	return b64.EncodeToString(msg)
}

// Decode reverses Encode and EncodeNumeric: text of digits only is the numeric form,
// anything else base64url (a stamp's base64url text starts with "0o", never all
// digits). It refuses (ErrMalformed) empty text, text longer than a MaxMessageSize
// message needs, and text that is not strictly one of the two forms.
func Decode(s string) ([]byte, error) {
	if len(s) > 0 && isDigits(s) {
		return DecodeNumeric(s)
	}
	if len(s) == 0 || len(s) > maxEncodedLen {
		return nil, fmt.Errorf("%w: encoded length %d", ErrMalformed, len(s))
	}
	msg, err := b64.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	return msg, nil
}

// Numeric transport. QR codes store digits at 10 bits for 3 (numeric mode) and any
// other character at 8 bits (byte mode): base64url costs 10.7 bits a message byte,
// decimal digits 8.03. Every 7 bytes of the message, read as a big-endian number, are
// written as 17 decimal digits (10^17 > 2^56), zero-padded; a last group of n < 7
// bytes takes numericDigits[n] digits. One message has one spelling: a group whose
// value does not fit its bytes, or a length no message has, is ErrMalformed.
const (
	numericGroupBytes  = 7
	numericGroupDigits = 17
)

// numericDigits[n] is the number of digits of a group of n bytes: ceil(8n·log10 2).
var numericDigits = [numericGroupBytes + 1]int{0, 3, 5, 8, 10, 13, 15, 17}

func numericLen(n int) int {
	return n/numericGroupBytes*numericGroupDigits + numericDigits[n%numericGroupBytes]
}

// EncodeNumeric returns the numeric text form of a stamp (see the package comment):
// decimal digits only, which a QR code stores in its compact numeric mode.
func EncodeNumeric(msg []byte) string {
	out := make([]byte, 0, numericLen(len(msg)))
	for i := 0; i < len(msg); i += numericGroupBytes {
		g := msg[i:min(i+numericGroupBytes, len(msg))]
		var v uint64
		for _, b := range g {
			v = v<<8 | uint64(b)
		}
		w := numericDigits[len(g)]
		start := len(out)
		out = out[:start+w]
		for j := start + w - 1; j >= start; j-- {
			out[j] = byte('0' + v%10)
			v /= 10
		}
	}
	return string(out)
}

// DecodeNumeric reverses EncodeNumeric. Errors wrap ErrMalformed.
func DecodeNumeric(s string) ([]byte, error) {
	if len(s) == 0 || len(s) > maxNumericLen || !isDigits(s) {
		return nil, fmt.Errorf("%w: numeric text of length %d", ErrMalformed, len(s))
	}
	rest := len(s) % numericGroupDigits
	tail := -1
	for n, d := range numericDigits[:numericGroupBytes] {
		if d == rest {
			tail = n
		}
	}
	if tail < 0 {
		return nil, fmt.Errorf("%w: numeric length %d", ErrMalformed, len(s))
	}
	msg := make([]byte, 0, len(s)/numericGroupDigits*numericGroupBytes+tail)
	for i := 0; i < len(s); {
		n, w := numericGroupBytes, numericGroupDigits
		if len(s)-i < numericGroupDigits {
			n, w = tail, rest
		}
		var v uint64
		for _, c := range s[i : i+w] {
			v = v*10 + uint64(c-'0')
		}
		if n < 8 && v>>(8*uint(n)) != 0 {
			return nil, fmt.Errorf("%w: numeric group out of range", ErrMalformed)
		}
		for j := n - 1; j >= 0; j-- {
			msg = append(msg, byte(v>>(8*uint(j))))
		}
		i += w
	}
	return msg, nil
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// VerificationURL returns the URL the QR code holds:
// baseURL + "/v/" + the code without hyphens + "#" + EncodeNumeric(msg). baseURL is
// the portal's public URL (a trailing slash is dropped); the code is escaped as a path
// segment. The fragment stays in the browser: it is not sent to the server, nor logged
// by it. (Until FormatV2 the URL was baseURL/verifica/<code>#<Encode(msg)>;
// ParseVerificationURL reads both.)
func VerificationURL(baseURL, certID string, msg []byte) string {
	return strings.TrimRight(baseURL, "/") + shortPath + url.PathEscape(CompactCode(certID)) + "#" + EncodeNumeric(msg)
}

// LegacyVerificationURL returns the URL of the QR codes printed before FormatV2:
// baseURL + "/verifica/" + certID + "#" + Encode(msg).
func LegacyVerificationURL(baseURL, certID string, msg []byte) string {
	return strings.TrimRight(baseURL, "/") + verifyPath + url.PathEscape(certID) + "#" + Encode(msg)
}

// ParseVerificationURL splits a URL made by VerificationURL into the certificate id
// from its path and the decoded message from its fragment. Errors wrap ErrMalformed.
// The id is not checked against the message: use KeyRing.VerifyURL for that.
func ParseVerificationURL(u string) (certID string, msg []byte, err error) {
	if len(u) > 2*maxNumericLen {
		return "", nil, fmt.Errorf("%w: URL too long", ErrMalformed)
	}
	pu, err := url.Parse(strings.TrimSpace(u))
	if err != nil {
		return "", nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	prefix := verifyPath
	i := strings.LastIndex(pu.Path, verifyPath)
	if j := strings.LastIndex(pu.Path, shortPath); j > i {
		i, prefix = j, shortPath
	}
	if i < 0 {
		return "", nil, fmt.Errorf("%w: URL path has no %s or %s", ErrMalformed, verifyPath, shortPath)
	}
	certID = pu.Path[i+len(prefix):]
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
