package payments

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/comuni-italiani/sportello/app/audit"
	"github.com/comuni-italiani/sportello/app/enti"
	"github.com/comuni-italiani/sportello/app/pdfdoc"
	"github.com/comuni-italiani/sportello/app/roles"
	"github.com/comuni-italiani/sportello/app/web"
)

// Paths of the payment pages.
const (
	// CitizenBase is the citizen's "I miei pagamenti" in the personal area.
	CitizenBase = "/area-personale/pagamenti"
	// StaffBase is the staff's list of positions.
	StaffBase = "/backoffice/pagamenti"
)

// CitizenPath is the citizen's page of position id.
func CitizenPath(id string) string { return CitizenBase + "/" + id }

// Pages serves the citizen's and the staff's payment pages.
type Pages struct {
	S      *Service
	Render *web.Renderer
	// BaseURL is the portal's absolute address for ctx's ente (return addresses).
	BaseURL func(ctx context.Context) string
	// Letterhead is the notice's letterhead for ctx's ente.
	Letterhead func(ctx context.Context) pdfdoc.Letterhead
}

// MountCitizen registers the citizen's pages on r (site root, citizens only).
func (p *Pages) MountCitizen(r *web.Routes) {
	r.GET(CitizenBase, p.mine)
	r.GET(CitizenBase+"/:id", p.detail)
	r.GET(CitizenBase+"/:id/avviso.pdf", p.noticePDF)
	r.POST(CitizenBase+"/:id/paga", p.pay)
	r.GET(CitizenBase+"/:id/esito/:outcome", p.outcome)
}

// MountStaff registers the staff's pages on r (site root, guarded by role).
func (p *Pages) MountStaff(r *web.Routes) {
	r.GET(StaffBase, p.staffList)
	r.GET(StaffBase+"/riconciliazione.csv", p.reconciliation)
	r.GET(StaffBase+"/:id", p.staffDetail)
	r.POST(StaffBase+"/:id/annulla", p.staffCancel)
}

func actorOf(c echo.Context) Actor {
	v := web.CurrentViewer(c)
	a := Actor{IP: c.RealIP(), RequestID: web.RequestID(c), Kind: audit.ActorAnon}
	if v == nil {
		return a
	}
	if v.Kind == "staff" {
		a.Kind, a.ID = audit.ActorStaff, v.ID
	} else {
		a.Kind, a.ID = audit.ActorCitizen, v.FiscalCode
	}
	return a
}

// own returns the logged-in citizen's position :id. Another payer's position answers
// 404 exactly like a missing one, and the attempt is audited.
func (p *Pages) own(c echo.Context) (*Position, error) {
	ctx := c.Request().Context()
	v := web.CurrentViewer(c)
	id := c.Param("id")
	if len(id) > 64 {
		return nil, web.ErrNotFound
	}
	pos, err := p.S.ForPayer(ctx, v.FiscalCode, id)
	if errors.Is(err, ErrNotFound) {
		if _, gerr := p.S.Get(ctx, id); gerr == nil {
			a := actorOf(c)
			_ = audit.Record(ctx, p.S.Store(ctx), audit.Entry{ActorKind: a.Kind, ActorID: a.ID,
				Action: "security.payment_access_denied", ObjectType: "payment_position", ObjectID: id,
				Outcome: audit.Denied, IP: a.IP, RequestID: a.RequestID,
				Details: map[string]any{"path": c.Request().URL.Path}})
		}
		return nil, web.ErrNotFound
	}
	return pos, err
}

// mine is the citizen's own positions, newest first, CitizenPageSize a page
// (?pagina=N; a bad or missing page answers 400).
func (p *Pages) mine(c echo.Context) error {
	page, err := web.PageParam(c, "pagina")
	if err != nil {
		return err
	}
	v := web.CurrentViewer(c)
	rows, total, err := p.S.List(c.Request().Context(), Filter{PayerCF: v.FiscalCode, Limit: CitizenPageSize, Offset: (page - 1) * CitizenPageSize})
	if err != nil {
		return err
	}
	pager, err := web.NewPager(page, CitizenPageSize, total, func(n int) string {
		if n == 1 {
			return CitizenBase
		}
		return CitizenBase + "?pagina=" + strconv.Itoa(n)
	})
	if err != nil {
		return err
	}
	return p.Render.Render(c, http.StatusOK, "payments/mine.html", map[string]any{"Rows": rows, "Total": total, "Pager": pager})
}

