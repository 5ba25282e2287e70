package anagrafe

import (
	"slices"
	"strings"
	"time"
)

// Sex as recorded in the register.
const (
	Male   = "M"
	Female = "F"
)

// Civil statuses (stato civile), with the codes the register stores. Labels, which
// depend on the person's sex ("coniugato"/"coniugata"), are message keys: see
// CivilStatusKey.
const (
	// Single: celibe (man) or nubile (woman).
	CivilSingle = "celibe_nubile"
	// Married: coniugato/a.
	CivilMarried = "coniugato"
	// In a civil union (L. 76/2016): unito/a civilmente.
	CivilUnited = "unito_civilmente"
	// Widowed: vedovo/a.
	CivilWidowed = "vedovo"
	// Divorced: divorziato/a.
	CivilDivorced = "divorziato"
	// Free after the dissolution of a civil union ("stato libero a seguito di
	// scioglimento dell'unione civile").
	CivilFreeUnionDissolved = "libero_scioglimento_unione"
	// Free after the death of the civil-union partner ("stato libero a seguito di
	// decesso della parte unita civilmente").
	CivilFreeUnionPartnerDied = "libero_decesso_unito"
)

// CivilStatuses lists every valid civil-status code.
var CivilStatuses = []string{CivilSingle, CivilMarried, CivilUnited, CivilWidowed, CivilDivorced,
	CivilFreeUnionDissolved, CivilFreeUnionPartnerDied}

// Household kinds: a famiglia anagrafica (people bound by marriage, civil union,
// kinship, affinity, adoption, guardianship or affection, living together) or a
// convivenza anagrafica (people living together for religious, care, health,
// military or similar reasons, such as a care home: DPR 223/1989 artt. 4-5).
const (
	KindFamily       = "famiglia"
	KindCohabitation = "convivenza"
)

// Relations to the head of the household (intestatario della scheda di famiglia),
// or, in a convivenza, to its manager.
const (
	RelHead          = "intestatario"
	RelSpouse        = "coniuge"
	RelPartner       = "unito_civilmente"
	RelChild         = "figlio"
	RelParent        = "genitore"
	RelGrandchild    = "nipote"
	RelGrandparent   = "nonno"
	RelSibling       = "fratello"
	RelParentInLaw   = "suocero"
	RelChildInLaw    = "genero_nuora"
	RelCohabitant    = "convivente"
	RelOtherRelative = "altro_parente"
	RelOther         = "altro"
	// RelManager is the responsabile della convivenza.
	RelManager = "responsabile"
	// RelResident is a member of a convivenza (membro della convivenza).
	RelResident = "membro_convivenza"
)

// Relations lists every valid relation code, in the order members are listed on a
// household sheet.
var Relations = []string{RelHead, RelSpouse, RelPartner, RelCohabitant, RelChild, RelChildInLaw,
	RelGrandchild, RelParent, RelParentInLaw, RelGrandparent, RelSibling, RelOtherRelative, RelOther,
	RelManager, RelResident}

// Civil event kinds recorded in the stato civile registers.
const (
	EventBirth    = "nascita"
	EventMarriage = "matrimonio"
	EventUnion    = "unione_civile"
	EventDeath    = "morte"
)

// EventKinds lists every valid event kind.
var EventKinds = []string{EventBirth, EventMarriage, EventUnion, EventDeath}

// Citizenship "ITALIA" marks an Italian citizen; any other value is the foreign state.
const Italian = "ITALIA"

// Person is one individual in the register, living or deceased.
type Person struct {
	ID int64 `gorm:"primaryKey"`
	// EnteID is the comune whose register holds the row.
	EnteID     string `gorm:"column:ente_id;size:40;not null"`
	FiscalCode string
	Surname    string
	Name       string
	// Sex is Male or Female.
	Sex string
	// BirthDate is a calendar date at 00:00 UTC.
	BirthDate time.Time
	// BirthComune and BirthProvince (sigla, "TO") are set for people born in Italy;
	// BirthState names the foreign state otherwise.
	BirthComune   string
	BirthProvince string
	BirthState    string
	// Citizenship is Italian ("ITALIA") or the foreign state's name in Italian
	// ("ROMANIA").
	Citizenship string
	// CivilStatus is one of CivilStatuses.
	CivilStatus string
	// DeceasedOn is the date of death, nil for the living.
	DeceasedOn *time.Time
	UpdatedAt  time.Time
}

// TableName fixes the table name.
func (Person) TableName() string { return "anagrafe_persons" }

// FullName is "SURNAME Name" as certificates print it.
func (p Person) FullName() string { return strings.TrimSpace(p.Surname + " " + p.Name) }

// Alive reports whether the person is not recorded as deceased.
func (p Person) Alive() bool { return p.DeceasedOn == nil }

// ItalianCitizen reports whether the person holds Italian citizenship.
func (p Person) ItalianCitizen() bool { return p.Citizenship == Italian }

// BirthPlace is "Torino (TO)" for people born in Italy, "Romania" (the state) for
// people born abroad.
func (p Person) BirthPlace() string {
	if p.BirthState != "" && !strings.EqualFold(p.BirthState, Italian) {
		return p.BirthState
	}
	if p.BirthProvince != "" {
		return p.BirthComune + " (" + p.BirthProvince + ")"
	}
	return p.BirthComune
}

