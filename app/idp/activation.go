package idp

import (
	"errors"
	"html/template"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/comuni-italiani/sportello/app/accounts"
	"github.com/comuni-italiani/sportello/app/web"
)

// Activation of URP-issued credentials, in three steps kept in the session:
//
//   - citizens: username and activation code, then the password (the account becomes
//     active), then, if they wish, an authenticator app;
//   - staff: username and activation code, then the authenticator app (mandatory:
//     app/accounts refuses to activate staff without it), then the password.
//
// The activation code stays in the (server-side) session only until the password is
// set. Every failure gets the same answer, whatever the reason (unknown username,
// wrong, expired or used code).
const activationTTL = 30 * time.Minute

// activation is the state of an activation in progress.
type activation struct {
	Username  string `json:"u"`
	Code      string `json:"c,omitempty"`
	AccountID int64  `json:"a"`
	Staff     bool   `json:"s,omitempty"`
	TOTP      bool   `json:"o,omitempty"`
	// Skipped says the citizen declined the authenticator step (the stepper says so
	// instead of "completed").
	Skipped   bool      `json:"x,omitempty"`
	Activated bool      `json:"d,omitempty"`
	Secret    string    `json:"k,omitempty"`
	URL       string    `json:"l,omitempty"`
	At        time.Time `json:"t"`
}

// Step is one step of a multi-step form, for the stepper.
type Step struct {
	// Label is a message key.
	Label string
	Done  bool
	// Current marks the step the page is.
	Current bool
	// Skipped marks an optional step the person chose not to take.
	Skipped bool
}

// ActivationPage is the data of the activation pages.
type ActivationPage struct {
	Steps    []Step
	Index    int
	Username string
	Errors   web.FormErrors
	Alert    string
	Staff    bool
	// Optional marks the authenticator step that citizens may skip.
	Optional bool
	Secret   string
	QR       template.URL
}

func steps(staff bool, current int) []Step {
	labels := []string{"idp.activate.step.code", "idp.activate.step.password", "idp.activate.step.totp_optional"}
	if staff {
		labels = []string{"idp.activate.step.code", "idp.activate.step.totp", "idp.activate.step.password"}
	}
	out := make([]Step, len(labels))
	for i, l := range labels {
		out[i] = Step{Label: l, Done: i < current, Current: i == current}
	}
	return out
}

func (p *Provider) activationPage(st *activation, current int) ActivationPage {
	page := ActivationPage{Index: current + 1, Errors: web.FormErrors{}}
	if st != nil {
		page.Staff, page.Username = st.Staff, st.Username
	}
	page.Steps = steps(page.Staff, current)
	return page
}

// activationState returns the activation in progress, or nil (and forgets an old one).
func (p *Provider) activationState(c echo.Context) *activation {
	var st activation
	if !p.getJSON(c, sessActivation, &st) || st.AccountID == 0 {
		return nil
	}
	if p.now().Sub(st.At) > activationTTL {
		p.remove(c, sessActivation)
		return nil
	}
	return &st
}

func (p *Provider) saveActivation(c echo.Context, st *activation) {
	st.At = p.now().UTC()
	p.putJSON(c, sessActivation, st)
}

// restartActivation sends the visitor to the first step with a notice.
func (p *Provider) restartActivation(c echo.Context) error {
	p.remove(c, sessActivation)
	web.AddFlash(c, "warning", "idp.activate.expired")
	return web.Redirect(c, Path+"/attiva")
}

// refuseActivation shows the first step again with the generic refusal.
func (p *Provider) refuseActivation(c echo.Context, username, alert string, status int) error {
	p.remove(c, sessActivation)
	page := p.activationPage(nil, 0)
	page.Username, page.Alert = username, alert
	return p.render.Render(c, status, "idp/activate.html", page)
}

func (p *Provider) activateStart(c echo.Context) error {
	page := p.activationPage(nil, 0)
	page.Username = strings.TrimSpace(c.QueryParam("utente"))
	return p.render.Render(c, http.StatusOK, "idp/activate.html", page)
}

