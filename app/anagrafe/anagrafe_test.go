package anagrafe_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/comuni-italiani/sportello/app/anagrafe"
	"github.com/comuni-italiani/sportello/app/codicefiscale"
	"github.com/comuni-italiani/sportello/app/store/storetest"
	"github.com/comuni-italiani/sportello/app/web"
	"github.com/comuni-italiani/sportello/templates"
)

var ctx = context.Background()

func count(t *testing.T, db *gorm.DB, model any) int64 {
	t.Helper()
	var n int64
	if err := db.Model(model).Count(&n).Error; err != nil {
		t.Fatal(err)
	}
	return n
}

func importFile(t *testing.T, db *gorm.DB, path string, dry bool) anagrafe.Report {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rep, err := anagrafe.Import(ctx, db, f, dry)
	if err != nil {
		t.Fatalf("import %s: %v\n%s", path, err, rep)
	}
	return rep
}

const (
	mario  = "RSSMRA60A01H501Q"
	anna   = "VRDNNA62H45F205L"
	pietro = "RSSPTR92S30L219F"
	zsofia = "NMTZSF50C48Z134K"
)

func TestImportExampleAndQueries(t *testing.T) {
	t.Parallel()
	storetest.Each(t, anagrafe.Migrations(), func(t *testing.T, db *gorm.DB) {
		rep := importFile(t, db, "testdata/esempio.csv", false)
		if rep.Rows != 10 || rep.Households.Created != 2 || rep.Persons.Created != 4 || rep.Events.Created != 3 || rep.Residences.Created != 5 {
			t.Fatalf("report:\n%s%+v", rep, rep)
		}

		p, err := anagrafe.ByFiscalCode(ctx, db, mario)
		if err != nil {
			t.Fatal(err)
		}
		if p.FullName() != "ROSSI MARIO" || p.BirthPlace() != "ROMA (RM)" || !p.ItalianCitizen() || p.CivilStatus != anagrafe.CivilMarried || !p.Alive() {
			t.Fatalf("person: %+v", p)
		}
		if !p.BirthDate.Equal(anagrafe.Date(1960, 1, 1)) {
			t.Fatalf("birth date %v", p.BirthDate)
		}
		if _, err := anagrafe.ByFiscalCode(ctx, db, "XXXXXX00A00X000X"); !anagrafe.IsNotFound(err) {
			t.Fatalf("unknown person: %v", err)
		}

		h, err := anagrafe.HouseholdOf(ctx, db, p.ID)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, m := range h.Members {
			names = append(names, m.FullName()+"/"+m.Relation)
		}
		if got := strings.Join(names, ","); got != "ROSSI MARIO/intestatario,VERDI ANNA/coniuge,ROSSI PIETRO/figlio" {
			t.Fatalf("members: %s", got)
		}
		if h.Address != "Via dei Platani 4" || h.Cohabitation() || !h.Has(pietro) || h.Has(zsofia) {
			t.Fatalf("household: %+v", h.Household)
		}
		if head, ok := h.Head(); !ok || head.FiscalCode != mario {
			t.Fatalf("head: %+v", head)
		}

		z, _ := anagrafe.ByFiscalCode(ctx, db, zsofia)
		if z.BirthPlace() != "UNGHERIA" || z.ItalianCitizen() {
			t.Fatalf("foreign-born: %+v", z)
		}
		zh, err := anagrafe.HouseholdOf(ctx, db, z.ID)
		if err != nil || !zh.Cohabitation() || zh.Name != "Comunità Il Faro" {
			t.Fatalf("convivenza: %+v %v", zh, err)
		}

		for _, c := range []struct {
			a, b string
			want bool
		}{
			{mario, anna, true}, {anna, pietro, true}, {mario, mario, true},
			{mario, zsofia, false}, {zsofia, zsofia, true}, {mario, "XXXXXX00A00X000X", false},
		} {
			got, err := anagrafe.SameHousehold(ctx, db, c.a, c.b)
			if err != nil || got != c.want {
				t.Errorf("SameHousehold(%s, %s) = %v, %v; want %v", c.a, c.b, got, err, c.want)
			}
		}

		old, err := anagrafe.ResidenceAt(ctx, db, p.ID, anagrafe.Date(1985, 6, 1))
		if err != nil || old.Address != "Via Appia Nuova 100" || old.Comune != "ROMA" || old.Here() {
			t.Fatalf("past residence: %+v %v", old, err)
		}
		now, err := anagrafe.ResidenceAt(ctx, db, p.ID, time.Now())
		if err != nil || now.Address != "Via dei Platani 4" || !now.Here() || !now.StartedOn.Equal(anagrafe.Date(1990, 2, 1)) {
			t.Fatalf("current residence: %+v %v", now, err)
		}
		if _, err := anagrafe.ResidenceAt(ctx, db, p.ID, anagrafe.Date(1950, 1, 1)); !anagrafe.IsNotFound(err) {
			t.Fatalf("residence before birth: %v", err)
		}

		a, _ := anagrafe.ByFiscalCode(ctx, db, anna)
		evs, err := anagrafe.Events(ctx, db, a.ID)
		if err != nil || len(evs) != 1 {
			t.Fatalf("events: %+v %v", evs, err)
		}
		if e := evs[0]; e.Kind != anagrafe.EventMarriage || e.OtherCF != mario || e.OtherName != "ROSSI MARIO" ||
			e.ActReference() != "Anno 1991, Parte I, Numero 12" || !e.Date.Equal(anagrafe.Date(1991, 9, 14)) {
			t.Fatalf("marriage: %+v", e)
		}

		// The same file again changes nothing.
		again := importFile(t, db, "testdata/esempio.csv", false)
		if again.Persons.Unchanged != 4 || again.Persons.Created+again.Persons.Updated != 0 ||
			again.Households.Unchanged != 2 || again.Events.Unchanged != 3 || again.Residences.Created != 0 {
			t.Fatalf("second import:\n%s%+v", again, again)
		}
	})
}

