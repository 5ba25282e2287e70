package certificates

import (
	"context"
	"errors"
	"fmt"
	"github.com/comuni-italiani/sportello/app/enti"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/comuni-italiani/sportello/app/anagrafe"
	"github.com/comuni-italiani/sportello/app/audit"
	"github.com/comuni-italiani/sportello/app/payments"
	"github.com/comuni-italiani/sportello/app/pdfdoc"
	"github.com/comuni-italiani/sportello/app/store"
	"github.com/comuni-italiani/sportello/app/web"
)

// personOption is one person the citizen may request certificates for.
type personOption struct {
	ID    int64
	Name  string
	Birth string
	// Relation names the person by their relation to the citizen asking ("tua
	// figlia"); "" for the citizen themselves.
	Relation string
	Self     bool
	// BornKey is "nato il" or "nata il", by the person's sex.
	BornKey string
}

// typeOption is one certificate type on the choice page, with the reason it cannot
// be issued ("" when it can).
type typeOption struct {
	Type   Type
	Reason string
}

// stepForm is what the steps carry from one to the next.
type stepForm struct {
	Persona   string `form:"persona"`
	Tipo      string `form:"tipo"`
	Bollo     string `form:"bollo"`
	Esenzione string `form:"esenzione"`
}

func stepFormOf(c echo.Context) stepForm {
	return stepForm{Persona: c.FormValue("persona"), Tipo: c.FormValue("tipo"), Bollo: c.FormValue("bollo"),
		Esenzione: c.FormValue("esenzione")}
}

// stepPerson is step 1: for whom.
func (m *Module) stepPerson(c echo.Context) error {
	ctx := c.Request().Context()
	v := web.CurrentViewer(c)
	me, err := anagrafe.ByFiscalCode(ctx, m.db, v.FiscalCode)
	if errors.Is(err, store.ErrNotFound) {
		return m.render.Render(c, http.StatusOK, "certificati/person.html", map[string]any{"NotRegistered": true})
	}
	if err != nil {
		return err
	}
	people := []personOption{{ID: me.ID, Name: me.FullName(), Birth: me.BirthDate.Format("02/01/2006"), Self: true}}
	h, err := anagrafe.HouseholdOf(ctx, m.db, me.ID)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	people[0].BornKey = "certificati.born_on." + sexKey(me.Sex)
	if h != nil && !h.Cohabitation() {
		var self, head anagrafe.Member
		for _, mm := range h.Members {
			if mm.FiscalCode == me.FiscalCode {
				self = mm
			}
			if mm.Relation == anagrafe.RelHead {
				head = mm
			}
		}
		T := m.tr(web.Lang(c))
		for _, mm := range h.Members {
			if mm.FiscalCode != me.FiscalCode {
				people = append(people, personOption{ID: mm.ID, Name: mm.FullName(),
					Birth: mm.BirthDate.Format("02/01/2006"), Relation: relationTo(T, self, mm, head),
					BornKey: "certificati.born_on." + sexKey(mm.Sex)})
			}
		}
	}
	return m.render.Render(c, http.StatusOK, "certificati/person.html", map[string]any{
		"People": people, "Selected": c.QueryParam("persona"), "Cohabitation": h != nil && h.Cohabitation()})
}

// target returns the person a step is about, after checking that the logged-in
// citizen may ask for them: anyone else is refused with 403 and an audit entry.
func (m *Module) target(c echo.Context, raw string) (*anagrafe.Person, error) {
	ctx := c.Request().Context()
	v := web.CurrentViewer(c)
	var p *anagrafe.Person
	if id, err := strconv.ParseInt(raw, 10, 64); err == nil && id > 0 {
		p, err = anagrafe.ByID(ctx, m.db, id)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return nil, err
		}
	}
	ok := false
	if p != nil {
		var err error
		if ok, err = CanRequest(ctx, m.db, v.FiscalCode, p.FiscalCode); err != nil {
			return nil, err
		}
	}
	if !ok {
		return nil, m.deny(c, p, raw)
	}
	return p, nil
}

