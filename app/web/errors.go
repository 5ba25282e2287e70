package web

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/labstack/echo/v4"

	"github.com/comuni-italiani/sportello/app/store"
)

// Error is an error a handler returns to refuse a request with a given status and a
// message key the visitor reads in their language.
type Error struct {
	Status int
	Key    string
	Err    error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return http.StatusText(e.Status) + ": " + e.Err.Error()
	}
	return http.StatusText(e.Status) + ": " + e.Key
}

func (e *Error) Unwrap() error { return e.Err }

// NewError refuses a request with status and the message key shown to the visitor.
func NewError(status int, key string) *Error { return &Error{Status: status, Key: key} }

// Sentinel errors handlers may return; the error handler maps them to status codes.
var (
	ErrForbidden   = NewError(http.StatusForbidden, "errors.403.text")
	ErrNotFound    = NewError(http.StatusNotFound, "errors.404.text")
	ErrUnavailable = NewError(http.StatusServiceUnavailable, "errors.503.text")
	ErrCSRF        = NewError(http.StatusForbidden, "errors.csrf.text")
)

// ErrorPage is the data of the error template.
type ErrorPage struct {
	Status   int
	TitleKey string
	TextKey  string
	// RequestID lets the visitor quote the failure to the URP desk.
	RequestID string
}

// IsUnavailable reports whether err means the database (or another dependency) cannot
// be reached: the right answer is 503, not 500.
func IsUnavailable(err error) bool {
	var opErr *net.OpError
	var connErr *pgconn.ConnectError
	switch {
	case errors.Is(err, driver.ErrBadConn), errors.Is(err, sql.ErrConnDone),
		errors.As(err, &opErr), errors.As(err, &connErr):
		return true
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		// Class 08 connection exception, 57P01-03 admin shutdown / cannot connect now,
		// 3D000 database does not exist.
		return strings.HasPrefix(pgErr.Code, "08") || strings.HasPrefix(pgErr.Code, "57P") || pgErr.Code == "3D000"
	}
	msg := err.Error()
	return strings.Contains(msg, "sql: database is closed") || strings.Contains(msg, "failed to connect") ||
		strings.Contains(msg, "database is locked")
}

// classify maps any error to a status and the message key for the visitor.
func classify(err error) (int, string) {
	var we *Error
	var he *echo.HTTPError
	switch {
	case errors.As(err, &we):
		return we.Status, we.Key
	case errors.As(err, &he):
		code := he.Code
		if code == http.StatusBadRequest {
			if m, ok := he.Message.(string); ok && strings.Contains(m, "csrf") {
				return http.StatusForbidden, "errors.csrf.text"
			}
		}
		return code, ""
	case errors.Is(err, store.ErrNotFound):
		return http.StatusNotFound, ""
	case errors.Is(err, context.Canceled):
		return 499, ""
	case IsUnavailable(err):
		return http.StatusServiceUnavailable, ""
	}
	return http.StatusInternalServerError, ""
}

// ErrorHandler returns Echo's HTTP error handler: it logs 5xx once with the request id
// (4xx at info level), and renders errors/error.html in the visitor's language (JSON for
// API clients). Internal error text never reaches the page.
func ErrorHandler(r *Renderer, log *slog.Logger) echo.HTTPErrorHandler {
	return func(err error, c echo.Context) {
		if c.Response().Committed {
			return
		}
		status, key := classify(err)
		rid := RequestID(c)
		attrs := []any{"status", status, "method", c.Request().Method, "path", c.Request().URL.Path, "request_id", rid}
		switch {
		case status == 499:
			return
		case status >= 500:
			log.Error("request failed", append(attrs, "err", err.Error())...)
		default:
			log.Info("request refused", append(attrs, "reason", err.Error())...)
		}
		if status < 400 || status > 599 {
			status = http.StatusInternalServerError
		}
		titleKey := "errors.generic.title"
		textKey := "errors.generic.text"
		if r.i18n.Has("errors." + itoa(status) + ".title") {
			titleKey = "errors." + itoa(status) + ".title"
			textKey = "errors." + itoa(status) + ".text"
		}
		if key != "" && r.i18n.Has(key) {
			textKey = key
		}
		if c.Request().Method == http.MethodHead {
			_ = c.NoContent(status)
			return
		}
		if wantsJSON(c) {
			_ = c.JSON(status, map[string]any{
				"status": status,
				"error":  r.i18n.T(Lang(c), titleKey),
				"detail": r.i18n.T(Lang(c), textKey),
			})
			return
		}
		page := ErrorPage{Status: status, TitleKey: titleKey, TextKey: textKey, RequestID: rid}
		if rerr := r.Render(c, status, "errors/error.html", page); rerr != nil {
			log.Error("error page failed", "err", rerr, "request_id", rid)
			_ = c.String(status, http.StatusText(status))
		}
	}
}

func wantsJSON(c echo.Context) bool {
	if strings.HasPrefix(c.Request().URL.Path, "/api/") {
		return true
	}
	a := c.Request().Header.Get(echo.HeaderAccept)
	return strings.Contains(a, "application/json") && !strings.Contains(a, "text/html")
}

func itoa(n int) string {
	const digits = "0123456789"
	if n < 100 || n > 999 {
		return "0"
	}
	return string([]byte{digits[n/100], digits[n/10%10], digits[n%10]})
}
