package desk

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode"

	"github.com/labstack/echo/v4"

	"github.com/comuni-italiani/sportello/app/accounts"
	"github.com/comuni-italiani/sportello/app/anagrafe"
	"github.com/comuni-italiani/sportello/app/audit"
	"github.com/comuni-italiani/sportello/app/store"
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
	IDDocIssuer  string `form:"id_doc_issuer" validate:"required,max=100"`
	IDDocExpires string `form:"id_doc_expires" validate:"required"`
	DocumentSeen bool   `form:"document_seen"`
}

var citizenFields = []string{"fiscal_code", "given_name", "family_name", "birth_date", "email", "phone",
	"id_doc_type", "id_doc_number", "id_doc_issuer", "id_doc_expires", "document_seen"}

func readCitizenForm(c echo.Context) citizenForm {
	f := func(name string) string { return strings.TrimSpace(c.FormValue(name)) }
	return citizenForm{FiscalCode: f("fiscal_code"), GivenName: f("given_name"), FamilyName: f("family_name"),
		BirthDate: f("birth_date"), Email: f("email"), Phone: f("phone"), IDDocType: f("id_doc_type"),
		IDDocNumber: f("id_doc_number"), IDDocIssuer: f("id_doc_issuer"), IDDocExpires: f("id_doc_expires"), DocumentSeen: c.FormValue("document_seen") == "1"}
}

// registerPage is the data of the registration form.
type registerPage struct {
	Form     citizenForm
	Errors   web.FormErrors
	Summary  []summaryItem
	DocTypes []string
	Base     string
	// Lookup is the tax code looked up in the register (GET ?cf=), Found whether
	// the register has it (then the form is prefilled), LookupErr a message key.
	Lookup    string
	Found     bool
	LookupErr string
	// Existing is the account the looked-up tax code already has at this desk.
	Existing *accounts.Account
}

func (h *handlers) renderRegister(c echo.Context, status int, f citizenForm, errs web.FormErrors) error {
	return h.renderRegisterPage(c, status, registerPage{Form: f, Errors: errs})
}

func (h *handlers) renderRegisterPage(c echo.Context, status int, p registerPage) error {
	p.Summary, p.DocTypes, p.Base = summary(p.Errors, citizenFields), accounts.DocTypes, h.DeskPath
	return h.Render.Render(c, status, "backoffice/desk/register.html", p)
}

// registerForm shows the registration form. With ?cf= (the lookup form at its top,
// a plain GET that needs no script) it looks the tax code up in the comune's register
// and prefills the names and the birth date of the person found.
func (h *handlers) registerForm(c echo.Context) error {
	cf := accounts.NormalizeFiscalCode(c.QueryParam("cf"))
	p := registerPage{Form: citizenForm{FiscalCode: cf}, Errors: web.FormErrors{}, Lookup: cf}
	if cf == "" || h.DB == nil {
		return h.renderRegisterPage(c, http.StatusOK, p)
	}
	var fe *accounts.FiscalCodeError
	if err := accounts.ValidateFiscalCode(cf); errors.As(err, &fe) {
		p.LookupErr = fe.Key
		return h.renderRegisterPage(c, http.StatusUnprocessableEntity, p)
	}
	if a, err := h.Accounts.ByFiscalCode(ctx(c), cf); err == nil && a.Kind == accounts.KindCitizen && ownAccount(c, a) {
		p.Existing = a
	}
	person, err := anagrafe.ByFiscalCode(ctx(c), h.DB, cf)
	// Reading the register is an access to personal data: it is recorded, found or not.
	e := web.AuditEntry(c, ActRegisterLookup)
	e.SubjectCF, e.Outcome, e.Details = cf, audit.OK, map[string]any{"found": err == nil}
	if aerr := audit.Record(ctx(c), h.DB, e); aerr != nil {
		return aerr
	}
	switch {
	case errors.Is(err, store.ErrNotFound):
		p.LookupErr = "accounts.desk.lookup_not_found"
	case err != nil:
		return err
	case person.DeceasedOn != nil:
		p.LookupErr = "accounts.desk.lookup_deceased"
	default:
		p.Found = true
		p.Form.GivenName, p.Form.FamilyName = titleCase(person.Name), titleCase(person.Surname)
		p.Form.BirthDate = person.BirthDate.Format("2006-01-02")
	}
	return h.renderRegisterPage(c, http.StatusOK, p)
}

