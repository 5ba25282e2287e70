package cases

import (
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/comuni-italiani/sportello/app/audit"
	"github.com/comuni-italiani/sportello/app/enti"
	"github.com/comuni-italiani/sportello/app/web"
)

// CitizenBase is the citizen's list of cases ("Le mie pratiche").
const CitizenBase = "/area-personale/pratiche"

// QueuePath is the staff queue of module.
func QueuePath(module string) string { return "/backoffice/" + module + "/pratiche" }

// Pages serves the case pages every module with case types gets for free: the
// citizen's "Le mie pratiche" and the staff queue and case detail of each module.
type Pages struct {
	s      *Service
	render *web.Renderer
	// Titles maps a module id to its title message key.
	titles map[string]string
}

// NewPages returns the case pages of s. titles maps module ids to their title keys.
func NewPages(s *Service, render *web.Renderer, titles map[string]string) *Pages {
	return &Pages{s: s, render: render, titles: titles}
}

// MountCitizen registers the citizen's pages on r (the site root, guarded for
// citizens).
func (p *Pages) MountCitizen(r *web.Routes) {
	r.GET(CitizenBase, p.mine)
	r.GET(CitizenBase+"/:id", p.citizenDetail)
	r.POST(CitizenBase+"/:id/azione/:name", p.citizenAction)
	r.GET(CitizenBase+"/:id/documenti/:att", p.citizenDocument)
	r.GET(CitizenBase+"/:id/ricevuta.pdf", p.citizenReceipt)
}

// MountStaff registers module's staff pages on r (the site root, guarded for staff
// holding the role of one of module's case types).
func (p *Pages) MountStaff(r *web.Routes, module string) {
	base := QueuePath(module)
	r.GET(base, p.queue(module))
	r.GET(base+"/:id", p.staffDetail(module))
	r.POST(base+"/:id/azione/:name", p.staffAction(module))
	r.POST(base+"/:id/assegna", p.staffAssign(module))
	r.GET(base+"/:id/documenti/:att", p.staffDocument(module))
}

// Roles are the staff roles of module's case types.
func (s *Service) Roles(module string) []string {
	var out []string
	for _, t := range s.Types(module) {
		if !slices.Contains(out, t.Role) {
			out = append(out, t.Role)
		}
	}
	return out
}

// ActorOf is the person making request c.
func ActorOf(c echo.Context) Actor {
	v := web.CurrentViewer(c)
	a := Actor{IP: c.RealIP(), RequestID: c.Response().Header().Get(echo.HeaderXRequestID)}
	if v == nil {
		return a
	}
	a.Name, a.Roles = v.DisplayName, v.Roles
	if v.Kind == "staff" {
		a.Kind, a.ID = Officer, v.ID
	} else {
		a.Kind, a.ID = Citizen, v.FiscalCode
	}
	return a
}

// notFound records an attempt on a case or document the person may not see and
// answers 404, exactly as for a case that does not exist.
func (p *Pages) notFound(c echo.Context, a Actor, object, id string) error {
	_ = audit.Record(c.Request().Context(), p.s.db, audit.Entry{ActorKind: string(a.Kind), ActorID: a.ID,
		Action: "security.case_access_denied", ObjectType: object, ObjectID: clip(id, 100), Outcome: audit.Denied,
		IP: a.IP, RequestID: a.RequestID, Details: map[string]any{"path": clip(c.Request().URL.Path, 200)}})
	return web.ErrNotFound
}

func paramID(c echo.Context, name string) (int64, bool) {
	id, err := strconv.ParseInt(c.Param(name), 10, 64)
	return id, err == nil && id > 0
}

// View is a case with what a page shows of it.
type View struct {
	Case        *Case
	Type        *Type
	TitleKey    string
	History     []HistoryEntry
	Messages    []Message
	Attachments []Attachment
	// Actions are the transitions the viewer may make now.
	Actions []Transition
	// Late says the case is past its deadline.
	Late bool
	// DocBase is where the case's documents are downloaded (…/documenti/<id>).
	DocBase string
	// ActionBase is where the transitions post (…/azione/<name>).
	ActionBase string
	// Errors are the refusals of the last action, by field; Failed names it.
	Errors       web.FormErrors
	Failed       string
	Message      string
	Reason       string
	MaxDocs      int
	MaxDocSizeMB string
	Accept       string
	Queue        string
	// ReceiptURL downloads the stamped submission receipt (citizen's view only).
	ReceiptURL string
	// Facts are the module's data of the case (Type.Facts).
	Facts []Fact
}

