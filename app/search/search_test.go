package search

import (
	"testing"
)

func TestStemJoinsItalianForms(t *testing.T) {
	for _, group := range [][]string{
		{"certificato", "certificati", "CERTIFICATI"},
		{"ufficio", "uffici", "Uffici"},
		{"residenza", "residenze"},
		{"città", "citta", "CITTÀ"},
		{"banca", "banche"},
		{"orario", "orari"},
		{"anagrafe", "anagrafi"},
		{"nato", "nata", "nati", "nate"},
	} {
		want := Terms(group[0])
		for _, w := range group[1:] {
			if got := Terms(w); len(got) != 1 || len(want) != 1 || got[0] != want[0] {
				t.Errorf("Terms(%q) = %q, want %q like %q", w, got, want, group[0])
			}
		}
	}
	if got := Terms("dell'anagrafe e della città"); len(got) != 2 || got[0] != "anagraf" || got[1] != "citt" {
		t.Errorf("Terms with stop words and an apostrophe = %q", got)
	}
	if got := Stem("via"); got != "via" {
		t.Errorf("a short word is kept whole: %q", got)
	}
}

func TestSearchRanksAndRequiresEveryWord(t *testing.T) {
	docs := []Doc{
		{Kind: KindService, Title: "Certificati anagrafici", Text: "Scarica il certificato di residenza con il timbro digitale."},
		{Kind: KindOffice, Title: "Ufficio Anagrafe", Text: "Rilascia carte d'identità e certificati allo sportello."},
		{Kind: KindFAQ, Title: "Come si paga la marca da bollo?", Text: "Indica il codice della marca acquistata in tabaccheria."},
	}
	cases := []struct {
		q    string
		want []string
	}{
		{"certificato", []string{"Certificati anagrafici", "Ufficio Anagrafe"}},
		{"Uffici anagrafe", []string{"Ufficio Anagrafe"}},
		{"certificato residenza", []string{"Certificati anagrafici"}},
		{"identita", []string{"Ufficio Anagrafe"}},
		{"marche da bollo", []string{"Come si paga la marca da bollo?"}},
		{"certif", []string{"Certificati anagrafici", "Ufficio Anagrafe"}},
		{"passaporto", nil},
		{"di la e", nil},
		{"", nil},
	}
	for _, c := range cases {
		hits := Search(ParseQuery(c.q), docs)
		var got []string
		for _, h := range hits {
			got = append(got, h.Title)
		}
		if len(got) != len(c.want) {
			t.Errorf("search %q: %q, want %q", c.q, got, c.want)
			continue
		}
		for i := range got {
			if got[i] != c.want[i] {
				t.Errorf("search %q: %q, want %q", c.q, got, c.want)
				break
			}
		}
	}
}

func TestQueryIsCut(t *testing.T) {
	long := ""
	for i := range 60 {
		long += "parola" + string(rune('a'+i%26)) + string(rune('a'+i/26)) + " "
	}
	// 60 words of 8 letters and a space: only the first 100 characters (10 words)
	// are searched.
	if q := ParseQuery(long); len(q.terms) != 10 {
		t.Errorf("a long query: %d terms, want 10", len(q.terms))
	}
}
