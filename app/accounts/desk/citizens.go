package desk

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/comuni-italiani/sportello/app/accounts"
	"github.com/comuni-italiani/sportello/app/audit"
	"github.com/comuni-italiani/sportello/app/web"
)

// searchPage is the data of the desk's search page.
type searchPage struct {
	Query    string
	Searched bool
	Results  []accounts.Account
	Total    int64
}

func (h *handlers) search(c echo.Context) error {
	q, err := web.SearchParam(c, "q")
	if err != nil {
		return err
	}
	p := searchPage{Query: q}
	if q != "" {
		p.Searched = true
		// A complete tax code that has an account leads straight to it.
		if a, err := h.Accounts.ByFiscalCode(ctx(c), q); err == nil && a.Kind == accounts.KindCitizen && ownAccount(c, a) {
			return c.Redirect(http.StatusSeeOther, fmt.Sprintf("%s/%d", h.DeskPath, a.ID))
		}
		p.Results, p.Total, err = h.Accounts.Search(ctx(c), accounts.SearchFilter{Query: q, Kind: accounts.KindCitizen, Limit: 50})
		if err != nil {
			return err
		}
	}
	return h.Render.Render(c, http.StatusOK, "backoffice/desk/search.html", map[string]any{"Search": p, "Base": h.DeskPath})
}

// citizenForm is the registration form as typed.
type citizenForm struct {
	FiscalCode   string `form:"fiscal_code" validate:"required,max=32"`
	GivenName    string `form:"given_name" validate:"required,max=100"`
	FamilyName   string `form:"family_name" validate:"required,max=100"`
	BirthDate    string `form:"birth_date" validate:"required"`
	Email        string `form:"email" validate:"omitempty,max=254,email"`
	Phone        string `form:"phone" validate:"omitempty,max=40"`
	IDDocType    string `form:"id_doc_type" validate:"required"`
	IDDocNumber  string `form:"id_doc_number" validate:"required,max=40"`
	DocumentSeen bool   `form:"document_seen"`
}

var citizenFields = []string{"fiscal_code", "given_name", "family_name", "birth_date", "email", "phone",
	"id_doc_type", "id_doc_number", "document_seen"}

func readCitizenForm(c echo.Context) citizenForm {
	f := func(name string) string { return strings.TrimSpace(c.FormValue(name)) }
	return citizenForm{FiscalCode: f("fiscal_code"), GivenName: f("given_name"), FamilyName: f("family_name"),
		BirthDate: f("birth_date"), Email: f("email"), Phone: f("phone"), IDDocType: f("id_doc_type"),
		IDDocNumber: f("id_doc_number"), DocumentSeen: c.FormValue("document_seen") == "1"}
}

// registerPage is the data of the registration form.
type registerPage struct {
	Form     citizenForm
	Errors   web.FormErrors
	Summary  []summaryItem
	DocTypes []string
	Base     string
}

func (h *handlers) renderRegister(c echo.Context, status int, f citizenForm, errs web.FormErrors) error {
	return h.Render.Render(c, status, "backoffice/desk/register.html", registerPage{Form: f, Errors: errs,
		Summary: summary(errs, citizenFields), DocTypes: accounts.DocTypes, Base: h.DeskPath})
}

func (h *handlers) registerForm(c echo.Context) error {
	f := citizenForm{FiscalCode: accounts.NormalizeFiscalCode(c.QueryParam("cf"))}
	return h.renderRegister(c, http.StatusOK, f, web.FormErrors{})
}

func (h *handlers) register(c echo.Context) error {
	f := readCitizenForm(c)
	errs := h.Validate.Struct(f)
	in := accounts.CitizenInput{FiscalCode: f.FiscalCode, GivenName: f.GivenName, FamilyName: f.FamilyName,
		Email: f.Email, Phone: f.Phone, IDDocType: f.IDDocType, IDDocNumber: f.IDDocNumber, DocumentSeen: f.DocumentSeen}
	if f.BirthDate != "" {
		d, err := time.Parse("2006-01-02", f.BirthDate)
		if err != nil {
			errs.Add("birth_date", "accounts.desk.birth_date_invalid")
		}
		in.BirthDate = d
	}
	// The service's checks give the precise messages (tax code, dates, document).
	if err := h.Accounts.ValidateCitizen(&in); err != nil {
		var ie *accounts.InputError
		if errors.As(err, &ie) {
			for field, key := range ie.Fields {
				if _, ok := errs[field]; !ok || errs[field] == "validation.required" && key != "validation.required" {
					errs[field] = key
				}
			}
		}
	}
	if errs.Any() {
		return h.renderRegister(c, http.StatusUnprocessableEntity, f, errs)
	}
	a, err := h.Accounts.RegisterCitizen(ctx(c), actor(c), in)
	switch {
	case errors.Is(err, accounts.ErrAccountExists):
		existing, e := h.Accounts.ByFiscalCode(ctx(c), in.FiscalCode)
		if e != nil || existing.Kind != accounts.KindCitizen {
			errs.Add("fiscal_code", "accounts.staff.fiscal_code_taken")
			return h.renderRegister(c, http.StatusUnprocessableEntity, f, errs)
		}
		if !ownAccount(c, existing) {
			// Credentials are the installation's, like SPID: issued by another comune's
			// desk, they work here too. That desk's record is not shown.
			errs.Add("fiscal_code", "accounts.desk.exists_elsewhere")
			return h.renderRegister(c, http.StatusUnprocessableEntity, f, errs)
		}
		web.AddFlash(c, "info", "accounts.desk.exists")
		return web.Redirect(c, fmt.Sprintf("%s/%d", h.DeskPath, existing.ID))
	case inputErrors(err, errs):
		return h.renderRegister(c, http.StatusUnprocessableEntity, f, errs)
	case err != nil:
		return err
	}
	web.AddFlash(c, "success", "accounts.desk.registered")
	return web.Redirect(c, fmt.Sprintf("%s/%d", h.DeskPath, a.ID))
}

