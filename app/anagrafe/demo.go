package anagrafe

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"strconv"
	"time"

	"gorm.io/gorm"

	"github.com/comuni-italiani/sportello/app/codicefiscale"
)

// DemoCitizenCF is the tax code of the demo citizen who logs in to the demo portal:
// BIANCHI GIULIA, born in Torino (Belfiore L219) on 12 March 1985, married, with
// two children, living in Via Roma 12 in the fictional Comune di Valdoria. Like every
// other demo resident she is fictional; the code is computed by codicefiscale.Compute.
const DemoCitizenCF = "BNCGLI85C52L219J"

// demoPerson is one fictional resident of the demo comune.
type demoPerson struct {
	key                    string // refers to the person within the demo data
	surname, name          string
	sex                    string
	born                   string // YYYY-MM-DD
	belfiore, comune, prov string // comune of birth (or Z code and state)
	state                  string // foreign state of birth
	citizenship, civil     string
	died                   string
	household, relation    string
	since                  string
}

type demoEvent struct {
	key, kind, date, place string
	year                   int
	part, series, number   string
	other                  string // key of the other party
	otherName              string // when the other party is not a demo resident
	notes                  string
}

// demoHouseholds, demoPeople and demoEvents describe the demo comune: a married
// couple with two children, a civil union, a widow (with her late husband), a single
// woman, a divorced man, a family with a grandparent, foreign citizens, a naturalized
// citizen, a de facto couple, a woman free after a civil union was dissolved and a
// care home (convivenza) with three residents.
var demoHouseholds = [][]string{
	{"F", "VD-F001", KindFamily, "", "Via Roma 12"},
	{"F", "VD-F002", KindFamily, "", "Via Garibaldi 5"},
	{"F", "VD-F003", KindFamily, "", "Vicolo del Pozzo 3"},
	{"F", "VD-F004", KindFamily, "", "Via dei Mille 8, interno 4"},
	{"F", "VD-F005", KindFamily, "", "Corso Italia 44"},
	{"F", "VD-F006", KindFamily, "", "Via della Chiesa 21"},
	{"F", "VD-F007", KindFamily, "", "Via Nazionale 102"},
	{"F", "VD-F008", KindFamily, "", "Via Mazzini 17"},
	{"F", "VD-F009", KindFamily, "", "Piazza del Mercato 6"},
	{"F", "VD-F010", KindFamily, "", "Via del Borgo 2"},
	{"F", "VD-F011", KindFamily, "", "Strada delle Vigne 9"},
	{"F", "VD-F012", KindFamily, "", "Via Verdi 11"},
	{"F", "VD-C001", KindCohabitation, "RSA Villa dei Tigli (residenza per anziani)", "Via dei Tigli 30"},
}