func TestImportDryRunWritesNothing(t *testing.T) {
	t.Parallel()
	storetest.Each(t, anagrafe.Migrations(), func(t *testing.T, db *gorm.DB) {
		rep := importFile(t, db, "testdata/esempio.csv", true)
		if !rep.DryRun || rep.Persons.Created != 4 || rep.Events.Created != 3 {
			t.Fatalf("dry run report:\n%s", rep)
		}
		if !strings.Contains(rep.String(), "dry run, nothing written") {
			t.Fatalf("report text: %s", rep)
		}
		for _, m := range []any{&anagrafe.Person{}, &anagrafe.Household{}, &anagrafe.Membership{}, &anagrafe.Residence{}, &anagrafe.Event{}} {
			if n := count(t, db, m); n != 0 {
				t.Fatalf("dry run wrote %d rows of %T", n, m)
			}
		}
	})
}

func TestImportBadRowsRejectEverything(t *testing.T) {
	t.Parallel()
	good, err := os.ReadFile("testdata/esempio.csv")
	if err != nil {
		t.Fatal(err)
	}
	bad := string(good) +
		"P;RSSMRA60A01H501X;ROSSI;MARIA;F;1960-01-01;ROMA;RM;;ITALIA;nubile;;T-F01;figlio;2000-01-01\n" + // line 16: check char, civil status
		"P;BNCGLI85C52L219J;BIANCHI;GIULIA;F;1985-03-12;TORINO;TO;;ITALIA;coniugato;;T-F99;coniuge;2012-05-01\n" + // 17: unknown household
		"E;RSSPTR92S30L219F;matrimonio;31/02/2020;VALDORIA;2020;I;;1;;;\n" + // 18: bad date, missing other party
		"X;something\n" // 19: unknown record type
	storetest.Each(t, anagrafe.Migrations(), func(t *testing.T, db *gorm.DB) {
		for _, dry := range []bool{false, true} {
			rep, err := anagrafe.Import(ctx, db, strings.NewReader(bad), dry)
			if !errors.Is(err, anagrafe.ErrRejected) {
				t.Fatalf("dry=%v: err = %v", dry, err)
			}
			want := map[string]bool{
				"line 16: codice_fiscale": false, "line 16: stato_civile": false, "line 17: famiglia": false,
				"line 18: data": false, "line 18: nominativo_altra_parte": false, "line 19: tipo_record": false,
			}
			for _, e := range rep.Errors {
				for k := range want {
					if strings.HasPrefix(e.Error(), k+":") {
						want[k] = true
					}
				}
			}
			for k, ok := range want {
				if !ok {
					t.Errorf("dry=%v: no error %q in\n%s", dry, k, rep)
				}
			}
			if n := count(t, db, &anagrafe.Person{}); n != 0 {
				t.Fatalf("a rejected file wrote %d persons", n)
			}
		}
		// With the rows fixed except the household reference, that alone is reported,
		// checked against the database, and still nothing is written.
		onlyRef := string(good) + "P;BNCGLI85C52L219J;BIANCHI;GIULIA;F;1985-03-12;TORINO;TO;;ITALIA;coniugato;;T-F99;coniuge;2012-05-01\n"
		rep, err := anagrafe.Import(ctx, db, strings.NewReader(onlyRef), false)
		if !errors.Is(err, anagrafe.ErrRejected) || len(rep.Errors) != 1 || rep.Errors[0].Line != 16 || rep.Errors[0].Field != "famiglia" {
			t.Fatalf("unknown household: %v\n%s", err, rep)
		}
		if n := count(t, db, &anagrafe.Household{}); n != 0 {
			t.Fatalf("rejected file wrote %d households", n)
		}
		// Once the household exists in the register, a later file may refer to it.
		importFile(t, db, "testdata/esempio.csv", false)
		later := "P;BNCGLI85C52L219J;BIANCHI;GIULIA;F;1985-03-12;TORINO;TO;;ITALIA;coniugato;;T-F01;altro_parente;2012-05-01\n" +
			"E;RSSPTR92S30L219F;nascita;1992-11-30;TORINO (TO);1992;I;B;301;;;Annotazione di prova\n"
		rep, err = anagrafe.Import(ctx, db, strings.NewReader(later), false)
		if err != nil || rep.Persons.Created != 1 || rep.Events.Updated != 1 {
			t.Fatalf("later file: %v\n%s", err, rep)
		}
	})
}