func (p *Provider) activateCheck(c echo.Context) error {
	username := strings.TrimSpace(c.FormValue("username"))
	code := strings.TrimSpace(c.FormValue("code"))
	page := p.activationPage(nil, 0)
	page.Username = username
	if username == "" {
		page.Errors.Add("username", "validation.required")
	}
	if code == "" {
		page.Errors.Add("code", "validation.required")
	}
	if page.Errors.Any() {
		return p.render.Render(c, http.StatusUnprocessableEntity, "idp/activate.html", page)
	}
	a, err := p.accounts.CheckActivation(actx(c), username, code, c.RealIP())
	switch {
	case errors.Is(err, accounts.ErrInvalidActivation):
		return p.refuseActivation(c, username, "idp.activate.invalid", http.StatusUnprocessableEntity)
	case errors.Is(err, accounts.ErrLocked):
		return p.refuseActivation(c, username, "idp.login.locked", http.StatusTooManyRequests)
	case err != nil:
		return err
	}
	// A new session token: whatever was planted before cannot ride on the activation.
	if sm := web.Sessions(c); sm != nil {
		if err := sm.RenewToken(c.Request().Context()); err != nil {
			return err
		}
	}
	st := &activation{Username: a.Username, Code: code, AccountID: a.ID, Staff: a.Kind == accounts.KindStaff}
	p.saveActivation(c, st)
	if st.Staff {
		return web.Redirect(c, Path+"/attiva/codice")
	}
	return web.Redirect(c, Path+"/attiva/password")
}

// activationNext is where an activation in progress continues.
func activationNext(st *activation) string {
	switch {
	case st.Staff && !st.TOTP:
		return Path + "/attiva/codice"
	case !st.Activated:
		return Path + "/attiva/password"
	case !st.Staff && !st.TOTP:
		return Path + "/attiva/codice"
	}
	return Path + "/attiva/fatto"
}

func (p *Provider) passwordStep(st *activation) int {
	if st.Staff {
		return 2
	}
	return 1
}

func (p *Provider) activatePasswordPage(c echo.Context) error {
	st := p.activationState(c)
	if st == nil {
		return p.restartActivation(c)
	}
	if next := activationNext(st); next != Path+"/attiva/password" {
		return web.Redirect(c, next)
	}
	return p.render.Render(c, http.StatusOK, "idp/activate_password.html", p.activationPage(st, p.passwordStep(st)))
}

func (p *Provider) activatePasswordSubmit(c echo.Context) error {
	st := p.activationState(c)
	if st == nil {
		return p.restartActivation(c)
	}
	if next := activationNext(st); next != Path+"/attiva/password" {
		return web.Redirect(c, next)
	}
	page := p.activationPage(st, p.passwordStep(st))
	pw, confirm := c.FormValue("password"), c.FormValue("password_confirm")
	checkNewPassword(page.Errors, pw, confirm)
	if page.Errors.Any() {
		return p.render.Render(c, http.StatusUnprocessableEntity, "idp/activate_password.html", page)
	}
	_, err := p.accounts.Activate(actx(c), st.Username, st.Code, pw, c.RealIP())
	var pe *accounts.PasswordError
	switch {
	case errors.As(err, &pe):
		page.Errors.Add("password", pe.Key)
		return p.render.Render(c, http.StatusUnprocessableEntity, "idp/activate_password.html", page)
	case errors.Is(err, accounts.ErrTOTPRequired):
		st.TOTP = false
		p.saveActivation(c, st)
		return web.Redirect(c, Path+"/attiva/codice")
	case errors.Is(err, accounts.ErrInvalidActivation):
		return p.refuseActivation(c, st.Username, "idp.activate.invalid", http.StatusUnprocessableEntity)
	case errors.Is(err, accounts.ErrLocked):
		return p.refuseActivation(c, st.Username, "idp.login.locked", http.StatusTooManyRequests)
	case err != nil:
		return err
	}
	st.Activated, st.Code = true, ""
	p.saveActivation(c, st)
	return web.Redirect(c, activationNext(st))
}

func (p *Provider) totpStep(st *activation) int {
	if st.Staff {
		return 1
	}
	return 2
}