var demoPeople = []demoPerson{
	{"marco", "ESPOSITO", "MARCO", Male, "1982-07-04", "F839", "NAPOLI", "NA", "", Italian, CivilMarried, "", "VD-F001", RelHead, "2012-05-01"},
	{"giulia", "BIANCHI", "GIULIA", Female, "1985-03-12", "L219", "TORINO", "TO", "", Italian, CivilMarried, "", "VD-F001", RelSpouse, "2012-05-01"},
	{"luca", "ESPOSITO", "LUCA", Male, "2014-09-20", "L219", "TORINO", "TO", "", Italian, CivilSingle, "", "VD-F001", RelChild, "2014-09-20"},
	{"sofia", "ESPOSITO", "SOFIA", Female, "2017-02-11", "L219", "TORINO", "TO", "", Italian, CivilSingle, "", "VD-F001", RelChild, "2017-02-11"},

	{"andrea", "FERRARI", "ANDREA", Male, "1979-11-23", "F205", "MILANO", "MI", "", Italian, CivilUnited, "", "VD-F002", RelHead, "2010-03-15"},
	{"davide", "COLOMBO", "DAVIDE", Male, "1983-05-02", "A944", "BOLOGNA", "BO", "", Italian, CivilUnited, "", "VD-F002", RelPartner, "2016-01-10"},

	{"rosa", "GALLO", "ROSA", Female, "1948-01-15", "D612", "FIRENZE", "FI", "", Italian, CivilWidowed, "", "VD-F003", RelHead, "1975-04-01"},
	{"antonio", "RICCI", "ANTONIO", Male, "1945-06-30", "D969", "GENOVA", "GE", "", Italian, CivilMarried, "2021-03-02", "VD-F003", RelHead, "1975-04-01"},

	{"francesca", "CONTI", "FRANCESCA", Female, "1990-10-05", "H501", "ROMA", "RM", "", Italian, CivilSingle, "", "VD-F004", RelHead, "2019-09-01"},

	{"paolo", "MORETTI", "PAOLO", Male, "1975-04-18", "B157", "BRESCIA", "BS", "", Italian, CivilDivorced, "", "VD-F005", RelHead, "2001-02-01"},

	{"stefano", "ROMANO", "STEFANO", Male, "1970-02-27", "G273", "PALERMO", "PA", "", Italian, CivilMarried, "", "VD-F006", RelHead, "2005-06-01"},
	{"elena", "DE LUCA", "ELENA", Female, "1972-08-09", "L736", "VENEZIA", "VE", "", Italian, CivilMarried, "", "VD-F006", RelSpouse, "2005-06-01"},
	{"giorgia", "ROMANO", "GIORGIA", Female, "2002-12-01", "L219", "TORINO", "TO", "", Italian, CivilSingle, "", "VD-F006", RelChild, "2005-06-01"},
	{"salvatore", "ROMANO", "SALVATORE", Male, "1940-03-19", "G273", "PALERMO", "PA", "", Italian, CivilWidowed, "", "VD-F006", RelParent, "2018-10-15"},

	{"ion", "POPESCU", "ION", Male, "1984-06-14", "Z129", "", "", "ROMANIA", "ROMANIA", CivilMarried, "", "VD-F007", RelHead, "2011-07-01"},
	{"maria", "POPESCU", "MARIA", Female, "1987-01-30", "Z129", "", "", "ROMANIA", "ROMANIA", CivilMarried, "", "VD-F007", RelSpouse, "2012-01-20"},
	{"andrei", "POPESCU", "ANDREI", Male, "2015-03-22", "L219", "TORINO", "TO", "", "ROMANIA", CivilSingle, "", "VD-F007", RelChild, "2015-03-22"},

	{"youssef", "EL AMRANI", "YOUSSEF", Male, "1992-09-03", "Z330", "", "", "MAROCCO", "MAROCCO", CivilSingle, "", "VD-F008", RelHead, "2020-02-01"},

	{"arben", "HOXHA", "ARBEN", Male, "1988-12-11", "Z100", "", "", "ALBANIA", Italian, CivilMarried, "", "VD-F009", RelHead, "2009-05-01"},
	{"laura", "RICCI", "LAURA", Female, "1990-04-25", "D969", "GENOVA", "GE", "", Italian, CivilMarried, "", "VD-F009", RelSpouse, "2016-07-02"},

	{"matteo", "BRUNO", "MATTEO", Male, "1995-01-17", "L219", "TORINO", "TO", "", Italian, CivilSingle, "", "VD-F010", RelHead, "2021-11-01"},
	{"alessia", "GRECO", "ALESSIA", Female, "1996-06-06", "L219", "TORINO", "TO", "", Italian, CivilSingle, "", "VD-F010", RelCohabitant, "2022-03-01"},

	{"lucia", "MARCHETTI", "LUCIA", Female, "1981-09-29", "A944", "BOLOGNA", "BO", "", Italian, CivilFreeUnionDissolved, "", "VD-F011", RelHead, "2014-04-01"},

	{"roberto", "LOMBARDI", "ROBERTO", Male, "1965-03-03", "H501", "ROMA", "RM", "", Italian, CivilMarried, "", "VD-F012", RelHead, "1995-09-01"},
	{"anna", "VITALE", "ANNA", Female, "1967-11-21", "F839", "NAPOLI", "NA", "", Italian, CivilMarried, "", "VD-F012", RelSpouse, "1995-09-01"},
	{"tommaso", "LOMBARDI", "TOMMASO", Male, "2008-05-05", "L219", "TORINO", "TO", "", Italian, CivilSingle, "", "VD-F012", RelChild, "2008-05-05"},

	{"ada", "FONTANA", "ADA", Female, "1935-05-14", "L219", "TORINO", "TO", "", Italian, CivilWidowed, "", "VD-C001", RelResident, "2019-01-15"},
	{"ernesto", "BARBIERI", "ERNESTO", Male, "1938-10-02", "F205", "MILANO", "MI", "", Italian, CivilSingle, "", "VD-C001", RelResident, "2020-06-01"},
	{"giovanna", "SANNA", "GIOVANNA", Female, "1942-02-20", "B354", "CAGLIARI", "CA", "", Italian, CivilSingle, "", "VD-C001", RelResident, "2022-09-10"},
}

