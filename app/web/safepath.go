package web

import (
	"net/url"
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxLocalPath is the longest return address SafeLocalPath accepts, in bytes.
const MaxLocalPath = 2048

// SafeLocalPath returns raw if it is a path on this site that a browser will follow as
// such, and "" otherwise. Every "next", "return to" or "back" address the portal
// receives from a request goes through it, so that none becomes an open redirect.
//
// Browsers normalize before they resolve: they drop tabs and newlines anywhere, read a
// backslash as a slash and follow percent-decoded paths on some servers, so
// "/\t/evil.example", "/\\evil.example" and "/%2F%2Fevil.example" all lead off-site.
// Rather than replay each browser's quirks, the address is refused when it carries
// anything such a normalization could act on: control or space characters, invalid
// UTF-8, backslashes (raw or percent-encoded), a scheme, a host, or a path that starts
// with two slashes before or after percent-decoding.
func SafeLocalPath(raw string) string {
	if raw == "" || len(raw) > MaxLocalPath || !utf8.ValidString(raw) || raw[0] != '/' {
		return ""
	}
	for _, r := range raw {
		if r == '\\' || unicode.IsControl(r) || unicode.IsSpace(r) || r == utf8.RuneError {
			return ""
		}
	}
	if strings.HasPrefix(raw, "//") || strings.Contains(strings.ToLower(raw), "%5c") {
		return ""
	}
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" || !strings.HasPrefix(u.Path, "/") {
		return ""
	}
	// u.Path is decoded: "%2F%2Fevil" and "/%2Fevil" read "//evil".
	if strings.HasPrefix(u.Path, "//") || strings.ContainsFunc(u.Path, func(r rune) bool {
		return r == '\\' || unicode.IsControl(r) || unicode.IsSpace(r)
	}) {
		return ""
	}
	return raw
}
