package certificates

import (
	"slices"

	"github.com/comuni-italiani/sportello/app/anagrafe"
)

// Type is a kind of certificate with its rules.
type Type struct {
	// ID names the type in URLs, records and stamps ("stato_famiglia").
	ID string
	// CivilStatus marks certificates drawn from the civil-status registers (nascita,
	// matrimonio, unione civile): issued by the Ufficiale dello Stato Civile and
	// exempt from stamp duty by law (art. 7, comma 5, L. 405/1990).
	CivilStatus bool
	// Unlimited marks certificates of facts not subject to change, valid without
	// limit (art. 41, comma 1, DPR 445/2000); the others are valid six months.
	Unlimited bool
	// rule returns "" when the certificate can be issued for the subject, otherwise
	// the message key of the reason it cannot.
	rule func(s *Subject) string
}

// TitleKey is the message key of the type's name ("Certificato di residenza").
func (t Type) TitleKey() string { return "certificati.type." + t.ID }

// DescKey is the message key of what the certificate attests.
func (t Type) DescKey() string { return "certificati.type." + t.ID + ".desc" }

// Check returns "" when the certificate can be issued for s, otherwise the message
// key of the reason it cannot.
func (t Type) Check(s *Subject) string { return t.rule(s) }

// Type identifiers.
const (
	TypeBirth           = "nascita"
	TypeResidence       = "residenza"
	TypeFamily          = "stato_famiglia"
	TypeFamilyRelations = "stato_famiglia_parentela"
	TypeCitizenship     = "cittadinanza"
	TypeAlive           = "esistenza_vita"
	TypeCivilStatus     = "stato_civile"
	TypeFree            = "stato_libero"
	TypeMarriage        = "matrimonio"
	TypeUnion           = "unione_civile"
	TypeCohabitation    = "residenza_convivenza"
	TypeCombined        = "contestuale"
)

// Subject is what the rules and the certificate text need to know about a person,
// read from the register at one moment.
type Subject struct {
	Person anagrafe.Person
	// Household is the person's current household, nil when they belong to none
	// (deceased, or no longer resident).
	Household *anagrafe.HouseholdSheet
	// Residence is the current residence in this comune, nil when none.
	Residence *anagrafe.Residence
	// Events are the civil-status events in this comune's registers, oldest first.
	Events []anagrafe.Event
}

// Event returns the most recent event of kind, or nil.
func (s *Subject) Event(kind string) *anagrafe.Event {
	for i := len(s.Events) - 1; i >= 0; i-- {
		if s.Events[i].Kind == kind {
			return &s.Events[i]
		}
	}
	return nil
}

// Resident reports whether the person lives in this comune now.
func (s *Subject) Resident() bool {
	return s.Person.Alive() && s.Household != nil && s.Residence != nil && s.Residence.Here()
}

// Reason keys.
const (
	reasonDeceased       = "certificati.reason.deceased"
	reasonNotAlive       = "certificati.reason.not_alive"
	reasonNotResident    = "certificati.reason.not_resident"
	reasonCohabitation   = "certificati.reason.cohabitation"
	reasonNoCohabitation = "certificati.reason.not_cohabitation"
	reasonForeign        = "certificati.reason.foreign"
	reasonMarried        = "certificati.reason.married"
	reasonNoBirthAct     = "certificati.reason.no_birth_act"
	reasonNoMarriageAct  = "certificati.reason.no_marriage_act"
	reasonNoUnionAct     = "certificati.reason.no_union_act"
)

// resident is the rule shared by register (anagrafe) certificates: they certify the
// present state of a living resident.
func resident(s *Subject) string {
	switch {
	case !s.Person.Alive():
		return reasonDeceased
	case !s.Resident():
		return reasonNotResident
	}
	return ""
}

// all runs rules in order and returns the first reason.
func all(rules ...func(*Subject) string) func(*Subject) string {
	return func(s *Subject) string {
		for _, r := range rules {
			if why := r(s); why != "" {
				return why
			}
		}
		return ""
	}
}

func inFamily(s *Subject) string {
	if s.Household.Cohabitation() {
		return reasonCohabitation
	}
	return ""
}

func inCohabitation(s *Subject) string {
	if !s.Household.Cohabitation() {
		return reasonNoCohabitation
	}
	return ""
}

func italian(s *Subject) string {
	if !s.Person.ItalianCitizen() {
		return reasonForeign
	}
	return ""
}

func hasEvent(kind, reason string) func(*Subject) string {
	return func(s *Subject) string {
		if s.Event(kind) == nil {
			return reason
		}
		return ""
	}
}

// Types lists every certificate the portal issues, in the order the citizen sees
// them.
var Types = []Type{
	{ID: TypeResidence, rule: resident},
	{ID: TypeFamily, rule: all(resident, inFamily)},
	{ID: TypeFamilyRelations, rule: all(resident, inFamily)},
	{ID: TypeCombined, rule: all(resident, inFamily, italian)},
	{ID: TypeCitizenship, rule: all(resident, italian)},
	{ID: TypeAlive, rule: func(s *Subject) string {
		if !s.Person.Alive() {
			return reasonNotAlive
		}
		return resident(s)
	}},
	{ID: TypeCivilStatus, rule: resident},
	{ID: TypeFree, rule: all(resident, func(s *Subject) string {
		if s.Person.Married() {
			return reasonMarried
		}
		return ""
	})},
	{ID: TypeCohabitation, rule: all(resident, inCohabitation)},
	{ID: TypeBirth, CivilStatus: true, Unlimited: true, rule: hasEvent(anagrafe.EventBirth, reasonNoBirthAct)},
	{ID: TypeMarriage, CivilStatus: true, rule: hasEvent(anagrafe.EventMarriage, reasonNoMarriageAct)},
	{ID: TypeUnion, CivilStatus: true, rule: hasEvent(anagrafe.EventUnion, reasonNoUnionAct)},
}

// TypeByID returns the type with this id.
func TypeByID(id string) (Type, bool) {
	i := slices.IndexFunc(Types, func(t Type) bool { return t.ID == id })
	if i < 0 {
		return Type{}, false
	}
	return Types[i], true
}
