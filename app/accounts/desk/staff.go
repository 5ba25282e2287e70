package desk

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/comuni-italiani/sportello/app/accounts"
	"github.com/comuni-italiani/sportello/app/roles"
	"github.com/comuni-italiani/sportello/app/web"
)

// staffPerPage is how many staff members a page of the list shows.
const staffPerPage = 50

// staffList lists the ente's staff by name, staffPerPage a page (?pagina=N; a bad or
// past-the-end page number answers 400).
func (h *handlers) staffList(c echo.Context) error {
	page, err := web.PageParam(c, "pagina")
	if err != nil {
		return err
	}
	list, total, err := h.Accounts.Search(ctx(c), accounts.SearchFilter{Kind: accounts.KindStaff,
		Limit: staffPerPage, Offset: (page - 1) * staffPerPage})
	if err != nil {
		return err
	}
	pager, err := web.NewPager(page, staffPerPage, total, func(n int) string {
		return fmt.Sprintf("%s?pagina=%d", h.StaffPath, n)
	})
	if err != nil {
		return err
	}
	return h.Render.Render(c, http.StatusOK, "backoffice/staff/list.html", map[string]any{
		"Staff": list, "Total": total, "Pager": pager, "Base": h.StaffPath, "Roles": h.Accounts.Roles()})
}

// staffForm is the new staff member form as typed.
type staffForm struct {
	Username   string   `form:"username" validate:"required,max=40"`
	GivenName  string   `form:"given_name" validate:"required,max=100"`
	FamilyName string   `form:"family_name" validate:"required,max=100"`
	Email      string   `form:"email" validate:"required,max=254,email"`
	Phone      string   `form:"phone" validate:"omitempty,max=40"`
	FiscalCode string   `form:"fiscal_code" validate:"omitempty,max=32"`
	Roles      []string `form:"roles" validate:"required,min=1"`
}

var staffFields = []string{"username", "given_name", "family_name", "email", "phone", "fiscal_code", "roles"}

// staffFormPage is the data of the new staff member form.
type staffFormPage struct {
	Form    staffForm
	Errors  web.FormErrors
	Summary []summaryItem
	Roles   roles.List
	Checked map[string]bool
	Base    string
	// Token is the form's one-time token (accounts.CreateStaffOnce).
	Token string
}

func set(list []string) map[string]bool {
	m := map[string]bool{}
	for _, s := range list {
		m[s] = true
	}
	return m
}

// renderStaffNew shows the new staff member form. token is the form's token: the one
// posted when the form comes back with errors (nothing used it), a fresh one otherwise.
func (h *handlers) renderStaffNew(c echo.Context, status int, f staffForm, errs web.FormErrors, token string) error {
	if !accounts.ValidDeskToken(token) {
		token = accounts.NewDeskToken()
	}
	return h.Render.Render(c, status, "backoffice/staff/new.html", staffFormPage{Form: f, Errors: errs,
		Summary: summary(errs, staffFields), Roles: h.Accounts.Roles(), Checked: set(f.Roles), Base: h.StaffPath, Token: token})
}

func (h *handlers) staffNewForm(c echo.Context) error {
	return h.renderStaffNew(c, http.StatusOK, staffForm{}, web.FormErrors{}, "")
}

func formRoles(c echo.Context) []string {
	form, err := c.FormParams()
	if err != nil {
		return nil
	}
	return form["roles"]
}

func (h *handlers) staffCreate(c echo.Context) error {
	v := func(name string) string { return strings.TrimSpace(c.FormValue(name)) }
	f := staffForm{Username: strings.ToLower(v("username")), GivenName: v("given_name"), FamilyName: v("family_name"),
		Email: v("email"), Phone: v("phone"), FiscalCode: v("fiscal_code"), Roles: formRoles(c)}
	errs := h.Validate.Struct(f)
	if errs["roles"] != "" {
		errs["roles"] = "accounts.staff.roles_required"
	}
	token := c.FormValue("token")
	if !accounts.ValidDeskToken(token) {
		return web.NewError(http.StatusUnprocessableEntity, "accounts.staff.token_invalid")
	}
	if !errs.Any() {
		id, err := h.Accounts.CreateStaffOnce(ctx(c), actor(c), token, accounts.StaffInput{Username: f.Username,
			GivenName: f.GivenName, FamilyName: f.FamilyName, Email: f.Email, Phone: f.Phone,
			FiscalCode: f.FiscalCode, Roles: f.Roles})
		switch {
		case err == nil, errors.Is(err, accounts.ErrIssueDone):
			// The form's first POST created the account; a replay goes to the same page.
			return web.Redirect(c, fmt.Sprintf("%s/%d/rilascio/%s", h.StaffPath, id, token))
		case inputErrors(err, errs):
		default:
			return err
		}
	}
	return h.renderStaffNew(c, http.StatusUnprocessableEntity, f, errs, token)
}

