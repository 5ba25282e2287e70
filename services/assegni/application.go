package assegni

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"gorm.io/gorm"

	"github.com/comuni-italiani/sportello/app/anagrafe"
	"github.com/comuni-italiani/sportello/app/cases"
	"github.com/comuni-italiani/sportello/app/codicefiscale"
	"github.com/comuni-italiani/sportello/app/enti"
	"github.com/comuni-italiani/sportello/app/store"
	"github.com/comuni-italiani/sportello/app/web"
)

// FormPath is the application form's address.
const FormPath = "/servizi/" + ID + "/domanda"

// form declares the stepper: the child and the benefit from work, the ISEE, the
// payment; then the platform's summary with the documents, and the confirmation.
func (m *Module) form() *cases.Form {
	euro := func(v string) string {
		if _, ok := ParseEuro(v); !ok {
			return "assegni.error.euro"
		}
		return ""
	}
	return &cases.Form{
		Service: m.cases, Render: m.render, Module: ID, Type: CaseType, Path: FormPath,
		Next:    "assegni.next",
		Prefill: m.prefill,
		Steps: []cases.Step{
			{ID: "figlio", Title: "assegni.step.child", Fields: []cases.Field{
				{Name: "figlio_cf", Label: "assegni.field.child_cf", Help: "assegni.field.child_cf_help", Max: 16,
					Validate: func(v string) string {
						if codicefiscale.Validate(strings.ToUpper(v)) != nil {
							return "assegni.error.cf"
						}
						return ""
					}},
				{Name: "evento", Label: "assegni.field.event", Kind: "select", Options: []cases.Option{
					{Value: EventBirth, Label: "assegni.event.nascita"},
					{Value: EventAdoption, Label: "assegni.event.adozione"},
					{Value: EventFoster, Label: "assegni.event.affidamento"}}},
				{Name: "prestazione", Label: "assegni.field.benefit", Help: "assegni.field.benefit_help", Max: 16, Validate: euro},
			}},
			{ID: "isee", Title: "assegni.step.isee", Fields: []cases.Field{
				{Name: "dsu", Label: "assegni.field.dsu", Help: "assegni.field.dsu_help", Max: 40,
					Validate: func(v string) string {
						if !ValidDSU(v) {
							return "assegni.error.dsu"
						}
						return ""
					}},
				{Name: "isee", Label: "assegni.field.isee", Help: "assegni.field.isee_help", Max: 16, Validate: euro},
			}},
			{ID: "pagamento", Title: "assegni.step.payment", Fields: []cases.Field{
				{Name: "iban", Label: "assegni.field.iban", Help: "assegni.field.iban_help", Max: 42,
					Validate: func(v string) string {
						if !ValidIBAN(v) {
							return "assegni.error.iban"
						}
						return ""
					}},
				{Name: "intestatario", Label: "assegni.field.holder", Help: "assegni.field.holder_help", Max: 200},
			}},
		},
	}
}

// Household is what the register says of an applicant.
type Household struct {
	Person   *anagrafe.Person
	Resident bool
	Children []Child
}

// Child is a minor in the applicant's family, with the date that starts the time
// to apply.
type Child struct {
	CF, Name  string
	BirthDate time.Time
	// Since is when the child joined the household (the entry into the family for
	// an adoption or a foster care).
	Since time.Time
}

// Event is the likely event: a birth when the child joined the family within a
// month of it, an adoption otherwise.
func (c Child) Event() string {
	if c.Since.Sub(c.BirthDate) > 31*24*time.Hour {
		return EventAdoption
	}
	return EventBirth
}

// EventDate is the date that starts the time for event ev.
func (c Child) EventDate(ev string) time.Time {
	if ev == EventBirth {
		return c.BirthDate
	}
	return c.Since
}

