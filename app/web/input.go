package web

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/labstack/echo/v4"
)

// multipartMemory is how much of a multipart body is kept in memory while parsing;
// the rest goes to temporary files (the same figure Echo uses).
const multipartMemory = 32 << 20

// MaxQueryValue caps every query-string value, whatever the route: a search box, a
// code, an OIDC parameter. The longest legitimate value is an id_token_hint (about
// 1 kB); SQLite refuses LIKE patterns over 50,000 bytes, and nothing else needs more.
const MaxQueryValue = 4096

// SearchMax is the longest text a staff search box accepts, in characters. Handlers
// check it with SearchParam, which answers 400 naming the field.
const SearchMax = 200

// Inputs the guard refuses. Texts must be valid UTF-8 without control characters
// other than tab, line feed and carriage return (kept for textareas): NUL is refused
// by PostgreSQL (SQLSTATE 22021) but stored by SQLite, and the other C0 and C1
// controls and DEL have no place in anything a person types into a form; they only
// corrupt logs, PDFs and CSV exports.
func badText(s string) bool {
	if !utf8.ValidString(s) {
		return true
	}
	for _, r := range s {
		switch {
		case r == '\t' || r == '\n' || r == '\r':
		case r < 0x20 || r == 0x7f || (r >= 0x80 && r <= 0x9f):
			return true
		}
	}
	return false
}

// ValidText reports whether s is text the portal accepts from a visitor: valid UTF-8
// with no control characters other than tab, line feed and carriage return.
func ValidText(s string) bool { return !badText(s) }

// inputError refuses a request: 400 with a message naming the field.
func inputError(key, field string) *Error {
	return &Error{Status: http.StatusBadRequest, Key: key, Args: []any{"Field", field}}
}

// refusedHeaders are request headers whose values reach the database: the request id
// is stored with audit events, forwarded addresses may become the recorded IP.
// Cookies need no check here: net/http drops cookie values outside printable ASCII.
var refusedHeaders = []string{echo.HeaderXRequestID, echo.HeaderXForwardedFor, echo.HeaderXRealIP}

// headerGuard refuses bad bytes in the headers that reach the database. It runs before
// the request id middleware, which would otherwise adopt a client's id.
func headerGuard(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		for _, h := range refusedHeaders {
			for _, v := range c.Request().Header.Values(h) {
				if badText(v) || len(v) > 256 {
					return inputError("errors.input.header", h)
				}
			}
		}
		return next(c)
	}
}

// inputGuard checks every text that enters through the request once, before any
// handler, CSRF check or session: the path and its parameters, the query string,
// form fields (url-encoded and multipart, including uploaded files' names but not
// their content, which is binary) and JSON bodies. A body that cannot be parsed
// answers 400, one over the size limits 413; a text that is not valid UTF-8 or holds
// a control character answers 400 with a message naming the field. The form stays
// parsed on the request, so handlers read it without parsing again.
func inputGuard(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		req := c.Request()
		if badText(req.URL.Path) {
			return inputError("errors.input.path", "path")
		}
		for i, v := range c.ParamValues() {
			if badText(v) {
				name := "*"
				if names := c.ParamNames(); i < len(names) {
					name = names[i]
				}
				return inputError("errors.input.path", name)
			}
		}
		query, err := url.ParseQuery(req.URL.RawQuery)
		if err != nil {
			return &Error{Status: http.StatusBadRequest, Key: "errors.input.malformed", Err: err}
		}
		if name, ok := firstBad(query, MaxQueryValue); !ok {
			return inputError("errors.input.query", name)
		}
		ct, _, _ := mime.ParseMediaType(req.Header.Get(echo.HeaderContentType))
		switch {
		case req.Body == nil || req.Body == http.NoBody:
		case ct == echo.MIMEMultipartForm:
			if err := req.ParseMultipartForm(multipartMemory); err != nil {
				return bodyError(err)
			}
			if name, ok := firstBad(req.MultipartForm.Value, 0); !ok {
				return inputError("errors.input.form", name)
			}
			for name, files := range req.MultipartForm.File {
				if badText(name) {
					return inputError("errors.input.form", "?")
				}
				for _, f := range files {
					if badText(f.Filename) {
						return inputError("errors.input.filename", name)
					}
				}
			}
		case ct == echo.MIMEApplicationForm:
			if err := req.ParseForm(); err != nil {
				return bodyError(err)
			}
			if name, ok := firstBad(req.PostForm, 0); !ok {
				return inputError("errors.input.form", name)
			}
		case ct == echo.MIMEApplicationJSON || strings.HasSuffix(ct, "+json"):
			raw, err := io.ReadAll(req.Body)
			if err != nil {
				return bodyError(err)
			}
			req.Body = io.NopCloser(bytes.NewReader(raw))
			if len(bytes.TrimSpace(raw)) == 0 {
				break
			}
			if !utf8.Valid(raw) {
				return inputError("errors.input.json", "JSON")
			}
			var doc any
			dec := json.NewDecoder(bytes.NewReader(raw))
			dec.UseNumber()
			if err := dec.Decode(&doc); err != nil {
				return &Error{Status: http.StatusBadRequest, Key: "errors.input.malformed", Err: err}
			}
			if name, ok := jsonText(doc, ""); !ok {
				return inputError("errors.input.json", name)
			}
		}
		return next(c)
	}
}

// bodyError maps a body that could not be read or parsed: too large is 413 (echo's
// body limit, or net/http's 10 MB cap on url-encoded forms), anything else 400.
func bodyError(err error) error {
	var he *echo.HTTPError
	if errors.As(err, &he) && he.Code == http.StatusRequestEntityTooLarge ||
		strings.Contains(err.Error(), "too large") {
		return &Error{Status: http.StatusRequestEntityTooLarge, Key: "errors.413.text", Err: err}
	}
	return &Error{Status: http.StatusBadRequest, Key: "errors.input.malformed", Err: err}
}

// firstBad returns the first (in name order) field of vals whose name or a value is
// not acceptable text, or longer than max bytes when max > 0.
func firstBad(vals map[string][]string, max int) (string, bool) {
	names := make([]string, 0, len(vals))
	for k := range vals {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		if badText(k) {
			return "?", false
		}
		for _, v := range vals[k] {
			if badText(v) || (max > 0 && len(v) > max) {
				return k, false
			}
		}
	}
	return "", true
}

// jsonText walks a decoded JSON document and returns the path of the first string
// (key or value) that is not acceptable text. The raw bytes were checked for UTF-8
// already; this catches escapes such as \u0000.
func jsonText(v any, path string) (string, bool) {
	switch x := v.(type) {
	case string:
		if badText(x) {
			return path, false
		}
	case []any:
		for _, e := range x {
			if p, ok := jsonText(e, path+"[]"); !ok {
				return p, false
			}
		}
	case map[string]any:
		for k, e := range x {
			if badText(k) {
				return path + ".?", false
			}
			if p, ok := jsonText(e, strings.TrimPrefix(path+"."+k, ".")); !ok {
				return p, false
			}
		}
	}
	return "", true
}

// SearchParam returns the trimmed query value name, refusing with 400 (the message
// names the field) a value longer than SearchMax characters: a search box never needs
// more, and SQLite refuses long LIKE patterns.
func SearchParam(c echo.Context, name string) (string, error) {
	v := strings.TrimSpace(c.QueryParam(name))
	if utf8.RuneCountInString(v) > SearchMax {
		return "", &Error{Status: http.StatusBadRequest, Key: "errors.input.search", Args: []any{"Field", name, "Max", SearchMax}}
	}
	return v, nil
}
