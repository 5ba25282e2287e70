package cases

import (
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/comuni-italiani/sportello/app/web"
)

// Form is the citizen's application form for one case type, in the Designers Italia
// pattern: a stepper whose every step saves the draft, a summary before submission
// (with the documents), a confirmation page with the protocol number and what
// happens next, and the rating question at the end. A module declares the steps and
// fields as data and mounts the form on its citizen routes:
//
//	f := &cases.Form{Service: mt.Cases, Render: mt.Render, Module: "ztl", Type: "permesso",
//		Path: "/servizi/ztl/domanda", Steps: steps, Next: "ztl.next"}
//	f.Mount(mt.Citizen, "/domanda")
//
// The draft's form data is a JSON object of the fields' string values.
type Form struct {
	Service *Service
	Render  *web.Renderer
	Module  string
	Type    string
	// Path is the form's absolute path (/servizi/<module>/domanda).
	Path  string
	Steps []Step
	// Next is the message key of "what happens next" on the confirmation page.
	Next string
	// Check validates the whole form before submission (optional): it returns
	// field name to message key of what is wrong.
	Check func(values map[string]string) web.FormErrors
	// Prefill returns the values a new draft starts with (optional): what the portal
	// already knows, such as data from the register or the choice made on the
	// module's own start page. An error refuses the draft (a *web.Error is shown).
	Prefill func(c echo.Context) (map[string]string, error)
}

// Step is one page of a Form.
type Step struct {
	// ID is the URL segment; Title a message key.
	ID, Title string
	Fields    []Field
}

// Field is one input of a step.
type Field struct {
	// Name is the key in the form data and the input name.
	Name string
	// Label and Help are message keys.
	Label, Help string
	// Kind is "text" (default), "textarea", "date", "email", "tel" or "select".
	Kind string
	// Options are the choices of a select: value and label message key.
	Options []Option
	// Optional fields may be left empty.
	Optional bool
	// Max caps the length in characters (default 200, 2000 for a textarea).
	Max int
	// Validate checks a non-empty value and returns a message key, or "".
	Validate func(v string) string
}

// Option is one choice of a select field.
type Option struct{ Value, Label string }

// Mount registers the form's pages on r (the module's citizen routes) under prefix,
// which must match Path.
func (f *Form) Mount(r *web.Routes, prefix string) {
	r.GET(prefix, f.start)
	r.POST(prefix, f.create)
	r.GET(prefix+"/:id/riepilogo", f.summary)
	r.POST(prefix+"/:id/invia", f.submit)
	r.GET(prefix+"/:id/conferma", f.confirm)
	r.GET(prefix+"/:id/:step", f.showStep)
	r.POST(prefix+"/:id/:step", f.saveStep)
}

// MaxLen is the length cap of fd (templates use it for maxlength).
func (f *Form) MaxLen(fd Field) int { return f.maxLen(fd) }

func (f *Form) maxLen(fd Field) int {
	if fd.Max > 0 {
		return fd.Max
	}
	if fd.Kind == "textarea" {
		return 2000
	}
	return 200
}

// StepView is one entry of the stepper.
type StepView struct {
	Label         string
	Done, Current bool
	// Skipped marks a step the citizen need not fill (the shared stepper shows it).
	Skipped bool
}

// FormPage is the data of the form's pages.
type FormPage struct {
	Form     *Form
	Case     *Case
	TitleKey string
	Step     *Step
	Index    int
	Steps    []StepView
	Values   map[string]string
	Errors   web.FormErrors
	Action   string
	Back     string
	View     *View
	// Receipt downloads the stamped receipt (confirmation page).
	Receipt string
}

func (f *Form) typ() *Type {
	t, _ := f.Service.Type(f.Module, f.Type)
	return t
}