// staffEditPage is the data of a staff member's page.
type staffEditPage struct {
	Account *accounts.Account
	// Token is the one-time token of the reset form.
	Token string
	Roles roles.List
	// Checked are the roles shown ticked (as saved, or as typed after an error).
	Checked map[string]bool
	Active  bool
	Errors  web.FormErrors
	Summary []summaryItem
	Self    bool
	Base    string
}

func (h *handlers) renderStaffEdit(c echo.Context, status int, a *accounts.Account, checked []string, active bool, errs web.FormErrors) error {
	return h.Render.Render(c, status, "backoffice/staff/edit.html", staffEditPage{Account: a, Roles: h.Accounts.Roles(),
		Checked: set(checked), Active: active, Errors: errs, Summary: summary(errs, []string{"roles", "active"}),
		Self: actor(c) == a.Username, Base: h.StaffPath, Token: accounts.NewDeskToken()})
}

func (h *handlers) staffEdit(c echo.Context) error {
	a, err := h.load(c, accounts.KindStaff)
	if err != nil {
		return err
	}
	return h.renderStaffEdit(c, http.StatusOK, a, a.Roles, a.Status != accounts.StatusBlocked, web.FormErrors{})
}

func (h *handlers) staffUpdate(c echo.Context) error {
	a, err := h.load(c, accounts.KindStaff)
	if err != nil {
		return err
	}
	roles := formRoles(c)
	active := c.FormValue("active") == "1"
	errs := web.FormErrors{}
	err = h.Accounts.UpdateStaff(ctx(c), actor(c), a.ID, roles, active)
	switch {
	case errors.Is(err, accounts.ErrSelfChange):
		field := "roles"
		if !active {
			field = "active"
		}
		errs.Add(field, "accounts.staff.self_change")
	case inputErrors(err, errs):
	case errors.Is(err, accounts.ErrWrongState):
		return h.wrongState(c, h.StaffPath, a.ID)
	case err != nil:
		return err
	}
	if errs.Any() {
		return h.renderStaffEdit(c, http.StatusUnprocessableEntity, a, slices.Clone(roles), active, errs)
	}
	web.AddFlash(c, "success", "accounts.staff.saved")
	return web.Redirect(c, fmt.Sprintf("%s/%d", h.StaffPath, a.ID))
}

// staffReset resets a staff member's credentials once per form token and redirects
// to the page of that token, like the desk (issueOnce).
func (h *handlers) staffReset(c echo.Context) error {
	a, err := h.load(c, accounts.KindStaff)
	if err != nil {
		return err
	}
	token := c.FormValue("token")
	err = h.Accounts.IssueOnce(ctx(c), actor(c), a.ID, token, true)
	var ie *accounts.InputError
	switch {
	case err == nil, errors.Is(err, accounts.ErrIssueDone):
		return web.Redirect(c, fmt.Sprintf("%s/%d/rilascio/%s", h.StaffPath, a.ID, token))
	case errors.Is(err, accounts.ErrWrongState):
		return h.wrongState(c, h.StaffPath, a.ID)
	case errors.As(err, &ie):
		return web.NewError(http.StatusUnprocessableEntity, "accounts.staff.token_invalid")
	}
	return err
}

// staffIssued shows the code created or reissued with the token in the path, once: a
// second visit (a reload, the browser's history) finds it gone and says so on the
// staff member's page.
func (h *handlers) staffIssued(c echo.Context) error {
	a, err := h.load(c, accounts.KindStaff)
	if err != nil {
		return err
	}
	acc, cred, err := h.Accounts.TakeIssued(ctx(c), a.ID, c.Param("token"))
	if errors.Is(err, accounts.ErrIssueGone) {
		web.AddFlash(c, "warning", "accounts.staff.code_gone")
		return web.Redirect(c, fmt.Sprintf("%s/%d", h.StaffPath, a.ID))
	}
	if err != nil {
		return err
	}
	return h.showCredentials(c, acc, cred, h.StaffPath)
}