func (p *Pages) detailPage(c echo.Context, status int, pos *Position, notice string) error {
	return p.Render.Render(c, status, "payments/detail.html", map[string]any{"P": pos, "Notice": notice,
		"NoticeNumber": FormatNotice(pos.NoticeNumber)})
}

func (p *Pages) detail(c echo.Context) error {
	pos, err := p.own(c)
	if err != nil {
		return err
	}
	return p.detailPage(c, http.StatusOK, pos, "")
}

func (p *Pages) noticePDF(c echo.Context) error {
	pos, err := p.own(c)
	if err != nil {
		return err
	}
	if !pos.State.Open() {
		return web.NewError(http.StatusConflict, "payments.error.not_payable")
	}
	if pos.State == Created { // a notice is only worth printing once pagoPA knows it
		q, err := p.S.Publish(c.Request().Context(), pos.ID, actorOf(c))
		if err != nil {
			return p.detailPage(c, http.StatusServiceUnavailable, pos, "payments.error.unavailable")
		}
		pos = q
	}
	st, err := p.S.Settings(c.Request().Context())
	if err != nil {
		return err
	}
	pdf, err := NoticePDF(p.Letterhead(c.Request().Context()), st.CompanyName, pos)
	if err != nil {
		return err
	}
	c.Response().Header().Set("Content-Disposition", `attachment; filename="avviso-pagopa-`+pos.NoticeNumber+`.pdf"`)
	return c.Blob(http.StatusOK, "application/pdf", pdf)
}

// pay sends the citizen to pagoPA Checkout; Checkout sends them back to outcome.
func (p *Pages) pay(c echo.Context) error {
	ctx := c.Request().Context()
	pos, err := p.own(c)
	if err != nil {
		return err
	}
	if pos.State == Created { // publication failed earlier: try again now
		if pos, err = p.S.Publish(ctx, pos.ID, actorOf(c)); err != nil {
			return p.detailPage(c, http.StatusServiceUnavailable, pos, "payments.error.unavailable")
		}
	}
	if pos.State != Published {
		return p.detailPage(c, http.StatusConflict, pos, "payments.error.not_payable")
	}
	back := p.BaseURL(ctx) + CitizenPath(pos.ID) + "/esito/"
	loc, err := p.S.CheckoutURL(ctx, pos, "", back+"ok", back+"annullato", back+"errore")
	if err != nil {
		return p.detailPage(c, http.StatusServiceUnavailable, pos, "payments.error.unavailable")
	}
	return c.Redirect(http.StatusSeeOther, loc)
}

// outcome is where Checkout sends the payer back: the position is refreshed from
// pagoPA's receipts (never from the address alone, which anyone can type).
func (p *Pages) outcome(c echo.Context) error {
	pos, err := p.own(c)
	if err != nil {
		return err
	}
	q, err := p.S.Refresh(c.Request().Context(), pos.ID)
	if err != nil {
		return p.detailPage(c, http.StatusOK, pos, "payments.outcome.pending")
	}
	msg := "payments.outcome.failed"
	switch {
	case q.State == Paid:
		msg = "payments.outcome.paid"
	case c.Param("outcome") == "annullato":
		msg = "payments.outcome.cancelled"
	case c.Param("outcome") == "ok":
		msg = "payments.outcome.pending"
	}
	return p.detailPage(c, http.StatusOK, q, msg)
}

// StaffPageSize is how many positions a page of the back-office list shows, and
// CitizenPageSize a page of the citizen's own list.
const (
	StaffPageSize   = 50
	CitizenPageSize = 50
)

// staffFilter reads the list's filters (not the page: see staffList).
func staffFilter(c echo.Context) (Filter, bool) {
	f := Filter{State: State(c.QueryParam("stato")), PayerCF: strings.ToUpper(strings.TrimSpace(c.QueryParam("cf"))), Limit: StaffPageSize}
	if f.State != "" && !validState(f.State) {
		return f, false
	}
	if len(f.PayerCF) > 16 {
		return f, false
	}
	return f, true
}