// deny records a refused request for someone outside the citizen's household and
// returns the 403 to send.
func (m *Module) deny(c echo.Context, p *anagrafe.Person, raw string) error {
	subject := ""
	if p != nil {
		subject = p.FiscalCode
	}
	e := web.AuditEntry(c, "certificates.denied")
	e.SubjectCF, e.ObjectType, e.ObjectID, e.Outcome = subject, "person", raw, audit.Denied
	e.Details = map[string]any{"reason": "not_in_household", "path": c.Path()}
	err := audit.Record(c.Request().Context(), m.db, e)
	if err != nil {
		return err
	}
	return web.ErrForbidden
}

// typePage is the data of step 2.
type typePage struct {
	Person     anagrafe.Person
	Self       bool
	Options    []typeOption
	Exemptions []Exemption
	Bollo      string
	Form       stepForm
	Errors     web.FormErrors
}

func (m *Module) typePage(ctx context.Context, viewerCF string, p *anagrafe.Person, f stepForm, errs web.FormErrors) (*typePage, error) {
	s, err := loadSubject(ctx, m.db, p)
	if err != nil {
		return nil, err
	}
	set := m.settingsFor(ctx)
	tp := &typePage{Person: *p, Self: p.FiscalCode == viewerCF, Exemptions: set.Exemptions,
		Bollo: euro(set.BolloCents), Form: f, Errors: errs}
	for _, t := range Types {
		tp.Options = append(tp.Options, typeOption{Type: t, Reason: t.Check(s)})
	}
	return tp, nil
}

// stepType is step 2: which certificate, and the stamp duty.
func (m *Module) stepType(c echo.Context) error {
	f := stepFormOf(c)
	if f.Persona == "" {
		return web.Redirect(c, "/servizi/"+ID+"/nuovo")
	}
	p, err := m.target(c, f.Persona)
	if err != nil {
		return err
	}
	tp, err := m.typePage(c.Request().Context(), web.CurrentViewer(c).FiscalCode, p, f, web.FormErrors{})
	if err != nil {
		return err
	}
	return m.render.Render(c, http.StatusOK, "certificati/type.html", tp)
}

// validateStep checks step 2's choices.
func (m *Module) validateStep(tp *typePage) web.FormErrors {
	errs := web.FormErrors{}
	f := tp.Form
	t, ok := TypeByID(f.Tipo)
	switch {
	case f.Tipo == "":
		errs.Add("tipo", "certificati.form.type_required")
	case !ok:
		errs.Add("tipo", "validation.oneof")
	default:
		for _, o := range tp.Options {
			if o.Type.ID == t.ID && o.Reason != "" {
				errs.Add("tipo", o.Reason)
			}
		}
	}
	if ok && t.CivilStatus {
		return errs
	}
	switch f.Bollo {
	case BolloDue:
	case BolloExempt:
		if f.Esenzione == "" {
			errs.Add("esenzione", "certificati.form.exemption_required")
		} else if _, ok := (Settings{Exemptions: tp.Exemptions}).exemption(f.Esenzione); !ok {
			errs.Add("esenzione", "validation.oneof")
		}
	case "":
		errs.Add("bollo", "certificati.form.bollo_required")
	default:
		errs.Add("bollo", "validation.oneof")
	}
	return errs
}

// stepSummary is step 3: the summary to confirm.
func (m *Module) stepSummary(c echo.Context) error {
	f := stepFormOf(c)
	p, err := m.target(c, f.Persona)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	tp, err := m.typePage(ctx, web.CurrentViewer(c).FiscalCode, p, f, nil)
	if err != nil {
		return err
	}
	if tp.Errors = m.validateStep(tp); tp.Errors.Any() {
		return m.render.Render(c, http.StatusUnprocessableEntity, "certificati/type.html", tp)
	}
	t, _ := TypeByID(f.Tipo)
	b, err := m.bolloFor(ctx, t, f.Bollo, f.Esenzione)
	if err != nil {
		return err
	}
	_, last := validity(t, m.now())
	return m.render.Render(c, http.StatusOK, "certificati/summary.html", map[string]any{
		"Person": p, "Self": tp.Self, "Type": t, "Form": f, "Bollo": b, "Amount": euro(b.AmountCents),
		"Exemption": m.exemptionLabel(ctx, web.Lang(c), b), "LastDay": last,
	})
}

// exemptionLabel is the exemption chosen, in lang.
func (m *Module) exemptionLabel(ctx context.Context, lang string, b BolloData) string {
	if b.Exemption == CivilStatusExemption.Code {
		return CivilStatusExemption.Label(lang)
	}
	if e, ok := m.settingsFor(ctx).exemption(b.Exemption); ok {
		return e.Label(lang)
	}
	return b.Reason
}

