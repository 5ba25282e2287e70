package assegni

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/comuni-italiani/sportello/app/audit"
	"github.com/comuni-italiani/sportello/app/cases"
	"github.com/comuni-italiani/sportello/app/web"
	"github.com/comuni-italiani/sportello/services"
)

// measures is the public page of the allowances the comune offers: each with its
// current figures, and the closed ones with where to go instead.
func (m *Module) measures(c echo.Context) error {
	ms := m.cat.Measures(enteID(c.Request().Context()))
	return m.render.Render(c, http.StatusOK, "assegni/misure.html", map[string]any{
		"Measures": ms, "Lang": web.Lang(c), "Euro": FormatEuro})
}

// ChildView is one child on the eligibility page.
type ChildView struct {
	Child
	Event    string
	Outcome  Outcome
	Refusal  string
	Eligible bool
}

// eligibility is the check from the register before the form: the applicant's
// residence and the children in the household, each with the days left to apply, or
// why they cannot and what to do.
func (m *Module) eligibility(c echo.Context) error {
	ctx := c.Request().Context()
	a := cases.ActorOf(c)
	measure, ok := m.cat.Measure(enteID(ctx), c.QueryParam("misura"))
	if !ok {
		ms := m.cat.Measures(enteID(ctx))
		if len(ms) == 0 || !ms[0].Open() {
			return web.ErrNotFound
		}
		measure = ms[0]
	}
	data := map[string]any{"Measure": measure, "Lang": web.Lang(c), "Euro": FormatEuro, "FormPath": FormPath}
	if !measure.Open() {
		data["Closed"] = true
		return m.render.Render(c, http.StatusOK, "assegni/verifica.html", data)
	}
	today := Day(m.now())
	h, err := household(ctx, m.store(ctx), a.ID, today)
	if errors.Is(err, ErrNotInRegister) {
		data["Refusal"] = ErrNotInRegister.Key
		return m.render.Render(c, http.StatusOK, "assegni/verifica.html", data)
	}
	if err != nil {
		return err
	}
	data["Resident"] = h.Resident
	if !h.Resident {
		data["Refusal"] = ErrNotResident.Key
	} else if measure.Latest().MotherOnly() && h.Person.Sex != "F" {
		data["Refusal"] = ErrNotMother.Key
	}
	var views []ChildView
	for _, ch := range h.Children {
		ev := ch.Event()
		o, err := Evaluate(m.cat, enteID(ctx), Request{Measure: measure.ID, Resident: h.Resident, Sex: h.Person.Sex,
			ChildInHousehold: true, Event: ev, EventDate: ch.EventDate(ev), Today: today})
		cv := ChildView{Child: ch, Event: ev, Outcome: o, Eligible: err == nil}
		if err != nil {
			cv.Refusal = cases.Key(err)
		}
		views = append(views, cv)
	}
	data["Children"] = views
	return m.render.Render(c, http.StatusOK, "assegni/verifica.html", data)
}

func (m *Module) exportPage(c echo.Context) error {
	today := Day(m.now())
	return m.render.Render(c, http.StatusOK, "assegni/esportazione.html", map[string]any{
		"From": today.AddDate(0, 0, -30).Format(time.DateOnly), "To": today.Format(time.DateOnly), "Errors": web.FormErrors{}})
}

// CSVHeader is the export's first line (the layout is documented in the package doc).
var CSVHeader = []string{"protocollo", "data_domanda", "data_decisione", "codice_misura", "anno", "cf_richiedente",
	"richiedente", "cf_figlio", "figlio", "evento", "data_evento", "isee_centesimi", "protocollo_dsu",
	"prestazione_lavoro_centesimi", "importo_centesimi", "iban", "intestatario_conto"}

// exportCSV writes the approved applications decided in a period (days in Europe/Rome,
// both included) as CSV, for the transmission to INPS.
func (m *Module) exportCSV(c echo.Context) error {
	ctx := c.Request().Context()
	from, err1 := time.ParseInLocation(time.DateOnly, c.QueryParam("dal"), rome)
	to, err2 := time.ParseInLocation(time.DateOnly, c.QueryParam("al"), rome)
	if err1 != nil || err2 != nil || to.Before(from) || to.Sub(from) > 366*24*time.Hour {
		errs := web.FormErrors{}
		errs.Add("dal", "assegni.export.bad_period")
		return m.render.Render(c, http.StatusUnprocessableEntity, "assegni/esportazione.html", map[string]any{
			"From": c.QueryParam("dal"), "To": c.QueryParam("al"), "Errors": errs})
	}
	end := to.AddDate(0, 0, 1)
	var rows []Application
	if err := m.store(ctx).Where("status = ? AND decided_at >= ? AND decided_at < ?", string(cases.Approved), from.UTC(), end.UTC()).
		Order("decided_at, case_id").Find(&rows).Error; err != nil {
		return err
	}
	a := cases.ActorOf(c)
	if err := audit.Record(ctx, m.store(ctx), audit.Entry{ActorKind: string(a.Kind), ActorID: a.ID, Action: "assegni.export",
		ObjectType: "export", ObjectID: from.Format(time.DateOnly) + "/" + to.Format(time.DateOnly), Outcome: audit.OK,
		IP: a.IP, RequestID: a.RequestID, Details: map[string]any{"rows": len(rows)}}); err != nil {
		return err
	}
	h := c.Response().Header()
	h.Set(echo.HeaderContentType, "text/csv; charset=utf-8")
	h.Set("Content-Disposition", fmt.Sprintf(`attachment; filename="assegni-%s-%s.csv"`, from.Format("20060102"), to.Format("20060102")))
	h.Set("Cache-Control", "private, no-store")
	c.Response().WriteHeader(http.StatusOK)
	w := csv.NewWriter(c.Response())
	w.Comma = ';'
	if err := w.Write(CSVHeader); err != nil {
		return err
	}
	for _, r := range rows {
		s, _ := m.cat.ByID(enteID(ctx), r.SchemeID)
		decided := ""
		if r.DecidedAt != nil {
			decided = r.DecidedAt.In(rome).Format(time.DateOnly)
		}
		if err := w.Write([]string{r.Protocol, r.SubmittedAt.In(rome).Format(time.DateOnly), decided, r.Measure,
			strconv.Itoa(s.Year), r.ApplicantCF, csvSafe(r.Applicant), r.ChildCF, csvSafe(r.ChildName), r.Event,
			r.EventDate.Format(time.DateOnly), strconv.FormatInt(r.ISEECents, 10), r.DSU,
			strconv.FormatInt(r.BenefitCents, 10), strconv.FormatInt(r.AmountCents, 10), r.IBAN, csvSafe(r.Holder)}); err != nil {
			return err
		}
	}
	w.Flush()
	return w.Error()
}

// csvSafe keeps a typed name from being read as a formula by a spreadsheet.
func csvSafe(s string) string {
	if s != "" && (s[0] == '=' || s[0] == '+' || s[0] == '-' || s[0] == '@') {
		return "'" + s
	}
	return s
}

// Stats implements services.Stats: the applications granted this year, for the
// officers.
func (m *Module) Stats(ctx context.Context) ([]services.Stat, error) {
	y := m.now().In(rome).Year()
	from := time.Date(y, 1, 1, 0, 0, 0, 0, rome).UTC()
	var n int64
	err := m.store(ctx).Model(&Application{}).Where("status = ? AND decided_at >= ?", string(cases.Approved), from).Count(&n).Error
	return []services.Stat{{Label: "assegni.stats.approved", Value: n, Href: "/backoffice/" + ID + "/esportazione",
		Roles: []string{RoleOfficer}}}, err
}