// household reads the applicant's family from the register, through db (scoped to
// the ente). A person unknown to the register gives ErrNotInRegister.
func household(ctx context.Context, db *gorm.DB, cf string, today time.Time) (*Household, error) {
	p, err := anagrafe.ByFiscalCode(ctx, db, cf)
	if anagrafe.IsNotFound(err) {
		return nil, ErrNotInRegister
	}
	if err != nil {
		return nil, err
	}
	h := &Household{Person: p}
	if p.DeceasedOn != nil {
		return h, nil
	}
	if _, err := anagrafe.CurrentResidence(ctx, db, p.ID); err == nil {
		h.Resident = true
	} else if !anagrafe.IsNotFound(err) {
		return nil, err
	}
	sheet, err := anagrafe.HouseholdOf(ctx, db, p.ID)
	if anagrafe.IsNotFound(err) {
		return h, nil
	}
	if err != nil {
		return nil, err
	}
	if sheet.Kind != anagrafe.KindFamily {
		return h, nil
	}
	// The applicant's children are the members whose relation to the head of the
	// household makes them so: the head's children (figlio) for the head and their
	// spouse, partner or cohabitant; the head's grandchildren (nipote) for a son or
	// daughter of the head (or their spouse) living in the parents' household. A
	// younger brother or sister is never one.
	var rel string
	for _, mb := range sheet.Members {
		if mb.FiscalCode == cf {
			rel = mb.Relation
		}
	}
	var childRel string
	switch rel {
	case anagrafe.RelHead, anagrafe.RelSpouse, anagrafe.RelPartner, anagrafe.RelCohabitant:
		childRel = anagrafe.RelChild
	case anagrafe.RelChild, anagrafe.RelChildInLaw:
		childRel = anagrafe.RelGrandchild
	default:
		return h, nil
	}
	adult := today.AddDate(-18, 0, 0)
	for _, mb := range sheet.Members {
		if mb.FiscalCode == cf || mb.Relation != childRel || mb.DeceasedOn != nil || !mb.BirthDate.After(adult) ||
			!mb.BirthDate.After(p.BirthDate) {
			continue
		}
		h.Children = append(h.Children, Child{CF: mb.FiscalCode, Name: mb.Name + " " + mb.Surname,
			BirthDate: mb.BirthDate, Since: anagrafe.Date(mb.Since.Date())})
	}
	return h, nil
}

// Child returns the child with tax code cf.
func (h *Household) Child(cf string) (Child, bool) {
	for _, c := range h.Children {
		if c.CF == cf {
			return c, true
		}
	}
	return Child{}, false
}

// judge evaluates an application's values against the register and the schemes.
func (m *Module) judge(ctx context.Context, db *gorm.DB, cf string, v map[string]string) (Outcome, Child, error) {
	o, child, _, err := m.judgeFull(ctx, db, cf, v)
	return o, child, err
}

// judgeFull is judge that also returns the applicant's register record.
func (m *Module) judgeFull(ctx context.Context, db *gorm.DB, cf string, v map[string]string) (Outcome, Child, *Household, error) {
	ente := enteID(ctx)
	today := Day(m.now())
	h, err := household(ctx, db, cf, today)
	if err != nil {
		return Outcome{}, Child{}, nil, err
	}
	childCF := strings.ToUpper(strings.TrimSpace(v["figlio_cf"]))
	child, inHousehold := h.Child(childCF)
	ev := v["evento"]
	if ev == "" {
		ev = child.Event()
	}
	r := Request{Measure: v["misura"], Resident: h.Resident, Sex: h.Person.Sex, ChildInHousehold: inHousehold,
		Event: ev, EventDate: child.EventDate(ev), Today: today}
	if !inHousehold {
		r.EventDate = today // judged on today's scheme; the refusal is the child
	}
	if isee, ok := ParseEuro(v["isee"]); ok {
		r.ISEE, r.ISEEKnown = isee, true
	}
	r.Benefit, _ = ParseEuro(v["prestazione"])
	o, err := Evaluate(m.cat, ente, r)
	return o, child, h, err
}

func enteID(ctx context.Context) string {
	if e := enti.FromContext(ctx); e != nil {
		return e.ID
	}
	return ""
}

// prefill starts a draft from the eligibility page's choice: the measure and the
// child, checked against the register.
func (m *Module) prefill(c echo.Context) (map[string]string, error) {
	ctx := c.Request().Context()
	a := cases.ActorOf(c)
	v := map[string]string{"misura": c.FormValue("misura"), "figlio_cf": strings.ToUpper(c.FormValue("figlio"))}
	o, child, err := m.judge(ctx, m.store(ctx), a.ID, v)
	if err != nil {
		var ce *cases.Error
		if errors.As(err, &ce) {
			return nil, web.NewError(http.StatusUnprocessableEntity, ce.Key)
		}
		return nil, err
	}
	v["figlio_nome"], v["evento"], v["schema"] = child.Name, child.Event(), o.Scheme.ID
	return v, nil
}

func values(c cases.Case) map[string]string {
	v := map[string]string{}
	_ = json.Unmarshal([]byte(c.FormData), &v)
	return v
}