// staffListURL is the address of page n of the back-office list with the filters of
// f (and the comune chosen on a union's list): the page links keep the filters.
func staffListURL(f Filter, comune string, n int) string {
	v := url.Values{}
	if comune != "" {
		v.Set("comune", comune)
	}
	if f.State != "" {
		v.Set("stato", string(f.State))
	}
	if f.PayerCF != "" {
		v.Set("cf", f.PayerCF)
	}
	if n > 1 {
		v.Set("pagina", strconv.Itoa(n))
	}
	if len(v) == 0 {
		return StaffBase
	}
	return StaffBase + "?" + v.Encode()
}

func validState(s State) bool {
	for _, x := range States {
		if s == x {
			return true
		}
	}
	return false
}

// staffList shows the positions, newest first, StaffPageSize a page (?pagina=N, with
// ?stato=, ?cf= and, on a union's host, ?comune= to filter). A page number that is
// not a number or past the last page answers 400 with a message; a bad filter shows
// the whole list, with 400 and a note.
func (p *Pages) staffList(c echo.Context) error {
	page, err := web.PageParam(c, "pagina")
	if err != nil {
		return err
	}
	f, ok := staffFilter(c)
	status := http.StatusOK
	if !ok {
		status, f = http.StatusBadRequest, Filter{Limit: StaffPageSize}
	}
	// A union's officer on the union's host: the positions of every ente where they
	// hold the payments role, with a "Comune" column and filter.
	var span enti.Span
	if s := enti.SpanFrom(c.Request().Context()).Holding(roles.Admin, roles.Payments); len(s) > 1 {
		span, f.Enti = s, s.IDs()
		if want := c.QueryParam("comune"); want != "" {
			if _, ok := s.Get(want); !ok {
				e := web.AuditEntry(c, "security.access_denied")
				e.Outcome, e.Details = audit.Denied, map[string]any{"path": c.Request().URL.Path, "comune": want}
				if err := audit.Record(c.Request().Context(), p.S.db, e); err != nil {
					return err
				}
				return web.ErrNotFound
			}
			f.Enti = []string{want}
		}
	}
	comune := ""
	if len(span) > 0 && len(f.Enti) == 1 {
		comune = f.Enti[0]
	}
	// The page is read with the total in one call; a page past the last one then
	// answers 400 (its rows, none, are not shown).
	f.Offset = (page - 1) * StaffPageSize
	rows, total, err := p.S.List(c.Request().Context(), f)
	if err != nil {
		return err
	}
	pager, err := web.NewPager(page, StaffPageSize, total, func(n int) string { return staffListURL(f, comune, n) })
	if err != nil {
		return err
	}
	return p.Render.Render(c, status, "payments/staff_list.html", map[string]any{"Rows": rows, "Total": total, "Pager": pager,
		"Filter": f, "States": States, "Invalid": !ok, "Today": time.Now().In(rome()).Format("2006-01-02"),
		"Span": span, "Comune": comune, "EnteName": func(id string) string {
			e, _ := span.Get(id)
			return e.Name
		}, "PositionURL": func(pos Position) string {
			if e, ok := span.Get(pos.EnteID); ok {
				return e.BaseURL + StaffBase + "/" + pos.ID
			}
			return StaffBase + "/" + pos.ID
		}})
}

func rome() *time.Location {
	l, err := time.LoadLocation("Europe/Rome")
	if err != nil {
		return time.UTC
	}
	return l
}

func (p *Pages) staffPosition(c echo.Context) (*Position, error) {
	pos, err := p.S.Get(c.Request().Context(), c.Param("id"))
	if errors.Is(err, ErrNotFound) {
		return nil, web.ErrNotFound
	}
	return pos, err
}

func (p *Pages) staffDetail(c echo.Context) error {
	pos, err := p.staffPosition(c)
	if err != nil {
		return err
	}
	return p.Render.Render(c, http.StatusOK, "payments/staff_detail.html", map[string]any{"P": pos,
		"NoticeNumber": FormatNotice(pos.NoticeNumber)})
}

