package certificates

import (
	"context"
	"errors"
	"time"

	"gorm.io/gorm"

	"github.com/comuni-italiani/sportello/app/anagrafe"
	"github.com/comuni-italiani/sportello/app/store"
)

// Data is what a certificate certifies, frozen at issue time: what its PDF prints,
// what the verification page shows and what the stamp's DataHash covers. It is kept
// as JSON in the certificate record. Field names and JSON keys are part of every
// issued stamp's hash: never rename or retype them; add new fields only as optional
// (omitempty) pointers or strings. Dates are strings YYYY-MM-DD.
type Data struct {
	Type      string         `json:"type"`
	Holder    PersonData     `json:"holder"`
	Residence *ResidenceData `json:"residence,omitempty"`
	Household *HouseholdData `json:"household,omitempty"`
	Event     *EventData     `json:"event,omitempty"`
	Bollo     BolloData      `json:"bollo"`
}

// PersonData is a person as the register describes them.
type PersonData struct {
	FiscalCode  string `json:"cf"`
	Surname     string `json:"surname"`
	Name        string `json:"name"`
	Sex         string `json:"sex"`
	BirthDate   string `json:"birth_date"`
	BirthPlace  string `json:"birth_place"`
	Citizenship string `json:"citizenship"`
	CivilStatus string `json:"civil_status"`
}

// FullName is "SURNAME Name".
func (p PersonData) FullName() string { return p.Surname + " " + p.Name }

// ResidenceData is the current residence.
type ResidenceData struct {
	Address string `json:"address"`
	Since   string `json:"since"`
	// Cohabitation is the name of the convivenza the person lives in, if any.
	Cohabitation string `json:"cohabitation,omitempty"`
}

// HouseholdData is a household sheet.
type HouseholdData struct {
	Kind    string       `json:"kind"`
	Name    string       `json:"name,omitempty"`
	Address string       `json:"address"`
	Members []MemberData `json:"members"`
}

// MemberData is one member of a household sheet.
type MemberData struct {
	FiscalCode string `json:"cf"`
	Surname    string `json:"surname"`
	Name       string `json:"name"`
	Sex        string `json:"sex"`
	BirthDate  string `json:"birth_date"`
	BirthPlace string `json:"birth_place"`
	Relation   string `json:"relation"`
}

// FullName is "SURNAME Name".
func (m MemberData) FullName() string { return m.Surname + " " + m.Name }

// EventData is a civil-status event with the reference of its act.
type EventData struct {
	Kind        string `json:"kind"`
	Date        string `json:"date"`
	Place       string `json:"place"`
	Year        int    `json:"year"`
	Part        string `json:"part,omitempty"`
	Series      string `json:"series,omitempty"`
	Number      string `json:"number,omitempty"`
	OtherCF     string `json:"other_cf,omitempty"`
	OtherName   string `json:"other_name,omitempty"`
	Annotations string `json:"annotations,omitempty"`
}

// ActReference is "Anno 2012, Parte I, Numero 14".
func (e EventData) ActReference() string {
	return anagrafe.Event{Year: e.Year, Part: e.Part, Series: e.Series, Number: e.Number}.ActReference()
}

// BolloData is the stamp-duty choice printed on the certificate.
type BolloData struct {
	// Mode is BolloDue or BolloExempt.
	Mode string `json:"mode"`
	// AmountCents is the duty due, in euro cents (0 when exempt).
	AmountCents int64 `json:"amount_cents"`
	// Exemption is the code of the exemption; Reason its Italian description and
	// Reference its legal basis, as printed.
	Exemption string `json:"exemption,omitempty"`
	Reason    string `json:"reason,omitempty"`
	Reference string `json:"reference,omitempty"`
}

const dateLayout = "2006-01-02"

func day(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(dateLayout)
}

// parseDay reads a Data date; the zero time if empty or bad.
func parseDay(s string) time.Time {
	t, _ := time.Parse(dateLayout, s)
	return t
}