func (p *Pages) view(c echo.Context, cs *Case, t *Type, a Actor) (*View, error) {
	ctx := c.Request().Context()
	v := &View{Case: cs, Type: t, TitleKey: t.Title, Late: cs.Late(p.s.now()), Errors: web.FormErrors{},
		MaxDocs: t.maxAttachments(), MaxDocSizeMB: fmt.Sprintf("%.1f", float64(t.maxAttachmentSize())/(1<<20)),
		Accept: ".pdf,.jpg,.jpeg,.png,application/pdf,image/jpeg,image/png"}
	var err error
	if v.History, err = p.s.History(ctx, cs.ID); err != nil {
		return nil, err
	}
	if v.Messages, err = p.s.Messages(ctx, cs.ID); err != nil {
		return nil, err
	}
	if v.Attachments, err = p.s.Attachments(ctx, cs.ID); err != nil {
		return nil, err
	}
	if t.Facts != nil {
		if v.Facts, err = t.Facts(ctx, *cs, web.Lang(c)); err != nil {
			return nil, err
		}
	}
	for _, tr := range t.Available(cs.State, a) {
		// Submission goes through the module's own form (summary, checks).
		if tr.To == Submitted && cs.State == Draft {
			continue
		}
		v.Actions = append(v.Actions, tr)
	}
	return v, nil
}

// readInput reads a transition's form: reason, message and documents (multipart).
func readInput(c echo.Context) (Input, error) {
	in := Input{Reason: c.FormValue("reason"), Message: c.FormValue("message")}
	form, err := c.MultipartForm()
	if err != nil {
		if errors.Is(err, http.ErrNotMultipart) {
			return in, nil
		}
		return in, web.NewError(http.StatusBadRequest, "errors.400.text")
	}
	for _, fh := range form.File["documents"] {
		if fh.Size == 0 && fh.Filename == "" {
			continue // the empty file input of a form sent without a document
		}
		b, err := readFile(fh)
		if err != nil {
			return in, err
		}
		in.Documents = append(in.Documents, Upload{Name: fh.Filename, Content: b})
	}
	return in, nil
}

func readFile(fh *multipart.FileHeader) ([]byte, error) {
	f, err := fh.Open()
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(f)
}

// actionResult answers a transition: back to the case with a flash, or the case page
// again with the refusal tied to its field (422; 409 for a conflict).
func (p *Pages) actionResult(c echo.Context, err error, page string, back string, redo func(*View) error, v *View, in Input, name string) error {
	if err == nil {
		web.AddFlash(c, "success", "cases.flash.done")
		return c.Redirect(http.StatusSeeOther, back)
	}
	var ce *Error
	if !errors.As(err, &ce) {
		return err
	}
	status := http.StatusUnprocessableEntity
	switch ce {
	case ErrNotFound:
		return web.ErrNotFound
	case ErrNotAllowed:
		status = http.StatusForbidden
	case ErrConflict:
		status = http.StatusConflict
	}
	if err := redo(v); err != nil {
		return err
	}
	field := ce.Field
	if field == "" {
		field = "_form"
	}
	v.Errors.Add(field, ce.Key)
	v.Failed, v.Message, v.Reason = name, in.Message, in.Reason
	return p.render.Render(c, status, page, v)
}

func (p *Pages) mine(c echo.Context) error {
	a := ActorOf(c)
	list, err := p.s.OfApplicant(c.Request().Context(), a.ID, 0)
	if err != nil {
		return err
	}
	type row struct {
		Case     Case
		TitleKey string
	}
	var rows []row
	for _, cs := range list {
		t, ok := p.s.Type(cs.Module, cs.Type)
		if !ok {
			continue
		}
		rows = append(rows, row{Case: cs, TitleKey: t.Title})
	}
	return p.render.Render(c, http.StatusOK, "cases/mine.html", map[string]any{"Rows": rows})
}

