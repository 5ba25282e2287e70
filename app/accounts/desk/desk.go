// Package desk is the back office for URP-issued credentials and staff accounts.
//
// Mount serves the credential desk (URP operators): search citizens by tax code or
// name, register a citizen after checking the identity document in person, issue or
// reissue credentials, block, unblock and reset at the desk. MountStaff serves staff
// administration (administrators): list staff, create a staff member, change roles,
// deactivate, reset credentials. The caller applies the role guards to the groups.
//
// The citizen desk issues and resets by POST/redirect/GET: the account page's forms
// carry a one-time token, the POST issues once per token (accounts.IssueOnce) and
// redirects to .../rilascio/<token>, which shows the code kept sealed for that token
// for half an hour (accounts.IssuedByToken). A reload or a resent form therefore never
// draws a new code and never voids a letter already printed. Staff administration
// creates a staff member (accounts.CreateStaffOnce) and resets their credentials the
// same way, to .../personale/<id>/rilascio/<token>, which shows the code only once
// (accounts.TakeIssued), so a staff code does not stay reachable from the browser's
// history. The credentials page carries the code, in a form field of the page itself,
// to the letter download (POST .../lettera.pdf). The letter handler checks the code
// against the stored hash (only the current, unexpired code prints) and builds the
// PDF in memory. The code is never kept in clear in the session, the database or a
// log (only sealed, for the token's page); once that page is gone, new credentials
// must be issued.
//
// Forms follow the portal's conventions: invalid input is shown again with status 422
// and what was typed, each message tied to its field and listed in a summary; success
// flashes and redirects with 303.
package desk

import (
	"context"
	"errors"
	"github.com/comuni-italiani/sportello/app/enti"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"
	"gorm.io/gorm"

	"github.com/comuni-italiani/sportello/app/accounts"
	"github.com/comuni-italiani/sportello/app/web"
	"github.com/comuni-italiani/sportello/config"
)

// Default mount points (the app mounts the groups there with the role guards).
const (
	DeskPath  = "/backoffice/credenziali"
	StaffPath = "/backoffice/personale"
)

// Deps is what the back office needs.
type Deps struct {
	Accounts *accounts.Service
	Render   *web.Renderer
	Validate *web.Validator
	// Comune is printed on the credential letter's letterhead and contacts.
	Comune config.Comune
	Log    *slog.Logger
	// DB reads the audit log shown on account pages.
	DB *gorm.DB
	// DeskPath and StaffPath are where the groups are mounted, for links (defaults
	// DeskPath and StaffPath).
	DeskPath, StaffPath string
}

type handlers struct{ Deps }

func newHandlers(d Deps) *handlers {
	if d.DeskPath == "" {
		d.DeskPath = DeskPath
	}
	if d.StaffPath == "" {
		d.StaffPath = StaffPath
	}
	if d.Log == nil {
		d.Log = slog.New(slog.DiscardHandler)
	}
	return &handlers{d}
}

// Router is what the back office registers its routes on, with the caller's guards
// already attached: an *echo.Group or a *web.Routes.
type Router interface {
	GET(path string, h echo.HandlerFunc, m ...echo.MiddlewareFunc) *echo.Route
	POST(path string, h echo.HandlerFunc, m ...echo.MiddlewareFunc) *echo.Route
}

var (
	_ Router = (*echo.Group)(nil)
	_ Router = (*web.Routes)(nil)
)

// Mount registers the credential desk on g (mounted at Deps.DeskPath, for URP
// operators).
func Mount(g Router, d Deps) {
	h := newHandlers(d)
	g.GET("", h.search)
	g.GET("/", h.search)
	g.GET("/nuovo", h.registerForm)
	g.GET("/anagrafe", h.registerForm)
	g.POST("/nuovo", h.register)
	g.GET("/:id", h.account)
	g.POST("/:id/rilascio", h.issue)
	g.GET("/:id/rilascio/:token", h.issued)
	g.POST("/:id/lettera.pdf", h.letter(accounts.KindCitizen))
	g.POST("/:id/blocco", h.block)
	g.POST("/:id/sblocco", h.unlock)
	g.POST("/:id/reimposta", h.deskReset)
}

// MountStaff registers staff administration on g (mounted at Deps.StaffPath, for
// administrators).
func MountStaff(g Router, d Deps) {
	h := newHandlers(d)
	g.GET("", h.staffList)
	g.GET("/", h.staffList)
	g.GET("/nuovo", h.staffNewForm)
	g.POST("/nuovo", h.staffCreate)
	g.GET("/:id", h.staffEdit)
	g.POST("/:id", h.staffUpdate)
	g.POST("/:id/reimposta", h.staffReset)
	g.GET("/:id/rilascio/:token", h.staffIssued)
	g.POST("/:id/lettera.pdf", h.letter(accounts.KindStaff))
}

// ctx is the request's context carrying the request id for the audit log (the client's
// address is already in it: audit.WithClient, set by the web layer for every request).
func ctx(c echo.Context) context.Context {
	return accounts.WithRequestID(c.Request().Context(), web.RequestID(c))
}

// actor is the logged-in staff member's username.
func actor(c echo.Context) string {
	if v := web.CurrentViewer(c); v != nil {
		return v.ID
	}
	return ""
}

// load returns the account in the :id parameter if it is of kind; anything else is
// not found.
func (h *handlers) load(c echo.Context, kind accounts.Kind) (*accounts.Account, error) {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || id <= 0 {
		return nil, web.ErrNotFound
	}
	a, err := h.Accounts.Get(ctx(c), id)
	if errors.Is(err, accounts.ErrNotFound) || (err == nil && (a.Kind != kind || !ownAccount(c, a))) {
		return nil, web.ErrNotFound
	}
	return a, err
}

// ownAccount reports whether a belongs to the ente of the request's host: the desk and
// staff pages of one comune never show or change another's accounts.
func ownAccount(c echo.Context, a *accounts.Account) bool {
	e := enti.Current(c)
	return e == nil || a.EnteID == e.ID
}

// noStore keeps pages that show a code out of every cache.
func noStore(c echo.Context) {
	c.Response().Header().Set("Cache-Control", "no-store")
	c.Response().Header().Set("Pragma", "no-cache")
}

// summaryItem is one line of a form's error summary, in form order.
type summaryItem struct {
	Field string
	Label string
	Key   string
}

func summary(errs web.FormErrors, order []string) []summaryItem {
	var out []summaryItem
	for _, f := range order {
		if k, ok := errs[f]; ok {
			out = append(out, summaryItem{Field: f, Label: "accounts.field." + f, Key: k})
		}
	}
	if k, ok := errs["_form"]; ok {
		out = append(out, summaryItem{Key: k})
	}
	return out
}

// inputErrors copies an *accounts.InputError into errs; it reports whether err was
// one.
func inputErrors(err error, errs web.FormErrors) bool {
	var ie *accounts.InputError
	if !errors.As(err, &ie) {
		return false
	}
	for f, k := range ie.Fields {
		errs.Add(f, k)
	}
	return true
}

// credentialsPage is the data of the page that shows a new code once.
type credentialsPage struct {
	Account *accounts.Account
	Cred    accounts.Credentials
	// Base is the desk or staff path, for the letter form and the way back.
	Base string
}

func (h *handlers) showCredentials(c echo.Context, a *accounts.Account, cred accounts.Credentials, base string) error {
	noStore(c)
	return h.Render.Render(c, http.StatusOK, "backoffice/desk/credentials.html", credentialsPage{Account: a, Cred: cred, Base: base})
}