// LoadSubject reads from the register everything the rules and the texts need about
// the person with tax code cf. It returns store.ErrNotFound for an unknown tax code.
func LoadSubject(ctx context.Context, db *gorm.DB, cf string) (*Subject, error) {
	p, err := anagrafe.ByFiscalCode(ctx, db, cf)
	if err != nil {
		return nil, err
	}
	return loadSubject(ctx, db, p)
}

// requestableBy reports, from the household read with the subject, what CanRequest
// (anagrafe.SameHousehold) answers without a query of its own: the holder themselves
// while they belong to a household, or a current member of the holder's famiglia
// anagrafica (not of a convivenza).
func (s *Subject) requestableBy(requesterCF string) bool {
	if s.Household == nil {
		return false
	}
	if requesterCF == s.Person.FiscalCode {
		return true
	}
	return s.Household.Kind == anagrafe.KindFamily && s.Household.Has(requesterCF)
}

func loadSubject(ctx context.Context, db *gorm.DB, p *anagrafe.Person) (*Subject, error) {
	s := &Subject{Person: *p}
	h, err := anagrafe.HouseholdOf(ctx, db, p.ID)
	switch {
	case err == nil:
		s.Household = h
	case !errors.Is(err, store.ErrNotFound):
		return nil, err
	}
	r, err := anagrafe.CurrentResidence(ctx, db, p.ID)
	switch {
	case err == nil:
		s.Residence = r
	case !errors.Is(err, store.ErrNotFound):
		return nil, err
	}
	if s.Events, err = anagrafe.Events(ctx, db, p.ID); err != nil {
		return nil, err
	}
	return s, nil
}

func personData(p anagrafe.Person) PersonData {
	return PersonData{FiscalCode: p.FiscalCode, Surname: p.Surname, Name: p.Name, Sex: p.Sex,
		BirthDate: day(p.BirthDate), BirthPlace: p.BirthPlace(), Citizenship: p.Citizenship, CivilStatus: p.CivilStatus}
}

// snapshot builds the data a certificate of type t certifies about s.
func snapshot(t Type, s *Subject, b BolloData) Data {
	d := Data{Type: t.ID, Holder: personData(s.Person), Bollo: b}
	withResidence := func() {
		if s.Residence == nil {
			return
		}
		d.Residence = &ResidenceData{Address: s.Residence.Address, Since: day(s.Residence.StartedOn)}
		if s.Household != nil && s.Household.Cohabitation() {
			d.Residence.Cohabitation = s.Household.Name
		}
	}
	withHousehold := func() {
		if s.Household == nil {
			return
		}
		h := &HouseholdData{Kind: s.Household.Kind, Name: s.Household.Name, Address: s.Household.Address}
		for _, m := range s.Household.Members {
			h.Members = append(h.Members, MemberData{FiscalCode: m.FiscalCode, Surname: m.Surname, Name: m.Name,
				Sex: m.Sex, BirthDate: day(m.BirthDate), BirthPlace: m.BirthPlace(), Relation: m.Relation})
		}
		d.Household = h
	}
	withEvent := func(kind string) {
		e := s.Event(kind)
		if e == nil {
			return
		}
		d.Event = &EventData{Kind: e.Kind, Date: day(e.Date), Place: e.Place, Year: e.Year, Part: e.Part,
			Series: e.Series, Number: e.Number, OtherCF: e.OtherCF, OtherName: e.OtherName, Annotations: e.Annotations}
	}
	switch t.ID {
	case TypeResidence, TypeCohabitation:
		withResidence()
	case TypeFamily, TypeFamilyRelations:
		withResidence()
		withHousehold()
	case TypeCombined:
		withResidence()
		withHousehold()
	case TypeBirth:
		withEvent(anagrafe.EventBirth)
	case TypeMarriage:
		withEvent(anagrafe.EventMarriage)
	case TypeUnion:
		withEvent(anagrafe.EventUnion)
	}
	return d
}