func (f *Form) page(cs *Case, index int) *FormPage {
	p := &FormPage{Form: f, Case: cs, TitleKey: f.typ().Title, Index: index + 1, Errors: web.FormErrors{},
		Values: map[string]string{}}
	for i, s := range f.Steps {
		p.Steps = append(p.Steps, StepView{Label: s.Title, Done: i < index, Current: i == index})
	}
	p.Steps = append(p.Steps, StepView{Label: "cases.form.summary", Done: index > len(f.Steps), Current: index == len(f.Steps)})
	if cs != nil {
		_ = json.Unmarshal([]byte(cs.FormData), &p.Values)
	}
	return p
}

func (f *Form) start(c echo.Context) error {
	return f.Render.Render(c, http.StatusOK, "cases/form_start.html", f.page(nil, -1))
}

func (f *Form) create(c echo.Context) error {
	a := ActorOf(c)
	if f.Service.o.Email != nil {
		a.Email = f.Service.o.Email(c)
	}
	values := map[string]string{}
	if f.Prefill != nil {
		v, err := f.Prefill(c)
		if err != nil {
			return err
		}
		for k, x := range v {
			values[k] = x
		}
	}
	cs, err := f.Service.Create(c.Request().Context(), a, f.Module, f.Type, values)
	if err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, f.stepURL(cs.ID, 0))
}

func (f *Form) stepURL(id int64, i int) string {
	if i >= len(f.Steps) {
		return f.Path + "/" + itoa(id) + "/riepilogo"
	}
	return f.Path + "/" + itoa(id) + "/" + f.Steps[i].ID
}

func itoa(id int64) string { return strconvFormat(id) }

// draft loads the citizen's case of this form.
func (f *Form) draft(c echo.Context) (*Case, error) {
	a := ActorOf(c)
	id, ok := paramID(c, "id")
	if !ok {
		return nil, web.ErrNotFound
	}
	cs, err := f.Service.ForApplicant(c.Request().Context(), a.ID, id)
	if errors.Is(err, ErrNotFound) || (err == nil && (cs.Module != f.Module || cs.Type != f.Type)) {
		p := &Pages{s: f.Service}
		return nil, p.notFound(c, a, "case", c.Param("id"))
	}
	return cs, err
}

func (f *Form) stepIndex(c echo.Context) (int, bool) {
	i := slices.IndexFunc(f.Steps, func(s Step) bool { return s.ID == c.Param("step") })
	return i, i >= 0
}

func (f *Form) showStep(c echo.Context) error {
	cs, err := f.draft(c)
	if err != nil {
		return err
	}
	i, ok := f.stepIndex(c)
	if !ok {
		return web.ErrNotFound
	}
	if cs.State != Draft {
		return c.Redirect(http.StatusSeeOther, CitizenPath(cs.ID))
	}
	p := f.page(cs, i)
	p.Step, p.Action = &f.Steps[i], f.stepURL(cs.ID, i)
	if i > 0 {
		p.Back = f.stepURL(cs.ID, i-1)
	}
	return f.Render.Render(c, http.StatusOK, "cases/form_step.html", p)
}

func (f *Form) saveStep(c echo.Context) error {
	cs, err := f.draft(c)
	if err != nil {
		return err
	}
	i, ok := f.stepIndex(c)
	if !ok {
		return web.ErrNotFound
	}
	if cs.State != Draft {
		return c.Redirect(http.StatusSeeOther, CitizenPath(cs.ID))
	}
	p := f.page(cs, i)
	p.Step, p.Action = &f.Steps[i], f.stepURL(cs.ID, i)
	for _, fd := range f.Steps[i].Fields {
		v := strings.TrimSpace(c.FormValue(fd.Name))
		p.Values[fd.Name] = v
		if key := f.checkField(fd, v); key != "" {
			p.Errors.Add(fd.Name, key)
		}
	}
	if p.Errors.Any() {
		if i > 0 {
			p.Back = f.stepURL(cs.ID, i-1)
		}
		return f.Render.Render(c, http.StatusUnprocessableEntity, "cases/form_step.html", p)
	}
	err = f.Service.SaveDraft(c.Request().Context(), ActorOf(c), cs.ID, p.Values)
	if errors.Is(err, ErrConflict) {
		return c.Redirect(http.StatusSeeOther, CitizenPath(cs.ID))
	}
	if err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, f.stepURL(cs.ID, i+1))
}

