package app_test

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/comuni-italiani/sportello/app/accounts"
	"github.com/comuni-italiani/sportello/app/anagrafe"
	"github.com/comuni-italiani/sportello/app/apptest"
	"github.com/comuni-italiani/sportello/app/audit"
	"github.com/comuni-italiani/sportello/app/cases"
	"github.com/comuni-italiani/sportello/app/enti"
	"github.com/comuni-italiani/sportello/app/payments"
	"github.com/comuni-italiani/sportello/app/roles"
	"github.com/comuni-italiani/sportello/app/web"
	"github.com/comuni-italiani/sportello/config"
	"github.com/comuni-italiani/sportello/services"
)

// threeComuni is twoComuni with a third member of the union, Altavalle, where the
// union's officer of the test holds no role.
func threeComuni(c *config.Config) {
	twoComuni(c)
	c.Enti = append(c.Enti, config.Comune{ID: "altavalle", Name: "Comune di Altavalle", Parent: "bassavalle",
		Hosts: []string{"altavalle.localhost"}})
}

// TestUnionBackOffice: on the union's host, an officer with grants in two of the three
// member comuni sees in the case queue and the audit log the records of those two
// (and the union's own), with a "Comune" column and a filter by comune; the third
// comune's records never, and asking for it is a 404 and a security event.
func TestUnionBackOffice(t *testing.T) {
	t.Parallel()
	apptest.Each(t, apptest.Options{Modules: []services.Module{&probe{}}, Configure: threeComuni}, func(t *testing.T, s *apptest.Server) {
		bg := context.Background()
		reg := s.App.Enti()
		if _, _, err := s.App.Accounts().CreateStaff(enti.WithEnte(bg, mustEnte(t, reg, "bassavalle")), "system:test",
			accounts.StaffInput{Username: "u.sociale", GivenName: "Maria", FamilyName: "Neri", Email: "sociale@example.org",
				Roles: []string{probeRole, roles.Payments, roles.Admin}}); err != nil {
			t.Fatal(err)
		}
		grants := s.App.StaffGrants()
		for _, g := range [][2]string{{"valdoria", probeRole}, {"borgomonte", probeRole}, {"valdoria", roles.Admin},
			{"borgomonte", roles.Admin}, {"altavalle", roles.URP}, {"valdoria", roles.Payments}} {
			if _, err := grants.Change(bg, "system:cli", false, "u.sociale", g[0], g[1]); err != nil {
				t.Fatal(err)
			}
		}
		citizen := cases.Actor{Kind: cases.Citizen, ID: anagrafe.DemoCitizenCF}
		ids := map[string][]int64{}
		for _, e := range []string{"valdoria", "valdoria", "borgomonte", "altavalle"} {
			ctx := enti.WithEnte(bg, mustEnte(t, reg, e))
			c, err := s.App.Cases().Create(ctx, citizen, "prova", "domanda", map[string]string{"motivo": "prova"})
			if err != nil {
				t.Fatal(err)
			}
			if _, err = s.App.Cases().Apply(ctx, citizen, c.ID, "submit", cases.Input{}); err != nil {
				t.Fatal(err)
			}
			ids[e] = append(ids[e], c.ID)
			// A debt position and something in the audit log of each comune.
			if err := enti.For(ctx, s.DB).Create(&payments.Position{ID: "iupd-" + e + fmt.Sprint(len(ids[e])), Purpose: "prova",
				Ref: fmt.Sprint(c.ID), PayerCF: anagrafe.DemoCitizenCF, PayerName: "Giulia Bianchi", AmountCents: 1600,
				Causale: "Pratica " + e, DueDate: time.Now().Add(72 * time.Hour), IBAN: "IT60X0542811101000000123456",
				CreditorCF: "00000000000", NoticeNumber: fmt.Sprintf("3%017d", c.ID), IUV: fmt.Sprintf("%017d", c.ID),
				State: payments.Published}).Error; err != nil {
				t.Fatal(err)
			}
			if err := audit.Record(ctx, s.DB, audit.Entry{ActorKind: audit.ActorSystem, ActorID: "test", Action: "test.mark",
				ObjectType: "marca", ObjectID: "marca-" + e}); err != nil {
				t.Fatal(err)
			}
		}
		port := s.URL[strings.LastIndex(s.URL, ":"):]
		officer := s.ClientFor("unione.localhost")
		s.LoginAs(officer, web.Viewer{Kind: "staff", ID: "u.sociale", Roles: []string{probeRole, roles.Payments, roles.Admin}})
		link := func(host string, id int64) string {
			return fmt.Sprintf(`href="http://%s%s%s"`, host, port, cases.StaffPath("prova", id))
		}

		q := officer.Get(cases.QueuePath("prova"))
		if q.Status != 200 {
			t.Fatalf("union queue: %d", q.Status)
		}
		for _, want := range []string{link("127.0.0.1", ids["valdoria"][0]), link("127.0.0.1", ids["valdoria"][1]),
			link("borgomonte.localhost", ids["borgomonte"][0]), "<td>Comune di Borgomonte</td>", "<td>Comune di Valdoria</td>",
			`<option value="borgomonte"`, `name="comune"`} {
			if !strings.Contains(q.Body, want) {
				t.Fatalf("union queue lacks %s", want)
			}
		}
		if strings.Contains(q.Body, "Altavalle") || strings.Contains(q.Body, fmt.Sprintf("/pratiche/%d\"", ids["altavalle"][0])) {
			t.Fatal("the union queue shows a comune where the officer holds no role")
		}
		one := officer.Get(cases.QueuePath("prova") + "?comune=borgomonte")
		if one.Status != 200 || !strings.Contains(one.Body, link("borgomonte.localhost", ids["borgomonte"][0])) ||
			strings.Contains(one.Body, "<td>Comune di Valdoria</td>") {
			t.Fatalf("queue filtered by comune: %d", one.Status)
		}
		for _, other := range []string{"altavalle", "bassavalle-x"} {
			if r := officer.Get(cases.QueuePath("prova") + "?comune=" + other); r.Status != http.StatusNotFound {
				t.Fatalf("queue of %s: %d", other, r.Status)
			}
		}
		union := enti.WithEnte(bg, mustEnte(t, reg, "bassavalle"))
		evs, _, err := audit.List(union, s.DB, audit.Filter{Action: "security.", ActorID: "u.sociale"})
		if err != nil || len(evs) != 2 || evs[0].ObjectID != "bassavalle-x" || evs[1].ObjectID != "altavalle" {
			t.Fatalf("refusals in the union's audit: %+v %v", evs, err)
		}

		// The audit log: the union's and the two comuni's events, never Altavalle's.
		a := officer.Get("/backoffice/audit?action=test.mark")
		if a.Status != 200 || !strings.Contains(a.Body, "marca-valdoria") || !strings.Contains(a.Body, "marca-borgomonte") ||
			strings.Contains(a.Body, "marca-altavalle") || !strings.Contains(a.Body, "<td>Comune di Borgomonte</td>") {
			t.Fatalf("union audit log: %d", a.Status)
		}
		if r := officer.Get("/backoffice/audit?action=test.mark&comune=valdoria"); r.Status != 200 ||
			!strings.Contains(r.Body, "marca-valdoria") || strings.Contains(r.Body, "marca-borgomonte") {
			t.Fatalf("audit log filtered by comune: %d", r.Status)
		}
		if r := officer.Get("/backoffice/audit?comune=altavalle"); r.Status != http.StatusNotFound {
			t.Fatalf("audit log of a comune without a grant: %d", r.Status)
		}

		// The payments list: the positions of Valdoria (payments role granted) and of
		// Borgomonte (administrator there, who holds every role), never Altavalle's.
		pl := officer.Get("/backoffice/pagamenti")
		if pl.Status != 200 || !strings.Contains(pl.Body, "Pratica valdoria") || !strings.Contains(pl.Body, "Pratica borgomonte") ||
			strings.Contains(pl.Body, "Pratica altavalle") || !strings.Contains(pl.Body, "<td>Comune di Valdoria</td>") ||
			!strings.Contains(pl.Body, fmt.Sprintf(`href="http://127.0.0.1%s/backoffice/pagamenti/iupd-valdoria1"`, port)) {
			t.Fatalf("union payments list: %d", pl.Status)
		}
		if r := officer.Get("/backoffice/pagamenti?comune=valdoria"); r.Status != 200 || strings.Contains(r.Body, "Pratica borgomonte") {
			t.Fatalf("payments filtered by comune: %d", r.Status)
		}
		if r := officer.Get("/backoffice/pagamenti?comune=altavalle"); r.Status != http.StatusNotFound {
			t.Fatalf("payments of a comune without the role: %d", r.Status)
		}
		unionPaymentPages(t, s, officer, port)

		// A revocation narrows the union's view at once (in this process).
		if _, err := grants.Change(bg, "system:cli", true, "u.sociale", "borgomonte", probeRole); err != nil {
			t.Fatal(err)
		}
		q = officer.Get(cases.QueuePath("prova"))
		if q.Status != 200 || strings.Contains(q.Body, link("borgomonte.localhost", ids["borgomonte"][0])) ||
			!strings.Contains(q.Body, link("127.0.0.1", ids["valdoria"][0])) {
			t.Fatalf("queue after the revocation: %d", q.Status)
		}
		// A comune's own officer sees their comune's queue, no column, no filter.
		home := s.ClientFor("valdoria.localhost")
		s.LoginAs(home, web.Viewer{Kind: "staff", ID: "op.valdoria", Roles: []string{probeRole}})
		if r := home.Get(cases.QueuePath("prova")); r.Status != 200 || strings.Contains(r.Body, `name="comune"`) ||
			!strings.Contains(r.Body, fmt.Sprintf(`href="/backoffice/prova/pratiche/%d"`, ids["valdoria"][0])) ||
			strings.Contains(r.Body, fmt.Sprintf(`/pratiche/%d"`, ids["borgomonte"][0])) {
			t.Fatalf("a comune's queue: %d", r.Status)
		}
	})
}