var demoEvents = []demoEvent{
	{"marco", EventMarriage, "2012-06-16", "VALDORIA", 2012, "I", "", "14", "giulia", "", ""},
	{"giulia", EventMarriage, "2012-06-16", "VALDORIA", 2012, "I", "", "14", "marco", "", ""},
	{"luca", EventBirth, "2014-09-20", "TORINO (TO)", 2014, "I", "B", "87", "", "", ""},
	{"sofia", EventBirth, "2017-02-11", "TORINO (TO)", 2017, "I", "B", "19", "", "", ""},
	{"andrea", EventUnion, "2018-09-08", "VALDORIA", 2018, "", "", "2", "davide", "", ""},
	{"davide", EventUnion, "2018-09-08", "VALDORIA", 2018, "", "", "2", "andrea", "", ""},
	{"rosa", EventMarriage, "1970-09-12", "VALDORIA", 1970, "I", "", "22", "antonio", "", ""},
	{"antonio", EventMarriage, "1970-09-12", "VALDORIA", 1970, "I", "", "22", "rosa", "", ""},
	{"antonio", EventDeath, "2021-03-02", "VALDORIA", 2021, "I", "", "31", "", "", ""},
	{"paolo", EventMarriage, "2003-05-24", "VALDORIA", 2003, "I", "", "9", "", "LEONE CHIARA",
		"Con sentenza del Tribunale di Montealto n. 412 del 14/03/2016, passata in giudicato, è stato pronunciato lo scioglimento del matrimonio."},
	{"arben", EventMarriage, "2016-07-02", "VALDORIA", 2016, "I", "", "11", "laura", "", ""},
	{"laura", EventMarriage, "2016-07-02", "VALDORIA", 2016, "I", "", "11", "arben", "", ""},
	{"lucia", EventUnion, "2017-04-22", "VALDORIA", 2017, "", "", "1", "", "SERRA GIADA",
		"Unione civile sciolta il 10/01/2023 a seguito di dichiarazione di volontà resa all'ufficiale dello stato civile (art. 1, comma 24, L. 76/2016)."},
	{"roberto", EventMarriage, "1995-06-10", "VALDORIA", 1995, "I", "", "17", "anna", "", ""},
	{"anna", EventMarriage, "1995-06-10", "VALDORIA", 1995, "I", "", "17", "roberto", "", ""},
	{"tommaso", EventBirth, "2008-05-05", "TORINO (TO)", 2008, "I", "B", "42", "", "", ""},
}

// demoPrevious are past residences: people who came from elsewhere.
var demoPrevious = [][]string{
	{"giulia", "Corso Francia 210", "TORINO", "TO", "1985-03-12", "2012-05-01"},
	{"davide", "Via Indipendenza 40", "BOLOGNA", "BO", "2005-09-01", "2016-01-10"},
	{"youssef", "Rue Ibn Batouta 7", "CASABLANCA (MAROCCO)", "", "1992-09-03", "2020-02-01"},
}

// DemoCSV returns the demo comune in the import format (see the package comment),
// tax codes computed with codicefiscale.Compute. It is what SeedDemo imports, and a
// complete example of the format.
func DemoCSV() ([]byte, error) {
	cfs := map[string]string{}
	for _, p := range demoPeople {
		born, err := time.Parse("2006-01-02", p.born)
		if err != nil {
			return nil, err
		}
		cf, err := codicefiscale.Compute(p.surname, p.name, born, p.sex == Female, p.belfiore)
		if err != nil {
			return nil, fmt.Errorf("anagrafe: demo person %s: %w", p.key, err)
		}
		cfs[p.key] = cf
	}
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	w.Comma = ';'
	buf.WriteString("# Comune di Valdoria (fittizio): dati dimostrativi, persone inventate.\n")
	for _, h := range demoHouseholds {
		_ = w.Write(h)
	}
	for _, p := range demoPeople {
		_ = w.Write([]string{"P", cfs[p.key], p.surname, p.name, p.sex, p.born, p.comune, p.prov, p.state,
			p.citizenship, p.civil, p.died, p.household, p.relation, p.since})
	}
	for _, e := range demoEvents {
		otherCF, otherName := "", e.otherName
		if e.other != "" {
			otherCF = cfs[e.other]
			for _, p := range demoPeople {
				if p.key == e.other {
					otherName = p.surname + " " + p.name
				}
			}
		}
		_ = w.Write([]string{"E", cfs[e.key], e.kind, e.date, e.place, strconv.Itoa(e.year), e.part, e.series,
			e.number, otherCF, otherName, e.notes})
	}
	for _, r := range demoPrevious {
		_ = w.Write([]string{"R", cfs[r[0]], r[1], r[2], r[3], r[4], r[5]})
	}
	w.Flush()
	return buf.Bytes(), w.Error()
}

// SeedDemo loads the fictional residents of the demo Comune di Valdoria (DemoCSV)
// through Import. It is idempotent: a second run changes nothing.
func SeedDemo(ctx context.Context, db *gorm.DB) error {
	data, err := DemoCSV()
	if err != nil {
		return err
	}
	if _, err := Import(ctx, db, bytes.NewReader(data), false); err != nil {
		return fmt.Errorf("anagrafe: demo data: %w", err)
	}
	return nil
}

// DemoFiscalCodes returns the tax codes of the demo comune's fictional residents, so
// that a production start can tell whether the register still holds them.
func DemoFiscalCodes() ([]string, error) {
	out := make([]string, 0, len(demoPeople))
	for _, p := range demoPeople {
		born, err := time.Parse("2006-01-02", p.born)
		if err != nil {
			return nil, err
		}
		cf, err := codicefiscale.Compute(p.surname, p.name, born, p.sex == Female, p.belfiore)
		if err != nil {
			return nil, fmt.Errorf("anagrafe: demo person %s: %w", p.key, err)
		}
		out = append(out, cf)
	}
	return out, nil
}