func (p *Pages) citizenCase(c echo.Context) (*Case, *Type, Actor, error) {
	a := ActorOf(c)
	id, ok := paramID(c, "id")
	if !ok {
		return nil, nil, a, web.ErrNotFound
	}
	cs, err := p.s.ForApplicant(c.Request().Context(), a.ID, id)
	if errors.Is(err, ErrNotFound) {
		return nil, nil, a, p.notFound(c, a, "case", c.Param("id"))
	}
	if err != nil {
		return nil, nil, a, err
	}
	t, ok := p.s.Type(cs.Module, cs.Type)
	if !ok {
		return nil, nil, a, web.ErrNotFound
	}
	return cs, t, a, nil
}

func (p *Pages) citizenDetail(c echo.Context) error {
	cs, t, a, err := p.citizenCase(c)
	if err != nil {
		return err
	}
	v, err := p.view(c, cs, t, a)
	if err != nil {
		return err
	}
	v.DocBase, v.ActionBase = CitizenPath(cs.ID)+"/documenti/", CitizenPath(cs.ID)+"/azione/"
	if v.ReceiptURL, err = p.receiptURL(c, cs); err != nil {
		return err
	}
	return p.render.Render(c, http.StatusOK, "cases/detail.html", v)
}

func (p *Pages) citizenAction(c echo.Context) error {
	cs, t, a, err := p.citizenCase(c)
	if err != nil {
		return err
	}
	in, err := readInput(c)
	if err != nil {
		return err
	}
	name := c.Param("name")
	if tr, ok := t.Transition(name); ok && tr.To == Submitted && cs.State == Draft {
		return web.ErrForbidden // submission goes through the module's form
	}
	_, err = p.s.Apply(c.Request().Context(), a, cs.ID, name, in)
	redo := func(v *View) error {
		fresh, err := p.s.Get(c.Request().Context(), cs.ID)
		if err != nil {
			return err
		}
		nv, err := p.view(c, fresh, t, a)
		if err != nil {
			return err
		}
		*v = *nv
		v.DocBase, v.ActionBase = CitizenPath(cs.ID)+"/documenti/", CitizenPath(cs.ID)+"/azione/"
		v.ReceiptURL, err = p.receiptURL(c, fresh)
		return err
	}
	return p.actionResult(c, err, "cases/detail.html", CitizenPath(cs.ID), redo, &View{}, in, name)
}

func (p *Pages) citizenDocument(c echo.Context) error {
	cs, _, a, err := p.citizenCase(c)
	if err != nil {
		return err
	}
	return p.document(c, a, cs.ID)
}

func (p *Pages) document(c echo.Context, a Actor, caseID int64) error {
	attID, ok := paramID(c, "att")
	if !ok {
		return web.ErrNotFound
	}
	att, content, err := p.s.Content(c.Request().Context(), caseID, attID)
	if errors.Is(err, ErrNotFound) {
		return p.notFound(c, a, "case_attachment", c.Param("att"))
	}
	if err != nil {
		return err
	}
	h := c.Response().Header()
	h.Set("Content-Disposition", "attachment; filename*=UTF-8''"+url.PathEscape(att.Name))
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "private, no-store")
	return c.Blob(http.StatusOK, att.ContentType, content)
}

func (p *Pages) staffCase(c echo.Context, module string) (*Case, *Type, Actor, error) {
	a := ActorOf(c)
	id, ok := paramID(c, "id")
	if !ok {
		return nil, nil, a, web.ErrNotFound
	}
	cs, t, err := p.s.ForOfficer(c.Request().Context(), a, module, id)
	if errors.Is(err, ErrNotFound) {
		return nil, nil, a, p.notFound(c, a, "case", c.Param("id"))
	}
	if err != nil {
		return nil, nil, a, err
	}
	return cs, t, a, nil
}

func (p *Pages) staffView(c echo.Context, module string, cs *Case, t *Type, a Actor) (*View, error) {
	v, err := p.view(c, cs, t, a)
	if err != nil {
		return nil, err
	}
	base := StaffPath(module, cs.ID)
	v.DocBase, v.ActionBase, v.Queue = base+"/documenti/", base+"/azione/", QueuePath(module)
	return v, nil
}