func (f *Form) checkField(fd Field, v string) string {
	switch {
	case v == "" && !fd.Optional:
		return "cases.form.required"
	case v == "":
		return ""
	case !utf8.ValidString(v) || strings.ContainsRune(v, 0) || utf8.RuneCountInString(v) > f.maxLen(fd):
		return "cases.form.too_long"
	case fd.Kind == "select" && !slices.ContainsFunc(fd.Options, func(o Option) bool { return o.Value == v }):
		return "cases.form.choose"
	case fd.Validate != nil:
		return fd.Validate(v)
	}
	return ""
}

// check validates every field of the saved draft (a step may have been skipped by
// typing its address) and the whole form.
func (f *Form) check(values map[string]string) web.FormErrors {
	errs := web.FormErrors{}
	for _, s := range f.Steps {
		for _, fd := range s.Fields {
			if key := f.checkField(fd, values[fd.Name]); key != "" {
				errs.Add(fd.Name, key)
			}
		}
	}
	if f.Check != nil {
		for k, v := range f.Check(values) {
			errs.Add(k, v)
		}
	}
	return errs
}

func (f *Form) summaryPage(c echo.Context, cs *Case) (*FormPage, error) {
	p := f.page(cs, len(f.Steps))
	p.Action = f.Path + "/" + itoa(cs.ID) + "/invia"
	p.Back = f.stepURL(cs.ID, len(f.Steps)-1)
	v, err := (&Pages{s: f.Service}).view(c, cs, f.typ(), ActorOf(c))
	if err != nil {
		return nil, err
	}
	p.View = v
	return p, nil
}

func (f *Form) summary(c echo.Context) error {
	cs, err := f.draft(c)
	if err != nil {
		return err
	}
	if cs.State != Draft {
		return c.Redirect(http.StatusSeeOther, CitizenPath(cs.ID))
	}
	p, err := f.summaryPage(c, cs)
	if err != nil {
		return err
	}
	return f.Render.Render(c, http.StatusOK, "cases/form_summary.html", p)
}

func (f *Form) submit(c echo.Context) error {
	cs, err := f.draft(c)
	if err != nil {
		return err
	}
	if cs.State != Draft {
		return c.Redirect(http.StatusSeeOther, CitizenPath(cs.ID))
	}
	p, err := f.summaryPage(c, cs)
	if err != nil {
		return err
	}
	if errs := f.check(p.Values); errs.Any() {
		p.Errors = errs
		return f.Render.Render(c, http.StatusUnprocessableEntity, "cases/form_summary.html", p)
	}
	in, err := readInput(c)
	if err != nil {
		return err
	}
	name := ""
	for _, tr := range f.typ().Available(Draft, ActorOf(c)) {
		if tr.To == Submitted {
			name = tr.Name
		}
	}
	if name == "" {
		return web.ErrForbidden
	}
	_, err = f.Service.Apply(c.Request().Context(), ActorOf(c), cs.ID, name, Input{Documents: in.Documents})
	var ce *Error
	if errors.As(err, &ce) && ce != ErrNotFound {
		status := http.StatusUnprocessableEntity
		if ce == ErrConflict {
			status = http.StatusConflict
		}
		field := ce.Field
		if field == "" {
			field = "_form"
		}
		p.Errors.Add(field, ce.Key)
		return f.Render.Render(c, status, "cases/form_summary.html", p)
	}
	if err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, f.Path+"/"+itoa(cs.ID)+"/conferma")
}

func (f *Form) confirm(c echo.Context) error {
	cs, err := f.draft(c)
	if err != nil {
		return err
	}
	if cs.State == Draft {
		return c.Redirect(http.StatusSeeOther, f.Path+"/"+itoa(cs.ID)+"/riepilogo")
	}
	p := f.page(cs, len(f.Steps)+1)
	if p.Receipt, err = (&Pages{s: f.Service}).receiptURL(c, cs); err != nil {
		return err
	}
	return f.Render.Render(c, http.StatusOK, "cases/form_done.html", p)
}