func TestImportMovesAndHistory(t *testing.T) {
	t.Parallel()
	storetest.Each(t, anagrafe.Migrations(), func(t *testing.T, db *gorm.DB) {
		importFile(t, db, "testdata/esempio.csv", false)
		// Pietro leaves his parents for a new household of his own.
		move := "F;T-F02;famiglia;;Via Nuova 7\n" +
			"P;RSSPTR92S30L219F;ROSSI;PIETRO;M;1992-11-30;TORINO;TO;;ITALIA;celibe_nubile;;T-F02;intestatario;2024-03-01\n"
		rep, err := anagrafe.Import(ctx, db, strings.NewReader(move), false)
		if err != nil || rep.Persons.Updated != 1 || rep.Residences.Created != 1 {
			t.Fatalf("move: %v\n%s", err, rep)
		}
		p, _ := anagrafe.ByFiscalCode(ctx, db, pietro)
		h, err := anagrafe.HouseholdOf(ctx, db, p.ID)
		if err != nil || h.Code != "T-F02" || len(h.Members) != 1 {
			t.Fatalf("new household: %+v %v", h, err)
		}
		if same, _ := anagrafe.SameHousehold(ctx, db, mario, pietro); same {
			t.Fatal("Pietro still in his parents' household")
		}
		before, err := anagrafe.ResidenceAt(ctx, db, p.ID, anagrafe.Date(2024, 2, 29))
		if err != nil || before.Address != "Via dei Platani 4" {
			t.Fatalf("residence before the move: %+v %v", before, err)
		}
		after, err := anagrafe.ResidenceAt(ctx, db, p.ID, anagrafe.Date(2024, 3, 1))
		if err != nil || after.Address != "Via Nuova 7" {
			t.Fatalf("residence after the move: %+v %v", after, err)
		}
		hist, _ := anagrafe.Residences(ctx, db, p.ID)
		if len(hist) != 2 || hist[1].EndedOn == nil || !hist[1].EndedOn.Equal(anagrafe.Date(2024, 3, 1)) {
			t.Fatalf("history: %+v", hist)
		}
		// A death closes membership and residence on the day.
		death := "P;VRDNNA62H45F205L;VERDI;ANNA;F;05/06/1962;MILANO;MI;;ITALIA;coniugato;2025-01-10;T-F01;coniuge;1990-02-01\n"
		if _, err := anagrafe.Import(ctx, db, strings.NewReader(death), false); err != nil {
			t.Fatal(err)
		}
		a, _ := anagrafe.ByFiscalCode(ctx, db, anna)
		if a.Alive() {
			t.Fatal("Anna still alive")
		}
		if _, err := anagrafe.HouseholdOf(ctx, db, a.ID); !anagrafe.IsNotFound(err) {
			t.Fatalf("deceased person still in a household: %v", err)
		}
		if _, err := anagrafe.CurrentResidence(ctx, db, a.ID); !anagrafe.IsNotFound(err) {
			t.Fatalf("deceased person still resident: %v", err)
		}
	})
}