// activationTOTP fills the enrolment part of page, beginning it if needed.
func (p *Provider) activationTOTP(c echo.Context, st *activation, page *ActivationPage) error {
	if st.Secret == "" {
		secret, u, err := p.accounts.BeginTOTP(actx(c), st.AccountID)
		if err != nil {
			return err
		}
		st.Secret, st.URL = secret, u
		p.saveActivation(c, st)
	}
	qr, err := qrDataURL(st.URL)
	if err != nil {
		return err
	}
	page.QR, page.Secret, page.Optional = qr, groupSecret(st.Secret), !st.Staff
	return nil
}

func (p *Provider) activateTOTPPage(c echo.Context) error {
	st := p.activationState(c)
	if st == nil {
		return p.restartActivation(c)
	}
	if next := activationNext(st); next != Path+"/attiva/codice" {
		return web.Redirect(c, next)
	}
	page := p.activationPage(st, p.totpStep(st))
	err := p.activationTOTP(c, st, &page)
	if errors.Is(err, accounts.ErrNotActive) {
		return p.refuseActivation(c, st.Username, "idp.activate.invalid", http.StatusUnprocessableEntity)
	}
	if err != nil {
		return err
	}
	return p.render.Render(c, http.StatusOK, "idp/activate_totp.html", page)
}

func (p *Provider) activateTOTPSubmit(c echo.Context) error {
	st := p.activationState(c)
	if st == nil {
		return p.restartActivation(c)
	}
	if next := activationNext(st); next != Path+"/attiva/codice" {
		return web.Redirect(c, next)
	}
	if c.FormValue("skip") != "" && !st.Staff {
		st.TOTP, st.Skipped = true, true // declined: nothing more to do
		st.Secret, st.URL = "", ""
		p.saveActivation(c, st)
		return web.Redirect(c, Path+"/attiva/fatto")
	}
	page := p.activationPage(st, p.totpStep(st))
	code := strings.TrimSpace(c.FormValue("code"))
	var err error
	if code == "" {
		page.Errors.Add("code", "validation.required")
	} else if st.Secret == "" {
		return web.Redirect(c, Path+"/attiva/codice")
	} else {
		err = p.accounts.ConfirmTOTP(actx(c), st.AccountID, code)
	}
	switch {
	case errors.Is(err, accounts.ErrInvalidTOTP):
		page.Errors.Add("code", "idp.totp.invalid")
	case errors.Is(err, accounts.ErrNotActive):
		return p.refuseActivation(c, st.Username, "idp.activate.invalid", http.StatusUnprocessableEntity)
	case err != nil:
		return err
	}
	if page.Errors.Any() {
		if err := p.activationTOTP(c, st, &page); err != nil {
			return err
		}
		return p.render.Render(c, http.StatusUnprocessableEntity, "idp/activate_totp.html", page)
	}
	st.TOTP, st.Secret, st.URL = true, "", ""
	p.saveActivation(c, st)
	return web.Redirect(c, activationNext(st))
}

func (p *Provider) activateDone(c echo.Context) error {
	st := p.activationState(c)
	if st == nil {
		return p.restartActivation(c)
	}
	if next := activationNext(st); next != Path+"/attiva/fatto" {
		return web.Redirect(c, next)
	}
	p.remove(c, sessActivation)
	page := p.activationPage(st, 3)
	if st.Skipped && !st.Staff {
		page.Steps[len(page.Steps)-1].Done, page.Steps[len(page.Steps)-1].Skipped = false, true
	}
	return p.render.Render(c, http.StatusOK, "idp/activate_done.html", page)
}

// checkNewPassword checks that a new password was typed twice alike; the policy is
// app/accounts' (a *PasswordError comes back from the service).
func checkNewPassword(errs web.FormErrors, pw, confirm string) {
	if pw == "" {
		errs.Add("password", "validation.required")
	}
	if confirm == "" {
		errs.Add("password_confirm", "validation.required")
	} else if pw != "" && pw != confirm {
		errs.Add("password_confirm", "idp.password.mismatch")
	}
}