// ActRegisterLookup is the audit action of a desk lookup in the register.
const ActRegisterLookup = "desk.register_lookup"

// titleCase writes a name kept in capitals by the register as people write it
// ("DE LUCA" → "De Luca", "D'ANGELO" → "D'Angelo"); mixed case is kept.
func titleCase(s string) string {
	if strings.ToUpper(s) != s {
		return s
	}
	r := []rune(strings.ToLower(s))
	start := true
	for i, c := range r {
		if start {
			r[i] = unicode.ToUpper(c)
		}
		start = c == ' ' || c == '\'' || c == '-' || c == '’'
	}
	return string(r)
}

func (h *handlers) register(c echo.Context) error {
	f := readCitizenForm(c)
	errs := h.Validate.Struct(f)
	in := accounts.CitizenInput{FiscalCode: f.FiscalCode, GivenName: f.GivenName, FamilyName: f.FamilyName,
		Email: f.Email, Phone: f.Phone, IDDocType: f.IDDocType, IDDocNumber: f.IDDocNumber, IDDocIssuer: f.IDDocIssuer,
		DocumentSeen: f.DocumentSeen}
	if f.BirthDate != "" {
		d, err := time.Parse("2006-01-02", f.BirthDate)
		if err != nil {
			errs.Add("birth_date", "accounts.desk.birth_date_invalid")
		}
		in.BirthDate = d
	}
	if f.IDDocExpires != "" {
		d, err := time.Parse("2006-01-02", f.IDDocExpires)
		if err != nil {
			errs.Add("id_doc_expires", "accounts.desk.doc_expiry_invalid")
		}
		in.IDDocExpires = d
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
	// Token is the one-time token of the issue and reset forms.
	Token string
}

var knownActions = map[string]bool{
	accounts.ActRegister: true, accounts.ActIssue: true, accounts.ActReissue: true, accounts.ActActivate: true,
	accounts.ActDeskReset: true, accounts.ActBlock: true, accounts.ActUnlock: true, accounts.ActLogin: true,
	accounts.ActLoginFailed: true, accounts.ActLoginRefused: true, accounts.ActLockout: true,
	accounts.ActActivationFail: true, accounts.ActTOTPFailed: true, accounts.ActTOTPEnable: true,
	accounts.ActResetRequest: true, accounts.ActReset: true, accounts.ActResetFail: true,
	accounts.ActPasswordChange: true, accounts.ActStaffCreate: true, accounts.ActStaffUpdate: true,
	ActRegisterLookup: true,
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
		History: hist, Errors: errs, Reason: reason, Base: h.DeskPath, Token: accounts.NewDeskToken()})
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

func (h *handlers) issue(c echo.Context) error { return h.issueOnce(c, false) }

func (h *handlers) deskReset(c echo.Context) error { return h.issueOnce(c, true) }

// issueOnce issues (or, with reset, resets) once per form token and redirects to the
// page of that token, so a reload never reissues.
func (h *handlers) issueOnce(c echo.Context, reset bool) error {
	a, err := h.load(c, accounts.KindCitizen)
	if err != nil {
		return err
	}
	token := c.FormValue("token")
	err = h.Accounts.IssueOnce(ctx(c), actor(c), a.ID, token, reset)
	var ie *accounts.InputError
	switch {
	case err == nil, errors.Is(err, accounts.ErrIssueDone):
		return web.Redirect(c, fmt.Sprintf("%s/%d/rilascio/%s", h.DeskPath, a.ID, token))
	case errors.Is(err, accounts.ErrWrongState):
		return h.wrongState(c, h.DeskPath, a.ID)
	case errors.As(err, &ie):
		return web.NewError(http.StatusUnprocessableEntity, "accounts.cred.token_invalid")
	}
	return err
}

// issued shows the credentials issued with the token in the path, as long as they are
// current (see accounts.IssuedByToken).
func (h *handlers) issued(c echo.Context) error {
	a, err := h.load(c, accounts.KindCitizen)
	if err != nil {
		return err
	}
	acc, cred, err := h.Accounts.IssuedByToken(ctx(c), a.ID, c.Param("token"))
	if errors.Is(err, accounts.ErrIssueGone) {
		web.AddFlash(c, "warning", "accounts.cred.gone")
		return web.Redirect(c, fmt.Sprintf("%s/%d", h.DeskPath, a.ID))
	}
	if err != nil {
		return err
	}
	return h.showCredentials(c, acc, cred, h.DeskPath)
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