func TestSeedDemo(t *testing.T) {
	t.Parallel()
	cf, err := codicefiscale.Compute("Bianchi", "Giulia", time.Date(1985, 3, 12, 0, 0, 0, 0, time.UTC), true, "L219")
	if err != nil || cf != anagrafe.DemoCitizenCF {
		t.Fatalf("DemoCitizenCF = %s, computed %s (%v)", anagrafe.DemoCitizenCF, cf, err)
	}
	data, err := anagrafe.DemoCSV()
	if err != nil {
		t.Fatal(err)
	}
	storetest.Each(t, anagrafe.Migrations(), func(t *testing.T, db *gorm.DB) {
		for range 2 {
			if err := anagrafe.SeedDemo(ctx, db); err != nil {
				t.Fatal(err)
			}
		}
		rep, err := anagrafe.Import(ctx, db, bytes.NewReader(data), true)
		if err != nil || rep.Persons.Created+rep.Persons.Updated+rep.Events.Created+rep.Events.Updated+rep.Residences.Created != 0 {
			t.Fatalf("demo not idempotent: %v\n%s", err, rep)
		}
		if n := count(t, db, &anagrafe.Person{}); n < 24 {
			t.Fatalf("only %d demo residents", n)
		}
		if n := count(t, db, &anagrafe.Household{}); n < 12 {
			t.Fatalf("only %d demo households", n)
		}
		g, err := anagrafe.ByFiscalCode(ctx, db, anagrafe.DemoCitizenCF)
		if err != nil || g.FullName() != "BIANCHI GIULIA" {
			t.Fatalf("demo citizen: %+v %v", g, err)
		}
		h, err := anagrafe.HouseholdOf(ctx, db, g.ID)
		if err != nil || len(h.Members) != 4 {
			t.Fatalf("demo citizen's household: %+v %v", h, err)
		}
		var dead, foreign, cohab, united int64
		db.Model(&anagrafe.Person{}).Where("deceased_on IS NOT NULL").Count(&dead)
		db.Model(&anagrafe.Person{}).Where("citizenship <> ?", anagrafe.Italian).Count(&foreign)
		db.Model(&anagrafe.Household{}).Where("kind = ?", anagrafe.KindCohabitation).Count(&cohab)
		db.Model(&anagrafe.Person{}).Where("civil_status = ?", anagrafe.CivilUnited).Count(&united)
		if dead == 0 || foreign == 0 || cohab == 0 || united < 2 {
			t.Fatalf("demo lacks cases: dead %d foreign %d convivenze %d united %d", dead, foreign, cohab, united)
		}
	})
}

func TestEveryCodeHasMessages(t *testing.T) {
	t.Parallel()
	i18n, err := web.LoadI18n(templates.FS, "locales")
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, sex := range []string{anagrafe.Male, anagrafe.Female} {
		for _, c := range anagrafe.CivilStatuses {
			keys = append(keys, anagrafe.CivilStatusKey(c, sex))
		}
		for _, r := range anagrafe.Relations {
			keys = append(keys, anagrafe.RelationKey(r, sex))
		}
	}
	for _, k := range []string{anagrafe.KindFamily, anagrafe.KindCohabitation} {
		keys = append(keys, anagrafe.KindKey(k))
	}
	for _, e := range anagrafe.EventKinds {
		keys = append(keys, anagrafe.EventKey(e))
	}
	for _, k := range keys {
		if !i18n.Has(k) {
			t.Errorf("no message %q", k)
		}
	}
	if got := i18n.T("it", anagrafe.CivilStatusKey(anagrafe.CivilMarried, anagrafe.Female)); got != "coniugata" {
		t.Errorf("coniugata: %q", got)
	}
}
