package assegni_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/comuni-italiani/sportello/app/anagrafe"
	"github.com/comuni-italiani/sportello/app/apptest"
	"github.com/comuni-italiani/sportello/app/store"
	"github.com/comuni-italiani/sportello/services"
	"github.com/comuni-italiani/sportello/services/assegni"
)

// benchBatch is how many applications one benchmark operation submits.
const benchBatch = 20

const cons = "BCDFGLMNPRSTVZ"

// BenchmarkSubmit measures complete submissions through the real router: the
// register and scheme checks, two 200 KB PDF documents, the protocol number, the
// stamped receipt, the mails and the application record, one after the other. It
// reports applications per second. Run with -benchtime 1x (one batch of 20).
func BenchmarkSubmit(b *testing.B) {
	for _, d := range []store.Dialect{store.SQLite, store.Postgres} {
		b.Run(string(d), func(b *testing.B) {
			s := apptest.New(b, d, apptest.Options{Modules: []services.Module{register{}, assegni.New()}})
			today := assegni.Day(time.Now())
			born := today.AddDate(0, 0, -10)
			n := b.N * benchBatch
			var csv strings.Builder
			mothers, children := make([]string, n), make([]string, n)
			for i := range n {
				// Fictional people, one family each; distinct names give distinct codes.
				// The name's consonants make the code: two of fourteen give 196 families.
				name := fmt.Sprintf("%cA%cO", cons[i/len(cons)%len(cons)], cons[i%len(cons)])
				mothers[i] = cf(b, "BENCH", name, time.Date(1990, 1, 1+i%28, 0, 0, 0, 0, time.UTC), true)
				children[i] = cf(b, "BENCH", name, born, false)
				fmt.Fprintf(&csv, "F;B-%d;famiglia;;Via del Banco %d\n", i, i+1)
				fmt.Fprintf(&csv, "P;%s;BENCH;%s;F;1990-01-%02d;ROMA;RM;;ITALIA;coniugato;;B-%d;intestatario;2015-01-01\n", mothers[i], name, 1+i%28, i)
				fmt.Fprintf(&csv, "P;%s;BENCH;%s;M;%s;ROMA;RM;;ITALIA;celibe_nubile;;B-%d;figlio;%s\n", children[i], name, born.Format(time.DateOnly), i, born.Format(time.DateOnly))
			}
			if _, err := anagrafe.Import(s.Ctx(context.Background()), s.DB, strings.NewReader(csv.String()), false); err != nil {
				b.Fatal(err)
			}
			doc := append([]byte("%PDF-1.4\n"), bytes.Repeat([]byte("0"), 200<<10)...)
			doc = append(doc, []byte("\n%%EOF\n")...)
			type draft struct {
				c    *apptest.Client
				form string
			}
			drafts := make([]draft, n)
			for i := range n {
				c := citizen(s, mothers[i], "Madre Bench", "madre@example.it")
				form := startDraftB(b, c, children[i])
				fillB(b, c, form, children[i])
				drafts[i] = draft{c, form}
			}
			b.ResetTimer()
			start := time.Now()
			for i := range n {
				r := postMultipart(drafts[i].c, s.BaseURL, drafts[i].form+"/invia", nil, file{"isee.pdf", doc}, file{"documento.pdf", doc})
				if r.Status != http.StatusSeeOther {
					b.Fatalf("submit %d: %d", i, r.Status)
				}
			}
			b.ReportMetric(float64(n)/time.Since(start).Seconds(), "applications/s")
		})
	}
}

func startDraftB(b *testing.B, c *apptest.Client, child string) string {
	r := c.PostForm("/servizi/assegni/domanda", map[string][]string{"misura": {"maternita"}, "figlio": {child}})
	m := draftRE.FindStringSubmatch(r.Header.Get("Location"))
	if r.Status != http.StatusSeeOther || m == nil {
		b.Fatalf("draft: %d %s", r.Status, r.Body)
	}
	return "/servizi/assegni/domanda/" + m[1]
}

func fillB(b *testing.B, c *apptest.Client, form, child string) {
	for _, step := range []struct {
		path string
		v    map[string][]string
	}{
		{"/figlio", map[string][]string{"figlio_cf": {child}, "evento": {"nascita"}, "prestazione": {"0"}}},
		{"/isee", map[string][]string{"dsu": {goodDSU}, "isee": {"9.000"}}},
		{"/pagamento", map[string][]string{"iban": {goodIBAN}, "intestatario": {"Madre Bench"}}},
	} {
		if r := c.PostForm(form+step.path, step.v); r.Status != http.StatusSeeOther {
			b.Fatalf("%s: %d", step.path, r.Status)
		}
	}
}