// hook runs in every transition's transaction: at submission it checks the whole
// application again (register, scheme, deadline, ISEE, documents, one application
// per child) and records it; the decisions update the record.
func (m *Module) hook(ctx context.Context, tx *gorm.DB, ev cases.Event) error {
	db := enti.For(ctx, tx)
	now := m.now().UTC()
	switch ev.Transition.Name {
	case "submit":
		v := values(ev.Case)
		o, child, h, err := m.judgeFull(ctx, db, ev.Case.ApplicantCF, v)
		if err != nil {
			return err
		}
		var docs int64
		if err := db.Table("case_attachments").Where("case_id = ?", ev.Case.ID).Count(&docs).Error; err != nil {
			return err
		}
		if docs < int64(len(RequiredDocuments(o.Scheme, h.Person.Citizenship, v["evento"]))) {
			return ErrMissingDocs
		}
		isee, _ := ParseEuro(v["isee"])
		benefit, _ := ParseEuro(v["prestazione"])
		a := Application{CaseID: ev.Case.ID, SchemeID: o.Scheme.ID, Measure: o.Scheme.Measure,
			ApplicantCF: ev.Case.ApplicantCF, Applicant: ev.Case.ApplicantName, ChildCF: child.CF, ChildName: child.Name,
			Event: v["evento"], EventDate: child.EventDate(v["evento"]), ISEECents: isee, DSU: strings.ToUpper(v["dsu"]),
			BenefitCents: benefit, AmountCents: o.Amount, IBAN: NormalizeIBAN(v["iban"]), Holder: v["intestatario"],
			Protocol: ev.Case.Protocol, Active: true, Status: string(cases.Submitted), SubmittedAt: now}
		if !o.LastDay.IsZero() {
			d := o.LastDay
			a.LastDay = &d
		}
		err = db.Create(&a).Error
		if errors.Is(err, store.ErrDuplicate) {
			return ErrDuplicate
		}
		return err
	case "approve":
		return db.Model(&Application{}).Where("case_id = ?", ev.Case.ID).
			Updates(map[string]any{"status": string(cases.Approved), "decided_at": now}).Error
	case "reject", "withdraw":
		return db.Model(&Application{}).Where("case_id = ?", ev.Case.ID).
			Updates(map[string]any{"status": string(ev.Transition.To), "active": false, "decided_at": now}).Error
	default:
		return db.Model(&Application{}).Where("case_id = ?", ev.Case.ID).Update("status", string(ev.Transition.To)).Error
	}
}

// facts are the application's data on the case pages: the recorded application
// once submitted, the draft's scheme and computed amount before.
func (m *Module) facts(ctx context.Context, c cases.Case, lang string) ([]cases.Fact, error) {
	var a Application
	err := m.store(ctx).Where("case_id = ?", c.ID).Take(&a).Error
	if errors.Is(err, store.ErrNotFound) {
		v := values(c)
		out := []cases.Fact{}
		if s, ok := m.cat.ByID(enteID(ctx), v["schema"]); ok {
			out = append(out, cases.Fact{Label: "assegni.fact.scheme", Value: s.Title(lang)})
			citizenship := ""
			if h, err := household(ctx, m.store(ctx), c.ApplicantCF, Day(m.now())); err == nil {
				citizenship = h.Person.Citizenship
			}
			req := RequiredDocuments(s, citizenship, v["evento"])
			docs := make([]string, len(req))
			for i, d := range req {
				docs[i] = m.i18n.T(lang, "assegni.doc."+d)
			}
			if len(docs) > 0 {
				out = append(out, cases.Fact{Label: "assegni.fact.documents", Value: strings.Join(docs, "; ")})
			}
			benefit, _ := ParseEuro(v["prestazione"])
			out = append(out, cases.Fact{Label: "assegni.fact.amount", Value: FormatEuro(Amount(s, benefit))})
		}
		if v["figlio_nome"] != "" {
			out = append(out, cases.Fact{Label: "assegni.fact.child", Value: v["figlio_nome"] + " (" + v["figlio_cf"] + ")"})
		}
		return out, nil
	}
	if err != nil {
		return nil, err
	}
	title := a.SchemeID
	if s, ok := m.cat.ByID(enteID(ctx), a.SchemeID); ok {
		title = s.Title(lang)
	}
	out := []cases.Fact{
		{Label: "assegni.fact.scheme", Value: title},
		{Label: "assegni.fact.child", Value: a.ChildName + " (" + a.ChildCF + ")"},
		{Label: "assegni.fact.event", Value: m.i18n.T(lang, "assegni.event."+a.Event) + ", " + a.EventDate.Format("02/01/2006")},
	}
	if a.LastDay != nil {
		out = append(out, cases.Fact{Label: "assegni.fact.last_day", Value: a.LastDay.Format("02/01/2006")})
	}
	out = append(out,
		cases.Fact{Label: "assegni.fact.isee", Value: FormatEuro(a.ISEECents) + " (" + a.DSU + ")"},
		cases.Fact{Label: "assegni.fact.benefit", Value: FormatEuro(a.BenefitCents)},
		cases.Fact{Label: "assegni.fact.amount", Value: FormatEuro(a.AmountCents)},
		cases.Fact{Label: "assegni.fact.iban", Value: a.IBAN + " - " + a.Holder},
	)
	return out, nil
}