func (p *Pages) staffCancel(c echo.Context) error {
	pos, err := p.staffPosition(c)
	if err != nil {
		return err
	}
	reason := strings.TrimSpace(c.FormValue("motivo"))
	page := func(status int, errKey string) error {
		return p.Render.Render(c, status, "payments/staff_detail.html", map[string]any{"P": pos,
			"NoticeNumber": FormatNotice(pos.NoticeNumber), "Reason": reason, "Error": errKey})
	}
	if reason == "" || len([]rune(reason)) > 300 {
		return page(http.StatusUnprocessableEntity, "payments.staff.reason_required")
	}
	if _, err := p.S.Cancel(c.Request().Context(), pos.ID, reason, actorOf(c)); err != nil {
		switch {
		case errors.Is(err, ErrState), errors.Is(err, ErrReceipt):
			if q, gerr := p.S.Get(c.Request().Context(), pos.ID); gerr == nil {
				pos = q
			}
			return page(http.StatusConflict, "payments.staff.not_cancellable")
		case errors.Is(err, ErrNotFound):
			return web.ErrNotFound
		default:
			return page(http.StatusServiceUnavailable, "payments.error.unavailable")
		}
	}
	web.AddFlash(c, "success", "payments.staff.cancelled")
	return web.Redirect(c, StaffBase+"/"+pos.ID)
}

// reconciliation is the CSV of the positions paid on one day (Europe/Rome) for the
// accounting office: one row per receipt, amounts in euro with a comma.
func (p *Pages) reconciliation(c echo.Context) error {
	day, err := time.ParseInLocation("2006-01-02", c.QueryParam("giorno"), rome())
	if err != nil {
		return web.NewError(http.StatusBadRequest, "payments.staff.bad_day")
	}
	from, to := day, day.AddDate(0, 0, 1)
	var out strings.Builder
	w := csv.NewWriter(&out)
	w.Comma = ';' // the separator Italian spreadsheets expect
	// marca_da_bollo: a marca da bollo digitale is sold by the PSP on behalf of the
	// Agenzia delle Entrate and credits nothing to the comune, so the accounting
	// office leaves those rows out of its reconciliation with the treasury (pagoPA,
	// "Specifiche attuative dei codici identificativi di versamento", chapter 5, in
	// pagopa-archive/pagopa-codici-docs; pagopa/devportal-docs, e.bollo-service.md:
	// their amounts are not in the PSPs' reporting flows).
	_ = w.Write([]string{"data_pagamento", "numero_avviso", "iuv", "id_ricevuta", "psp", "codice_fiscale_pagatore",
		"pagatore", "causale", "importo_euro", "importo_centesimi", "iupd", "marca_da_bollo"})
	for offset := 0; ; offset += 1000 {
		rows, _, err := p.S.List(c.Request().Context(), Filter{State: Paid, PaidFrom: from, PaidTo: to, Limit: 1000, Offset: offset})
		if err != nil {
			return err
		}
		for _, r := range rows {
			paid := ""
			if r.PaidAt != nil {
				paid = r.PaidAt.In(rome()).Format("2006-01-02 15:04:05")
			}
			_ = w.Write([]string{paid, r.NoticeNumber, r.IUV, r.ReceiptID, r.PSP, r.PayerCF, csvSafe(r.PayerName),
				csvSafe(r.Causale), FormatEuro(r.AmountCents), strconv.FormatInt(r.AmountCents, 10), r.ID, stampColumn(r)})
		}
		if len(rows) < 1000 {
			break
		}
	}
	w.Flush()
	a := actorOf(c)
	_ = audit.Record(c.Request().Context(), p.S.db, audit.Entry{ActorKind: a.Kind, ActorID: a.ID, Action: "payments.reconciliation_export",
		ObjectType: "day", ObjectID: day.Format("2006-01-02"), IP: a.IP, RequestID: a.RequestID})
	c.Response().Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="pagamenti-%s.csv"`, day.Format("2006-01-02")))
	return c.Blob(http.StatusOK, "text/csv; charset=utf-8", []byte(out.String()))
}

// stampColumn says whether a paid position is a marca da bollo digitale.
func stampColumn(p Position) string {
	if p.StampHash != "" {
		return "si"
	}
	return "no"
}

// csvSafe keeps a spreadsheet from reading a cell as a formula (CSV injection).
func csvSafe(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}
