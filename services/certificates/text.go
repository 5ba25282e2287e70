package certificates

import (
	"fmt"

	"github.com/comuni-italiani/sportello/app/anagrafe"
	"github.com/comuni-italiani/sportello/app/pdfdoc"
)

// Body is a certificate's text, in one language: the PDF prints it in Italian, the
// verification and personal pages show it in the reader's language.
type Body struct {
	Title    string
	Intro    string
	Holder   []pdfdoc.Field
	Sections []Section
	Use      string
	Bollo    string
	Validity string
	Notice   string
	Place    string
	Officer  string
	Signed   string
}

// Section is one part of a certificate's text.
type Section struct {
	Heading string
	Text    string
	Fields  []pdfdoc.Field
}

// translator renders message keys in one language.
type translator func(key string, args ...any) string

func (m *Module) tr(lang string) translator {
	return func(key string, args ...any) string { return m.i18n.T(lang, key, args...) }
}

// date formats a Data date as 02/01/2006.
func date(s string) string {
	t := parseDay(s)
	if t.IsZero() {
		return s
	}
	return t.Format("02/01/2006")
}

func sexKey(sex string) string {
	if sex == anagrafe.Female {
		return "F"
	}
	return "M"
}

// body writes the text of certificate c with data d in the language of T.
func (m *Module) body(T translator, c *Certificate, d *Data) Body {
	t, _ := TypeByID(d.Type)
	h := d.Holder
	sx := sexKey(h.Sex)
	b := Body{Title: T(t.TitleKey())}
	if t.CivilStatus {
		b.Intro = T("certificati.text.intro_civil")
		b.Officer = T("certificati.text.officer_civil")
	} else {
		b.Intro = T("certificati.text.intro_anagrafe")
		b.Officer = T("certificati.text.officer_anagrafe")
	}
	b.Holder = []pdfdoc.Field{
		{Label: T("certificati.field.name"), Value: h.FullName()},
		{Label: T("certificati.field.cf"), Value: h.FiscalCode},
		{Label: T("certificati.field.birth"), Value: T("certificati.text.born."+sx, "Place", h.BirthPlace, "Date", date(h.BirthDate))},
	}
	residence := func() Section {
		r := d.Residence
		if r == nil {
			return Section{}
		}
		if r.Cohabitation != "" {
			return Section{Text: T("certificati.text.residence_cohabitation", "Address", r.Address, "Name", r.Cohabitation, "Since", date(r.Since))}
		}
		return Section{Text: T("certificati.text.residence", "Address", r.Address, "Since", date(r.Since))}
	}
	family := func(relations bool) Section {
		hh := d.Household
		if hh == nil {
			return Section{}
		}
		s := Section{Text: T("certificati.text.family", "Address", hh.Address)}
		for i, mm := range hh.Members {
			// The name goes in the label column, so that a household fits on the page
			// that also carries the stamp.
			v := T("certificati.text.born."+sexKey(mm.Sex), "Place", mm.BirthPlace, "Date", date(mm.BirthDate)) +
				" - " + T("certificati.field.cf_short") + " " + mm.FiscalCode
			if relations {
				v += " - " + T(anagrafe.RelationKey(mm.Relation, mm.Sex))
			}
			s.Fields = append(s.Fields, pdfdoc.Field{Label: fmt.Sprintf("%d. %s", i+1, mm.FullName()), Value: v})
		}
		return s
	}
	citizenship := func() Section {
		if h.Citizenship == anagrafe.Italian {
			return Section{Text: T("certificati.text.citizenship." + sx)}
		}
		return Section{Text: T("certificati.text.citizenship_foreign."+sx, "State", h.Citizenship)}
	}
	civil := T(anagrafe.CivilStatusKey(h.CivilStatus, h.Sex))
	act := func(textKey string) {
		e := d.Event
		if e == nil {
			return
		}
		s := Section{Text: T(textKey+"."+sx, "Place", e.Place, "Date", date(e.Date), "Other", e.OtherName)}
		s.Fields = append(s.Fields, pdfdoc.Field{Label: T("certificati.field.act"), Value: e.ActReference()})
		if e.Annotations != "" {
			s.Fields = append(s.Fields, pdfdoc.Field{Label: T("certificati.field.annotations"), Value: e.Annotations})
		}
		b.Sections = append(b.Sections, s)
	}
	switch t.ID {
	case TypeResidence, TypeCohabitation:
		b.Sections = append(b.Sections, residence())
	case TypeFamily:
		b.Sections = append(b.Sections, family(false))
	case TypeFamilyRelations:
		b.Sections = append(b.Sections, family(true))
	case TypeCombined:
		r, ci, f := residence(), citizenship(), family(true)
		r.Heading, ci.Heading, f.Heading = T("certificati.text.h_residence"), T("certificati.text.h_citizenship"), T("certificati.text.h_family")
		b.Sections = append(b.Sections, r, ci, f)
	case TypeCitizenship:
		b.Sections = append(b.Sections, citizenship())
	case TypeAlive:
		b.Sections = append(b.Sections, Section{Text: T("certificati.text.alive." + sx)})
	case TypeCivilStatus:
		b.Sections = append(b.Sections, Section{Text: T("certificati.text.civil_status", "Status", civil)})
	case TypeFree:
		b.Sections = append(b.Sections, Section{Text: T("certificati.text.free", "Status", civil)})
	case TypeBirth:
		act("certificati.text.birth")
	case TypeMarriage:
		act("certificati.text.marriage")
	case TypeUnion:
		act("certificati.text.union")
	}
	b.Use = T("certificati.text.use")
	switch {
	case d.Bollo.Mode == BolloDue && c.BolloReceipt != "":
		// Paid through pagoPA as marca da bollo digitale before issue (bollo.go).
		b.Bollo = T("certificati.text.bollo_paid", "Amount", euro(d.Bollo.AmountCents), "Receipt", c.BolloReceipt)
	case d.Bollo.Mode == BolloDue:
		b.Bollo = T("certificati.text.bollo_due", "Amount", euro(d.Bollo.AmountCents))
	case d.Bollo.Exemption == CivilStatusExemption.Code:
		b.Bollo = T("certificati.text.bollo_civil", "Reference", d.Bollo.Reference)
	default:
		b.Bollo = T("certificati.text.bollo_exempt", "Reason", d.Bollo.Reason, "Reference", d.Bollo.Reference)
	}
	if c.ExpiresAt == nil {
		b.Validity = T("certificati.text.validity_unlimited")
	} else {
		b.Validity = T("certificati.text.validity_six_months", "Date", c.LastValidDay().Format("02/01/2006"))
	}
	b.Notice = T("certificati.text.notice_art40")
	b.Place = T("certificati.text.place_date", "Comune", m.comune(c).Name, "Date", c.IssuedAt.In(rome).Format("02/01/2006"))
	b.Signed = T("certificati.text.signed")
	return b
}