// historyItem is one audit entry on the account page.
type historyItem struct {
	audit.Event
	// Label is the action's message key, or "" to show the action code.
	Label string
}

// accountPage is the data of a citizen's account page.
type accountPage struct {
	Account *accounts.Account
	Now     time.Time
	History []historyItem
	Errors  web.FormErrors
	Reason  string
	Base    string
}

var knownActions = map[string]bool{
	accounts.ActRegister: true, accounts.ActIssue: true, accounts.ActReissue: true, accounts.ActActivate: true,
	accounts.ActDeskReset: true, accounts.ActBlock: true, accounts.ActUnlock: true, accounts.ActLogin: true,
	accounts.ActLoginFailed: true, accounts.ActLoginRefused: true, accounts.ActLockout: true,
	accounts.ActActivationFail: true, accounts.ActTOTPFailed: true, accounts.ActTOTPEnable: true,
	accounts.ActResetRequest: true, accounts.ActReset: true, accounts.ActResetFail: true,
	accounts.ActPasswordChange: true, accounts.ActStaffCreate: true, accounts.ActStaffUpdate: true,
}

func (h *handlers) history(c echo.Context, a *accounts.Account) ([]historyItem, error) {
	if a.FiscalCode == "" || h.DB == nil {
		return nil, nil
	}
	events, _, err := audit.List(ctx(c), h.DB, audit.Filter{SubjectCF: a.FiscalCode, Limit: 30})
	if err != nil {
		return nil, err
	}
	out := make([]historyItem, len(events))
	for i, e := range events {
		out[i] = historyItem{Event: e}
		if knownActions[e.Action] {
			out[i].Label = "accounts.action." + e.Action
		}
	}
	return out, nil
}

func (h *handlers) renderAccount(c echo.Context, status int, a *accounts.Account, errs web.FormErrors, reason string) error {
	hist, err := h.history(c, a)
	if err != nil {
		return err
	}
	return h.Render.Render(c, status, "backoffice/desk/account.html", accountPage{Account: a, Now: h.Accounts.Now(),
		History: hist, Errors: errs, Reason: reason, Base: h.DeskPath})
}

func (h *handlers) account(c echo.Context) error {
	a, err := h.load(c, accounts.KindCitizen)
	if err != nil {
		return err
	}
	return h.renderAccount(c, http.StatusOK, a, web.FormErrors{}, "")
}

// wrongState answers an action the account's state no longer allows (another
// operator acted meanwhile): a warning on the account page.
func (h *handlers) wrongState(c echo.Context, base string, id int64) error {
	web.AddFlash(c, "warning", "accounts.common.wrong_state")
	return web.Redirect(c, fmt.Sprintf("%s/%d", base, id))
}

func (h *handlers) issue(c echo.Context) error {
	a, err := h.load(c, accounts.KindCitizen)
	if err != nil {
		return err
	}
	cred, err := h.Accounts.IssueCredentials(ctx(c), actor(c), a.ID)
	if errors.Is(err, accounts.ErrWrongState) {
		return h.wrongState(c, h.DeskPath, a.ID)
	}
	if err != nil {
		return err
	}
	return h.showCredentials(c, a, cred, h.DeskPath)
}

func (h *handlers) deskReset(c echo.Context) error {
	a, err := h.load(c, accounts.KindCitizen)
	if err != nil {
		return err
	}
	cred, err := h.Accounts.DeskResetPassword(ctx(c), actor(c), a.ID)
	if errors.Is(err, accounts.ErrWrongState) {
		return h.wrongState(c, h.DeskPath, a.ID)
	}
	if err != nil {
		return err
	}
	return h.showCredentials(c, a, cred, h.DeskPath)
}

func (h *handlers) block(c echo.Context) error {
	a, err := h.load(c, accounts.KindCitizen)
	if err != nil {
		return err
	}
	reason := strings.TrimSpace(c.FormValue("reason"))
	err = h.Accounts.Block(ctx(c), actor(c), a.ID, reason)
	errs := web.FormErrors{}
	switch {
	case inputErrors(err, errs):
		return h.renderAccount(c, http.StatusUnprocessableEntity, a, errs, reason)
	case errors.Is(err, accounts.ErrWrongState):
		return h.wrongState(c, h.DeskPath, a.ID)
	case err != nil:
		return err
	}
	web.AddFlash(c, "success", "accounts.desk.blocked")
	return web.Redirect(c, fmt.Sprintf("%s/%d", h.DeskPath, a.ID))
}

func (h *handlers) unlock(c echo.Context) error {
	a, err := h.load(c, accounts.KindCitizen)
	if err != nil {
		return err
	}
	if err := h.Accounts.Unlock(ctx(c), actor(c), a.ID); err != nil {
		return err
	}
	web.AddFlash(c, "success", "accounts.desk.unlocked")
	return web.Redirect(c, fmt.Sprintf("%s/%d", h.DeskPath, a.ID))
}
