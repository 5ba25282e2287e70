package certificates_test

import (
	"errors"
	"testing"

	"gorm.io/gorm"

	"github.com/comuni-italiani/sportello/app/anagrafe"
	"github.com/comuni-italiani/sportello/app/store"
	"github.com/comuni-italiani/sportello/app/store/storetest"
	"github.com/comuni-italiani/sportello/services/certificates"
)

// The rules of every type, on the demo register: what each person can be given, and
// why not.
func TestRulesOnDemoRegister(t *testing.T) {
	t.Parallel()
	const ok = ""
	cases := []struct {
		surname, name, typ, reason string
	}{
		{"BIANCHI", "GIULIA", certificates.TypeResidence, ok},
		{"BIANCHI", "GIULIA", certificates.TypeFree, "certificati.reason.married"},
		{"BIANCHI", "GIULIA", certificates.TypeMarriage, ok},
		{"BIANCHI", "GIULIA", certificates.TypeUnion, "certificati.reason.no_union_act"},
		{"BIANCHI", "GIULIA", certificates.TypeBirth, "certificati.reason.no_birth_act"}, // born in Torino, act there
		{"BIANCHI", "GIULIA", certificates.TypeCohabitation, "certificati.reason.not_cohabitation"},
		{"ESPOSITO", "SOFIA", certificates.TypeBirth, ok},
		{"ESPOSITO", "SOFIA", certificates.TypeFree, ok},
		{"FERRARI", "ANDREA", certificates.TypeUnion, ok},
		{"FERRARI", "ANDREA", certificates.TypeFree, "certificati.reason.married"},
		{"GALLO", "ROSA", certificates.TypeFree, ok}, // widow
		{"GALLO", "ROSA", certificates.TypeMarriage, ok},
		{"RICCI", "ANTONIO", certificates.TypeAlive, "certificati.reason.not_alive"}, // deceased
		{"RICCI", "ANTONIO", certificates.TypeResidence, "certificati.reason.deceased"},
		{"RICCI", "ANTONIO", certificates.TypeMarriage, ok}, // the act stays in the registers
		{"MORETTI", "PAOLO", certificates.TypeFree, ok},     // divorced
		{"MORETTI", "PAOLO", certificates.TypeMarriage, ok},
		{"MARCHETTI", "LUCIA", certificates.TypeFree, ok}, // civil union dissolved
		{"ROMANO", "STEFANO", certificates.TypeMarriage, "certificati.reason.no_marriage_act"},
		{"ROMANO", "SALVATORE", certificates.TypeFamilyRelations, ok}, // the grandparent
		{"POPESCU", "ION", certificates.TypeCitizenship, "certificati.reason.foreign"},
		{"POPESCU", "ION", certificates.TypeCombined, "certificati.reason.foreign"},
		{"POPESCU", "ION", certificates.TypeResidence, ok},
		{"POPESCU", "ANDREI", certificates.TypeBirth, "certificati.reason.no_birth_act"},
		{"HOXHA", "ARBEN", certificates.TypeCitizenship, ok}, // naturalized
		{"FONTANA", "ADA", certificates.TypeCohabitation, ok},
		{"FONTANA", "ADA", certificates.TypeFamily, "certificati.reason.cohabitation"},
		{"FONTANA", "ADA", certificates.TypeCombined, "certificati.reason.cohabitation"},
		{"FONTANA", "ADA", certificates.TypeAlive, ok},
	}
	storetest.Each(t, anagrafe.Migrations(), func(t *testing.T, db *gorm.DB) {
		if err := anagrafe.SeedDemo(ctx, db); err != nil {
			t.Fatal(err)
		}
		for _, c := range cases {
			p := person(t, db, c.surname, c.name)
			s, err := certificates.LoadSubject(ctx, db, p.FiscalCode)
			if err != nil {
				t.Fatal(err)
			}
			typ, found := certificates.TypeByID(c.typ)
			if !found {
				t.Fatalf("no type %s", c.typ)
			}
			if got := typ.Check(s); got != c.reason {
				t.Errorf("%s %s, %s: reason %q, want %q", c.surname, c.name, c.typ, got, c.reason)
			}
		}
	})
}