// issueHandler issues the certificate confirmed on the summary page.
func (m *Module) issueHandler(c echo.Context) error {
	f := stepFormOf(c)
	p, err := m.target(c, f.Persona)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	v := web.CurrentViewer(c)
	req := Request{RequesterCF: v.FiscalCode, HolderCF: p.FiscalCode, Type: f.Tipo,
		Bollo: f.Bollo, Exemption: f.Esenzione, IP: c.RealIP(), RequestID: web.RequestID(c)}
	var cert *Certificate
	var pos *payments.Position
	if t, ok := TypeByID(f.Tipo); ok && !t.CivilStatus && f.Bollo == BolloDue && m.bolloOnline(ctx) {
		// In bollo with pagoPA: the citizen pays first; bollo.go issues on the receipt.
		pos, err = m.askBollo(ctx, req, v.DisplayName)
	} else {
		cert, err = m.Issue(ctx, req)
	}
	var na *NotAvailableError
	switch {
	case errors.Is(err, ErrNotAllowed):
		return m.deny(c, p, f.Persona)
	case errors.As(err, &na), errors.Is(err, ErrBollo), errors.Is(err, ErrUnknownType):
		tp, terr := m.typePage(ctx, v.FiscalCode, p, f, nil)
		if terr != nil {
			return terr
		}
		if tp.Errors = m.validateStep(tp); !tp.Errors.Any() {
			tp.Errors.Add("tipo", "certificati.form.not_issued")
		}
		return m.render.Render(c, http.StatusUnprocessableEntity, "certificati/type.html", tp)
	case err != nil:
		return err
	}
	if pos != nil {
		web.AddFlash(c, "info", "certificati.bollo.pay_first")
		return web.Redirect(c, payments.CitizenPath(pos.ID))
	}
	web.AddFlash(c, "success", "certificati.issued.flash")
	return web.Redirect(c, "/servizi/"+ID+"/emesso/"+cert.ID)
}

// own returns the certificate with code id if the logged-in citizen requested it or
// is its holder. Anyone else's certificate is "not found": its existence is not
// revealed.
func (m *Module) own(c echo.Context) (*Certificate, error) {
	cf := web.CurrentViewer(c).FiscalCode
	var cert Certificate
	err := enti.For(c.Request().Context(), m.db).
		Where("id = ? AND (holder_cf = ? OR requester_cf = ?)", idParam(c), cf, cf).Take(&cert).Error
	if errors.Is(err, store.ErrNotFound) {
		// Someone else's certificate (or a code that does not exist): the same 404,
		// and a security event in the audit log.
		id := idParam(c)
		if len(id) > 40 {
			id = id[:40]
		}
		e := web.AuditEntry(c, "security.certificate_access_denied")
		e.Outcome, e.ObjectType, e.ObjectID = audit.Denied, "certificate", id
		e.Details = map[string]any{"path": c.Path()}
		if err := audit.Record(c.Request().Context(), m.db, e); err != nil {
			return nil, err
		}
		return nil, web.ErrNotFound
	}
	return &cert, err
}

// issued is the confirmation page after issue, with the certificate number and what
// happens next.
func (m *Module) issued(c echo.Context) error {
	cert, err := m.own(c)
	if err != nil {
		return err
	}
	t, _ := TypeByID(cert.Type)
	return m.render.Render(c, http.StatusOK, "certificati/issued.html", map[string]any{
		"Cert": cert, "Type": t, "Amount": euro(cert.BolloCents)})
}

// Row is one certificate in a list, with how often it was verified.
type Row struct {
	Certificate
	Verdict       Verdict
	Verifications int64
}

func (m *Module) rows(ctx context.Context, list []Certificate) ([]Row, error) {
	ids := make([]string, len(list))
	for i, c := range list {
		ids[i] = c.ID
	}
	counts := map[string]int64{}
	if len(ids) > 0 {
		m.flushForRead(ctx)
		var rs []struct {
			CertificateID string
			N             int64
		}
		err := enti.For(ctx, m.db).Model(&Verification{}).Select("certificate_id, COUNT(*) AS n").
			Where("certificate_id IN ?", ids).Group("certificate_id").Scan(&rs).Error
		if err != nil {
			return nil, err
		}
		for _, r := range rs {
			counts[r.CertificateID] = r.N
		}
	}
	now := m.now()
	out := make([]Row, len(list))
	for i, c := range list {
		out[i] = Row{Certificate: c, Verdict: verdictOf(&c, now), Verifications: counts[c.ID]}
	}
	return out, nil
}