func (p *Pages) staffDetail(module string) echo.HandlerFunc {
	return func(c echo.Context) error {
		cs, t, a, err := p.staffCase(c, module)
		if err != nil {
			return err
		}
		v, err := p.staffView(c, module, cs, t, a)
		if err != nil {
			return err
		}
		return p.render.Render(c, http.StatusOK, "cases/staff_detail.html", v)
	}
}

func (p *Pages) staffAction(module string) echo.HandlerFunc {
	return func(c echo.Context) error {
		cs, t, a, err := p.staffCase(c, module)
		if err != nil {
			return err
		}
		in, err := readInput(c)
		if err != nil {
			return err
		}
		name := c.Param("name")
		_, err = p.s.Apply(c.Request().Context(), a, cs.ID, name, in)
		redo := func(v *View) error {
			fresh, err := p.s.Get(c.Request().Context(), cs.ID)
			if err != nil {
				return err
			}
			nv, err := p.staffView(c, module, fresh, t, a)
			if err != nil {
				return err
			}
			*v = *nv
			return nil
		}
		return p.actionResult(c, err, "cases/staff_detail.html", StaffPath(module, cs.ID), redo, &View{}, in, name)
	}
}

func (p *Pages) staffAssign(module string) echo.HandlerFunc {
	return func(c echo.Context) error {
		cs, _, a, err := p.staffCase(c, module)
		if err != nil {
			return err
		}
		to := strings.TrimSpace(c.FormValue("assignee"))
		if c.FormValue("me") != "" {
			to = a.ID
		}
		err = p.s.Assign(c.Request().Context(), a, module, cs.ID, to)
		if errors.Is(err, ErrConflict) {
			web.AddFlash(c, "danger", ErrConflict.Key)
			return c.Redirect(http.StatusSeeOther, StaffPath(module, cs.ID))
		}
		if err != nil {
			return err
		}
		web.AddFlash(c, "success", "cases.flash.assigned")
		return c.Redirect(http.StatusSeeOther, StaffPath(module, cs.ID))
	}
}

func (p *Pages) staffDocument(module string) echo.HandlerFunc {
	return func(c echo.Context) error {
		cs, _, a, err := p.staffCase(c, module)
		if err != nil {
			return err
		}
		return p.document(c, a, cs.ID)
	}
}

// QueuePage is the data of the staff queue.
type QueuePage struct {
	Module, TitleKey string
	Types            []*Type
	States           []State
	Filter           Filter
	Late             string
	Rows             []Case
	Total            int64
	// Pager is the page shown and the links to the others.
	Pager *web.Pager
	Now   func(Case) bool
	// Comuni are the enti the queue spans (a union's back office: the union and the
	// member comuni where the officer holds a role of the module's types), with
	// Comune the one chosen by the filter; empty for one ente's queue.
	Comuni []enti.SpanEnte
	Comune string
}

// Spanning says the queue lists the cases of several enti (a "Comune" column).
func (q *QueuePage) Spanning() bool { return len(q.Comuni) > 1 }

// ComuniNames are the names of the queue's enti.
func (q *QueuePage) ComuniNames() []string {
	out := make([]string, len(q.Comuni))
	for i, e := range q.Comuni {
		out[i] = e.Name
	}
	return out
}

// EnteName is the name of ente id among the queue's enti.
func (q *QueuePage) EnteName(id string) string {
	for _, e := range q.Comuni {
		if e.ID == id {
			return e.Name
		}
	}
	return id
}

// CaseURL is where the queue links case cs: on its own comune's portal when the
// queue spans enti (the officer acts there, with the roles granted there).
func (q *QueuePage) CaseURL(cs Case) string {
	path := StaffPath(q.Module, cs.ID)
	if !q.Spanning() {
		return path
	}
	for _, e := range q.Comuni {
		if e.ID == cs.EnteID {
			return e.BaseURL + path
		}
	}
	return path
}

const queuePageSize = 25

