package idp

import (
	"errors"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/comuni-italiani/sportello/app/accounts"
	"github.com/comuni-italiani/sportello/app/web"
)

// ResetPage is the data of the password reset pages.
type ResetPage struct {
	Identifier string
	Token      string
	Errors     web.FormErrors
	Alert      string
	// Invalid shows that the link is unknown, expired or used.
	Invalid bool
}

func (p *Provider) resetRequestPage(c echo.Context) error {
	return p.render.Render(c, http.StatusOK, "idp/reset_request.html", ResetPage{Errors: web.FormErrors{}})
}

// resetRequestSubmit asks app/accounts to mail a reset link. The answer is the same
// page whether or not the account exists (the service never tells either).
func (p *Provider) resetRequestSubmit(c echo.Context) error {
	id := strings.TrimSpace(c.FormValue("identifier"))
	page := ResetPage{Identifier: id, Errors: web.FormErrors{}}
	if id == "" {
		page.Errors.Add("identifier", "validation.required")
		return p.render.Render(c, http.StatusUnprocessableEntity, "idp/reset_request.html", page)
	}
	err := p.accounts.RequestPasswordReset(actx(c), id, c.RealIP())
	switch {
	case errors.Is(err, accounts.ErrLocked):
		page.Alert = "idp.login.locked"
		return p.render.Render(c, http.StatusTooManyRequests, "idp/reset_request.html", page)
	case err != nil:
		return err
	}
	return web.Redirect(c, Path+"/password/recupero/inviata")
}

func (p *Provider) resetRequestSent(c echo.Context) error {
	return p.render.Render(c, http.StatusOK, "idp/reset_sent.html", nil)
}

func (p *Provider) resetPage(c echo.Context) error {
	tok := strings.TrimSpace(c.QueryParam("token"))
	page := ResetPage{Token: tok, Errors: web.FormErrors{}, Invalid: tok == ""}
	status := http.StatusOK
	if page.Invalid {
		status = http.StatusBadRequest
	}
	return p.render.Render(c, status, "idp/reset.html", page)
}

func (p *Provider) resetSubmit(c echo.Context) error {
	tok := strings.TrimSpace(c.FormValue("token"))
	page := ResetPage{Token: tok, Errors: web.FormErrors{}}
	pw, confirm := c.FormValue("password"), c.FormValue("password_confirm")
	checkNewPassword(page.Errors, pw, confirm)
	if page.Errors.Any() {
		return p.render.Render(c, http.StatusUnprocessableEntity, "idp/reset.html", page)
	}
	err := p.accounts.ResetPassword(actx(c), tok, pw, c.RealIP())
	var pe *accounts.PasswordError
	switch {
	case errors.As(err, &pe):
		page.Errors.Add("password", pe.Key)
		return p.render.Render(c, http.StatusUnprocessableEntity, "idp/reset.html", page)
	case errors.Is(err, accounts.ErrInvalidResetToken):
		return p.render.Render(c, http.StatusUnprocessableEntity, "idp/reset.html",
			ResetPage{Invalid: true, Errors: web.FormErrors{}})
	case errors.Is(err, accounts.ErrLocked):
		page.Alert = "idp.login.locked"
		return p.render.Render(c, http.StatusTooManyRequests, "idp/reset.html", page)
	case err != nil:
		return err
	}
	return web.Redirect(c, Path+"/password/nuova/fatto")
}

func (p *Provider) resetDone(c echo.Context) error {
	return p.render.Render(c, http.StatusOK, "idp/reset_done.html", nil)
}