func TestRequestOnlyWithinOwnFamily(t *testing.T) {
	t.Parallel()
	storetest.Each(t, anagrafe.Migrations(), func(t *testing.T, db *gorm.DB) {
		if err := anagrafe.SeedDemo(ctx, db); err != nil {
			t.Fatal(err)
		}
		cf := func(s, n string) string { return person(t, db, s, n).FiscalCode }
		for _, c := range []struct {
			a, b string
			want bool
		}{
			{cf("BIANCHI", "GIULIA"), cf("ESPOSITO", "LUCA"), true},
			{cf("BIANCHI", "GIULIA"), cf("BIANCHI", "GIULIA"), true},
			{cf("BIANCHI", "GIULIA"), cf("POPESCU", "ION"), false},
			{cf("GALLO", "ROSA"), cf("RICCI", "ANTONIO"), false},     // her late husband
			{cf("FONTANA", "ADA"), cf("BARBIERI", "ERNESTO"), false}, // same care home, not family
			{cf("FONTANA", "ADA"), cf("FONTANA", "ADA"), true},
		} {
			if got, err := certificates.CanRequest(ctx, db, c.a, c.b); err != nil || got != c.want {
				t.Errorf("CanRequest(%s, %s) = %v, %v", c.a, c.b, got, err)
			}
		}
	})
}

// Issue decides who may ask from the household it reads for the certificate (no query
// of CanRequest's own): the same answers as CanRequest, and a refusal comes before any
// other verdict on the request, so that it tells nothing of a stranger's register data.
func TestIssueOnlyWithinOwnFamily(t *testing.T) {
	t.Parallel()
	for _, d := range []store.Dialect{store.SQLite, store.Postgres} {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			s, m := portal(t, d, "")
			cf := func(sn, n string) string { return person(t, s.DB, sn, n).FiscalCode }
			for _, c := range []struct {
				requester, holder, typ string
				want                   bool
			}{
				{cf("BIANCHI", "GIULIA"), cf("ESPOSITO", "LUCA"), certificates.TypeResidence, true},
				{cf("BIANCHI", "GIULIA"), cf("BIANCHI", "GIULIA"), certificates.TypeResidence, true},
				{cf("BIANCHI", "GIULIA"), cf("POPESCU", "ION"), certificates.TypeResidence, false},
				{cf("BIANCHI", "GIULIA"), cf("POPESCU", "ION"), certificates.TypeCohabitation, false}, // not available to him either
				{cf("GALLO", "ROSA"), cf("RICCI", "ANTONIO"), certificates.TypeResidence, false},      // her late husband
				{cf("FONTANA", "ADA"), cf("BARBIERI", "ERNESTO"), certificates.TypeCohabitation, false},
				{cf("FONTANA", "ADA"), cf("FONTANA", "ADA"), certificates.TypeCohabitation, true},
				{cf("BIANCHI", "GIULIA"), "ZZZZZZ00A00Z000Z", certificates.TypeResidence, false}, // nobody
			} {
				if want, err := certificates.CanRequest(s.Ctx(ctx), s.DB, c.requester, c.holder); err != nil || want != c.want {
					t.Fatalf("CanRequest(%s, %s) = %v, %v; the table says %v", c.requester, c.holder, want, err, c.want)
				}
				_, err := m.Issue(ctx, certificates.Request{RequesterCF: c.requester, HolderCF: c.holder, Type: c.typ,
					Bollo: certificates.BolloDue})
				if c.want && err != nil {
					t.Errorf("Issue %s for %s by %s: %v", c.typ, c.holder, c.requester, err)
				}
				if !c.want && !errors.Is(err, certificates.ErrNotAllowed) {
					t.Errorf("Issue %s for %s by %s: %v, want ErrNotAllowed", c.typ, c.holder, c.requester, err)
				}
			}
		})
	}
}