// Mine returns the certificates the citizen with tax code cf requested or holds,
// newest first (at most limit).
func (m *Module) Mine(ctx context.Context, cf string, limit int) ([]Row, error) {
	var list []Certificate
	err := enti.For(ctx, m.db).Where("holder_cf = ? OR requester_cf = ?", cf, cf).
		Order("issued_at DESC, id").Limit(limit).Find(&list).Error
	if err != nil {
		return nil, err
	}
	return m.rows(ctx, list)
}

// mine is "I miei certificati".
func (m *Module) mine(c echo.Context) error {
	rows, err := m.Mine(c.Request().Context(), web.CurrentViewer(c).FiscalCode, 200)
	if err != nil {
		return err
	}
	return m.render.Render(c, http.StatusOK, "certificati/mine.html", map[string]any{"Rows": rows})
}

func (m *Module) verifications(ctx context.Context, id string) ([]Verification, error) {
	m.flushForRead(ctx)
	var out []Verification
	err := enti.For(ctx, m.db).Where("certificate_id = ?", id).Order("at DESC, id DESC").Limit(500).Find(&out).Error
	return out, err
}

// mineDetail is one of the citizen's certificates with its verification history.
func (m *Module) mineDetail(c echo.Context) error {
	cert, err := m.own(c)
	if err != nil {
		return err
	}
	d, err := cert.Snapshot()
	if err != nil {
		return err
	}
	vs, err := m.verifications(c.Request().Context(), cert.ID)
	if err != nil {
		return err
	}
	b := m.body(m.tr(web.Lang(c)), cert, d)
	return m.render.Render(c, http.StatusOK, "certificati/detail.html", map[string]any{
		"Cert": cert, "Body": b, "Verdict": verdictOf(cert, m.now()), "Verifications": vs})
}

// CopyPage is the data of the accessible copy of a certificate.
type CopyPage struct {
	Cert       *Certificate
	Verdict    Verdict
	Letterhead pdfdoc.Letterhead
	// Body is the text in Italian, as the PDF prints it.
	Body Body
	// URL is the verification address the QR code holds; Issued the issue time as
	// the stamp prints it; Stamp the stamp's lines.
	URL, Issued, ValidUntil string
}

// mineCopy is the accessible copy of a certificate: the PDF's content (letterhead,
// text, closing, stamp) as semantic HTML, in Italian like the PDF, for people who
// read with a screen reader or magnifier (the PDF is not tagged). Only the holder and
// the requester see it.
func (m *Module) mineCopy(c echo.Context) error {
	cert, err := m.own(c)
	if err != nil {
		return err
	}
	d, err := cert.Snapshot()
	if err != nil {
		return err
	}
	t, _ := TypeByID(d.Type)
	u, err := m.verificationURL(cert)
	if err != nil {
		return err
	}
	page := CopyPage{Cert: cert, Verdict: verdictOf(cert, m.now()), Letterhead: m.letterhead(c.Request().Context(), cert, t.CivilStatus),
		Body: m.body(m.tr("it"), cert, d), URL: u, Issued: cert.IssuedAt.In(rome).Format("02/01/2006 15:04")}
	if cert.ExpiresAt != nil {
		page.ValidUntil = cert.LastValidDay().Format("02/01/2006")
	}
	c.Response().Header().Set("Cache-Control", "private, no-store")
	return m.render.Render(c, http.StatusOK, "certificati/copy.html", page)
}

// download sends the certificate's PDF, rebuilt from the record.
func (m *Module) download(c echo.Context) error {
	cert, err := m.own(c)
	if err != nil {
		return err
	}
	pdf, err := m.PDF(c.Request().Context(), cert)
	if err != nil {
		return err
	}
	c.Response().Header().Set(echo.HeaderContentDisposition,
		fmt.Sprintf(`attachment; filename="certificato-%s-%s.pdf"`, cert.Type, cert.ID))
	c.Response().Header().Set("Cache-Control", "private, no-store")
	return c.Blob(http.StatusOK, "application/pdf", pdf)
}