// Married reports whether the person is currently married or in a civil union.
func (p Person) Married() bool {
	return p.CivilStatus == CivilMarried || p.CivilStatus == CivilUnited
}

// Household is a famiglia anagrafica or a convivenza.
type Household struct {
	ID int64 `gorm:"primaryKey"`
	// EnteID is the comune whose register holds the row.
	EnteID string `gorm:"column:ente_id;size:40;not null"`
	// Code is the household's reference in the register and in import files
	// ("F0001"); it is unique.
	Code string
	// Kind is KindFamily or KindCohabitation.
	Kind string
	// Name is the denomination of a convivenza ("RSA Villa dei Tigli"); empty for a
	// family.
	Name string
	// Address is the street address in this comune ("Via Roma 1").
	Address   string
	UpdatedAt time.Time
}

// TableName fixes the table name.
func (Household) TableName() string { return "anagrafe_households" }

// Cohabitation reports whether the household is a convivenza.
func (h Household) Cohabitation() bool { return h.Kind == KindCohabitation }

// Membership says that a person belongs (or belonged) to a household, with their
// relation to its head. The current membership has no end date; a person has at most
// one.
type Membership struct {
	ID int64 `gorm:"primaryKey"`
	// EnteID is the comune whose register holds the row.
	EnteID      string `gorm:"column:ente_id;size:40;not null"`
	PersonID    int64
	HouseholdID int64
	Relation    string
	StartedOn   time.Time
	EndedOn     *time.Time
}

// TableName fixes the table name.
func (Membership) TableName() string { return "anagrafe_members" }

// Residence is one period of residence at an address. Comune is empty for an address
// in this comune, otherwise the comune (or foreign state) of a past residence.
type Residence struct {
	ID int64 `gorm:"primaryKey"`
	// EnteID is the comune whose register holds the row.
	EnteID    string `gorm:"column:ente_id;size:40;not null"`
	PersonID  int64
	Address   string
	Comune    string
	Province  string
	StartedOn time.Time
	// EndedOn is nil for the current residence.
	EndedOn *time.Time
}

// TableName fixes the table name.
func (Residence) TableName() string { return "anagrafe_residences" }

// Here reports whether the residence is in this comune.
func (r Residence) Here() bool { return r.Comune == "" }

// Event is a civil-status event recorded in this comune's registers, with the
// reference of its act (anno, parte, serie, numero).
type Event struct {
	ID int64 `gorm:"primaryKey"`
	// EnteID is the comune whose register holds the row.
	EnteID   string `gorm:"column:ente_id;size:40;not null"`
	PersonID int64
	// Kind is one of EventKinds.
	Kind string
	Date time.Time
	// Place is where the event happened ("Torino (TO)").
	Place string
	// Year, Part, Series and Number identify the act in the registers: for example
	// year 2015, part "I", series "A", number "123".
	Year   int
	Part   string
	Series string
	Number string
	// OtherCF and OtherName are the spouse or civil partner, for marriages and civil
	// unions.
	OtherCF   string `gorm:"column:other_cf"`
	OtherName string
	// Annotations are the marginal notes of the act (separation, divorce ...).
	Annotations string
}

// TableName fixes the table name.
func (Event) TableName() string { return "anagrafe_events" }

// ActReference is the act's reference as printed on certificates:
// "Anno 2015, Parte I, Serie A, Numero 123".
func (e Event) ActReference() string {
	var parts []string
	if e.Year != 0 {
		parts = append(parts, "Anno "+itoa(e.Year))
	}
	if e.Part != "" {
		parts = append(parts, "Parte "+e.Part)
	}
	if e.Series != "" {
		parts = append(parts, "Serie "+e.Series)
	}
	if e.Number != "" {
		parts = append(parts, "Numero "+e.Number)
	}
	return strings.Join(parts, ", ")
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	neg := n < 0
	if neg {
		n = -n
	}
	var b [20]byte
	i := len(b)
	for n > 0 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	if neg {
		i--
		b[i] = '-'
	}
	return string(b[i:])
}

// CivilStatusKey is the message key of a civil status for a person of sex sex, in
// templates/locales/*/anagrafe.yaml: "anagrafe.civil.coniugato.F" = "coniugata".
func CivilStatusKey(code, sex string) string { return "anagrafe.civil." + code + "." + sexSuffix(sex) }

// RelationKey is the message key of a relation for a person of sex sex:
// "anagrafe.relation.figlio.F" = "figlia".
func RelationKey(code, sex string) string { return "anagrafe.relation." + code + "." + sexSuffix(sex) }

// KindKey is the message key of a household kind.
func KindKey(kind string) string { return "anagrafe.kind." + kind }

// EventKey is the message key of an event kind.
func EventKey(kind string) string { return "anagrafe.event." + kind }

func sexSuffix(sex string) string {
	if sex == Female {
		return "F"
	}
	return "M"
}

// relationRank orders members on a household sheet.
func relationRank(rel string) int {
	if i := slices.Index(Relations, rel); i >= 0 {
		return i
	}
	return len(Relations)
}

// Date returns the calendar date y-m-d at 00:00 UTC, the form the register stores.
func Date(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }

// DateOf returns t's calendar date in loc as a register date (00:00 UTC).
func DateOf(t time.Time, loc *time.Location) time.Time {
	y, m, d := t.In(loc).Date()
	return Date(y, m, d)
}