// unionPaymentPages: the union's payments list spans enti 50 a page, newest first.
// Each comune gets 60 more positions with the same ids and the same creation times
// as the others' (ties the order must still break the same way on every page): every
// position of the officer's comuni on exactly one page, Altavalle's on none, and the
// chosen comune kept in the page links.
func unionPaymentPages(t *testing.T, s *apptest.Server, officer *apptest.Client, port string) {
	t.Helper()
	base := time.Date(2026, 4, 1, 8, 0, 0, 0, time.UTC)
	for _, e := range []string{"valdoria", "borgomonte", "altavalle"} {
		ctx := enti.WithEnte(context.Background(), mustEnte(t, s.App.Enti(), e))
		list := make([]payments.Position, 60)
		for i := range list {
			at := base.Add(time.Duration(i/2) * time.Minute) // two positions a minute
			list[i] = payments.Position{ID: fmt.Sprintf("pg-%02d", i), Purpose: "prova/rata", Ref: fmt.Sprint(i),
				PayerCF: anagrafe.DemoCitizenCF, PayerName: "Giulia Bianchi", AmountCents: 5000, Causale: "Rata " + e,
				DueDate: at.Add(720 * time.Hour), IBAN: "IT60X0542811101000000123456", CreditorCF: "00000000000",
				NoticeNumber: fmt.Sprintf("3%017d", 900+i), IUV: fmt.Sprintf("%017d", 900+i), State: payments.Published,
				CreatedAt: at, UpdatedAt: at}
		}
		if err := enti.For(ctx, s.DB).CreateInBatches(&list, 50).Error; err != nil {
			t.Fatal(err)
		}
	}
	row := regexp.MustCompile(`href="http://([a-z0-9.]+)` + regexp.QuoteMeta(port) + `/backoffice/pagamenti/([a-z0-9-]+)"`)
	// Valdoria's 62, Borgomonte's 61 (the union has none): 123 positions, 3 pages.
	seen := map[string]int{}
	for page, want := range map[int]int{1: 50, 2: 50, 3: 23} {
		r := officer.Get(fmt.Sprintf("/backoffice/pagamenti?pagina=%d", page))
		got := row.FindAllStringSubmatch(r.Body, -1)
		if r.Status != 200 || len(got) != want || strings.Contains(r.Body, "Rata altavalle") ||
			!strings.Contains(r.Body, fmt.Sprintf("123 posizioni · pagina %d di 3", page)) {
			t.Fatalf("union payments, page %d: %d, %d rows, want %d", page, r.Status, len(got), want)
		}
		for _, m := range got {
			seen[m[1]+"/"+m[2]]++
		}
	}
	if len(seen) != 123 {
		t.Fatalf("%d distinct positions over the union's pages, want 123", len(seen))
	}
	for k, n := range seen {
		if n != 1 || strings.HasPrefix(k, "altavalle") {
			t.Fatalf("%s on %d pages", k, n)
		}
	}
	r := officer.Get("/backoffice/pagamenti?comune=valdoria")
	if r.Status != 200 || !strings.Contains(r.Body, "62 posizioni · pagina 1 di 2") ||
		!strings.Contains(r.Body, `href="/backoffice/pagamenti?comune=valdoria&amp;pagina=2" rel="next"`) {
		t.Fatalf("union payments of Valdoria: %d", r.Status)
	}
	if r := officer.Get("/backoffice/pagamenti?comune=valdoria&pagina=2"); r.Status != 200 || len(row.FindAllString(r.Body, -1)) != 12 ||
		strings.Contains(r.Body, "Rata borgomonte") {
		t.Fatalf("union payments of Valdoria, page 2: %d", r.Status)
	}
	if r := officer.Get("/backoffice/pagamenti?pagina=4"); r.Status != http.StatusBadRequest {
		t.Fatalf("union payments, page 4 of 3: %d", r.Status)
	}
}