func (p *Pages) queue(module string) echo.HandlerFunc {
	return func(c echo.Context) error {
		a := ActorOf(c)
		q := QueuePage{Module: module, TitleKey: p.titles[module]}
		f := Filter{Module: module, Limit: queuePageSize}
		for _, t := range p.s.Types(module) {
			if slices.Contains(a.Roles, t.Role) {
				q.Types = append(q.Types, t)
				f.Types = append(f.Types, t.ID)
				for _, s := range t.states() {
					if s != Draft && !slices.Contains(q.States, s) {
						q.States = append(q.States, s)
					}
				}
			}
		}
		if span := enti.SpanFrom(c.Request().Context()); span != nil {
			// A union's officer on the union's host: the cases of every ente of the
			// span where they work one of the module's types, or of the one chosen.
			byEnte := map[string][]string{}
			var comuni []enti.SpanEnte
			for _, e := range span {
				var types []string
				for _, t := range p.s.Types(module) {
					if slices.Contains(e.Roles, t.Role) {
						types = append(types, t.ID)
					}
				}
				if len(types) > 0 {
					byEnte[e.ID] = types
					comuni = append(comuni, e)
				}
			}
			if len(comuni) > 1 {
				q.Comuni, f.Enti = comuni, byEnte
				for _, t := range p.s.Types(module) {
					for _, types := range byEnte {
						if slices.Contains(types, t.ID) && !slices.Contains(f.Types, t.ID) {
							q.Types = append(q.Types, t)
							f.Types = append(f.Types, t.ID)
							for _, s := range t.states() {
								if s != Draft && !slices.Contains(q.States, s) {
									q.States = append(q.States, s)
								}
							}
						}
					}
				}
				if want := c.QueryParam("comune"); want != "" {
					types, ok := byEnte[want]
					if !ok {
						// Another comune of the union, or none: as for a case not theirs.
						return p.notFound(c, a, "ente", want)
					}
					f.Enti = map[string][]string{want: types}
					q.Comune = want
				}
			}
		}
		if st := State(c.QueryParam("stato")); slices.Contains(q.States, st) {
			f.State = st
		}
		if ty := c.QueryParam("tipo"); slices.Contains(f.Types, ty) {
			f.Type = ty
		}
		f.Assignee = clip(strings.TrimSpace(c.QueryParam("assegnatario")), 64)
		f.LateOnly = c.QueryParam("scadute") == "1"
		f.Search = clip(strings.TrimSpace(c.QueryParam("q")), 32)
		page, err := web.PageParam(c, "pagina")
		if err != nil {
			return err
		}
		f.Offset = (page - 1) * queuePageSize
		rows, total, err := p.s.Queue(c.Request().Context(), f)
		if err != nil {
			return err
		}
		if q.Pager, err = web.NewPager(page, queuePageSize, total, func(n int) string { return queueURL(module, f, q.Comune, n) }); err != nil {
			return err
		}
		now := p.s.now()
		q.Filter, q.Rows, q.Total = f, rows, total
		q.Now = func(cs Case) bool { return cs.Late(now) }
		return p.render.Render(c, http.StatusOK, "cases/staff_queue.html", &q)
	}
}

// queueURL is the address of page n of module's queue with the filters applied in f
// (and the comune chosen on a union's queue): the page links keep the filters, and
// only those the queue accepted.
func queueURL(module string, f Filter, comune string, n int) string {
	v := url.Values{}
	for _, p := range []struct{ name, value string }{{"comune", comune}, {"stato", string(f.State)}, {"tipo", f.Type},
		{"assegnatario", f.Assignee}, {"q", f.Search}} {
		if p.value != "" {
			v.Set(p.name, p.value)
		}
	}
	if f.LateOnly {
		v.Set("scadute", "1")
	}
	if n > 1 {
		v.Set("pagina", strconv.Itoa(n))
	}
	if len(v) == 0 {
		return QueuePath(module)
	}
	return QueuePath(module) + "?" + v.Encode()
}

func strconvFormat(id int64) string { return strconv.FormatInt(id, 10) }

// receiptURL is where the applicant downloads the receipt of cs ("" when it has none).
func (p *Pages) receiptURL(c echo.Context, cs *Case) (string, error) {
	_, err := p.s.ReceiptOf(c.Request().Context(), cs.ID)
	if errors.Is(err, ErrNotFound) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	return CitizenPath(cs.ID) + "/ricevuta.pdf", nil
}
