package payments_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/comuni-italiani/sportello/app/apptest"
	"github.com/comuni-italiani/sportello/app/audit"
	"github.com/comuni-italiani/sportello/app/enti"
	"github.com/comuni-italiani/sportello/app/payments"
	"github.com/comuni-italiani/sportello/app/roles"
	"github.com/comuni-italiani/sportello/app/web"
	"github.com/comuni-italiani/sportello/services"
)

var (
	mario = web.Viewer{Kind: "citizen", ID: "RSSMRA80A01H501U", DisplayName: "Mario Rossi", FiscalCode: "RSSMRA80A01H501U"}
	luigi = web.Viewer{Kind: "citizen", ID: "VRDLGU75B02F205X", DisplayName: "Luigi Verdi", FiscalCode: "VRDLGU75B02F205X"}
	ragio = web.Viewer{Kind: "staff", ID: "ragioneria1", DisplayName: "Anna Conti", Roles: []string{roles.Payments}}
	urp   = web.Viewer{Kind: "staff", ID: "urp1", DisplayName: "Ugo Ricci", Roles: []string{roles.URP}}
)

func portalCtx(t *testing.T, s *apptest.Server) context.Context {
	all := s.App.Enti().All(context.Background())
	if len(all) == 0 {
		t.Fatal("no ente")
	}
	return enti.WithEnte(context.Background(), all[0])
}

// The whole citizen journey through the real portal over HTTP, on both databases:
// the position in "I miei pagamenti", the notice PDF, a failed payment at the
// (development) Checkout that leaves it payable, a successful one confirmed from
// pagoPA's receipt, and another citizen who finds nothing.
func TestCitizenPagesJourney(t *testing.T) {
	apptest.Each(t, apptest.Options{Modules: []services.Module{}}, func(t *testing.T, s *apptest.Server) {
		ctx := portalCtx(t, s)
		p, err := s.App.Payments().Request(ctx, payments.Request{Purpose: "test/fee", Ref: "F-1", PayerCF: mario.FiscalCode,
			PayerName: "Mario Rossi", AmountCents: 2221, Causale: "Diritti per la carta d'identità elettronica",
			DueDate: time.Now().Add(72 * time.Hour)}, payments.System)
		if err != nil {
			t.Fatal(err)
		}
		c := s.Client()
		s.LoginAs(c, mario)
		if r := c.Get("/area-personale"); r.Status != http.StatusOK || !strings.Contains(r.Body, "Diritti per la carta") {
			t.Fatalf("personal area: %d", r.Status)
		}
		r := c.Get(payments.CitizenBase)
		if r.Status != http.StatusOK || !strings.Contains(r.Body, "22,21") || !strings.Contains(r.Body, "Da pagare") {
			t.Fatalf("my payments: %d\n%s", r.Status, r.Body)
		}
		if r := c.GetLang(payments.CitizenBase, "en"); !strings.Contains(r.Body, "My payments") {
			t.Error("no English page")
		}
		det := c.Get(payments.CitizenPath(p.ID))
		if det.Status != http.StatusOK || !strings.Contains(det.Body, payments.FormatNotice(p.NoticeNumber)) {
			t.Fatalf("detail: %d", det.Status)
		}
		pdf := c.Get(payments.CitizenPath(p.ID) + "/avviso.pdf")
		if pdf.Status != http.StatusOK || pdf.Header.Get("Content-Type") != "application/pdf" || !strings.HasPrefix(pdf.Body, "%PDF") {
			t.Fatalf("notice PDF: %d %s", pdf.Status, pdf.Header.Get("Content-Type"))
		}

		pay := func(action string) *apptest.Response {
			t.Helper()
			r := c.PostForm(payments.CitizenPath(p.ID)+"/paga", nil)
			if r.Status != http.StatusSeeOther || !strings.Contains(r.Header.Get("Location"), payments.DevPrefix+"/pay/") {
				t.Fatalf("pay: %d %q", r.Status, r.Header.Get("Location"))
			}
			page := c.Follow(r)
			if page.Status != http.StatusOK || !strings.Contains(page.Body, "22,21") {
				t.Fatalf("Checkout page: %d", page.Status)
			}
			back := c.Submit(page, url.Values{"action": {action}})
			if back.Status != http.StatusSeeOther {
				t.Fatalf("Checkout answer: %d", back.Status)
			}
			return c.Follow(back)
		}
		if r := pay("fail"); r.Status != http.StatusOK || !strings.Contains(r.Body, "non è riuscito") || !strings.Contains(r.Body, "Paga online") {
			t.Fatalf("after failure: %d\n%s", r.Status, r.Body)
		}
		if q, _ := s.App.Payments().Get(ctx, p.ID); q.State != payments.Published {
			t.Fatalf("failed payment changed the state to %s", q.State)
		}
		r = pay("pay")
		if r.Status != http.StatusOK || !strings.Contains(r.Body, "Pagamento riuscito") || strings.Contains(r.Body, "Paga online") {
			t.Fatalf("after payment: %d\n%s", r.Status, r.Body)
		}
		q, _ := s.App.Payments().Get(ctx, p.ID)
		if q.State != payments.Paid || !strings.Contains(r.Body, q.ReceiptID) {
			t.Fatalf("state %s, receipt %q not shown", q.State, q.ReceiptID)
		}
		// Coming back to the return address again changes nothing.
		if r := c.Get(payments.CitizenPath(p.ID) + "/esito/ok"); r.Status != http.StatusOK {
			t.Fatal(r.Status)
		}
		var paid int64
		s.All().Model(&audit.Event{}).Where("action = ? AND object_id = ?", "payments.paid", p.ID).Count(&paid)
		if paid != 1 {
			t.Errorf("%d paid audit rows", paid)
		}
		// A paid position has no notice to download.
		if r := c.Get(payments.CitizenPath(p.ID) + "/avviso.pdf"); r.Status != http.StatusConflict {
			t.Errorf("notice of a paid position: %d", r.Status)
		}

		// Another citizen: 404 as for a missing position, and the attempt audited.
		o := s.Client()
		s.LoginAs(o, luigi)
		for _, path := range []string{payments.CitizenPath(p.ID), payments.CitizenPath(p.ID) + "/avviso.pdf"} {
			if r := o.Get(path); r.Status != http.StatusNotFound || strings.Contains(r.Body, "Mario") {
				t.Errorf("%s for another citizen: %d", path, r.Status)
			}
		}
		if r := o.PostForm(payments.CitizenPath(p.ID)+"/paga", nil); r.Status != http.StatusNotFound {
			t.Errorf("pay another's: %d", r.Status)
		}
		if r := o.Get(payments.CitizenBase); strings.Contains(r.Body, "22,21") {
			t.Error("another citizen's list shows the position")
		}
		var denied int64
		s.All().Model(&audit.Event{}).Where("action = ? AND actor_id = ? AND outcome = ?", "security.payment_access_denied",
			luigi.FiscalCode, audit.Denied).Count(&denied)
		if denied != 3 {
			t.Errorf("%d denied attempts audited, want 3", denied)
		}
		if r := o.Get(payments.CitizenPath("nessuna")); r.Status != http.StatusNotFound {
			t.Errorf("missing position: %d", r.Status)
		}
	})
}

// Staff: the list with filters, the day's reconciliation CSV, cancellation with a
// reason (refused without one, refused for a paid position), all audited; staff
// without the role are refused.
func TestStaffPages(t *testing.T) {
	apptest.Each(t, apptest.Options{Modules: []services.Module{}}, func(t *testing.T, s *apptest.Server) {
		ctx := portalCtx(t, s)
		svc := s.App.Payments()
		req := func(ref string) *payments.Position {
			p, err := svc.Request(ctx, payments.Request{Purpose: "test/fee", Ref: ref, PayerCF: mario.FiscalCode,
				PayerName: "Mario Rossi", AmountCents: 1600, Causale: "=SOMMA(A1) prova " + ref, DueDate: time.Now().Add(time.Hour)}, payments.System)
			if err != nil {
				t.Fatal(err)
			}
			return p
		}
		paid, open := req("S-1"), req("S-2")
		stamp, err := svc.Request(ctx, payments.Request{Purpose: "test/bollo", Ref: "S-3", PayerCF: mario.FiscalCode,
			PayerName: "Mario Rossi", AmountCents: 1600, Causale: "Imposta di bollo", DueDate: time.Now().Add(time.Hour),
			StampHash: "n4bQgYhMfWWaL+qgxVrQFaO/TxsrC4Is0V1sFbDwCgg=", StampProvince: "TO"}, payments.System)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range []*payments.Position{paid, stamp} {
			if _, ok := s.App.DevPagoPA().Pay(p.CreditorCF, p.NoticeNumber); !ok {
				t.Fatal("dev pay")
			}
			if q, err := svc.Refresh(ctx, p.ID); err != nil || q.State != payments.Paid {
				t.Fatalf("refresh: %v", err)
			}
		}

		u := s.Client()
		s.LoginAs(u, urp)
		if r := u.Get(payments.StaffBase); r.Status != http.StatusForbidden {
			t.Errorf("staff without the role: %d", r.Status)
		}
		c := s.Client()
		s.LoginAs(c, ragio)
		r := c.Get(payments.StaffBase + "?stato=paid")
		if r.Status != http.StatusOK || !strings.Contains(r.Body, paid.NoticeNumber) || strings.Contains(r.Body, open.NoticeNumber) {
			t.Fatalf("filtered list: %d", r.Status)
		}
		if r := c.Get(payments.StaffBase + "?stato=rubato"); r.Status != http.StatusBadRequest {
			t.Errorf("bad filter: %d", r.Status)
		}
		loc, _ := time.LoadLocation("Europe/Rome")
		day := time.Now().In(loc).Format("2006-01-02")
		csv := c.Get(payments.StaffBase + "/riconciliazione.csv?giorno=" + day)
		if csv.Status != http.StatusOK || !strings.Contains(csv.Body, paid.NoticeNumber) || strings.Contains(csv.Body, open.NoticeNumber) ||
			!strings.Contains(csv.Body, ";16,00;1600;") || !strings.Contains(csv.Body, "'=SOMMA") ||
			!strings.Contains(csv.Body, ";iupd;marca_da_bollo\n") || !strings.Contains(csv.Body, paid.ID+";no\n") ||
			!strings.Contains(csv.Body, stamp.ID+";si\n") {
			t.Fatalf("reconciliation: %d\n%s", csv.Status, csv.Body)
		}
		if r := c.Get(payments.StaffBase + "/riconciliazione.csv?giorno=ieri"); r.Status != http.StatusBadRequest {
			t.Errorf("bad day: %d", r.Status)
		}

		// Cancel without a reason: 422, nothing changes.
		cancel := payments.StaffBase + "/" + open.ID + "/annulla"
		if r := c.PostForm(cancel, url.Values{"motivo": {"  "}}); r.Status != http.StatusUnprocessableEntity || !strings.Contains(r.Body, "motivo") {
			t.Fatalf("cancel without reason: %d", r.Status)
		}
		if q, _ := svc.Get(ctx, open.ID); q.State != payments.Published {
			t.Fatalf("state %s after a refused cancellation", q.State)
		}
		if r := c.PostForm(cancel, url.Values{"motivo": {"Importo errato, sostituito da un nuovo avviso"}}); r.Status != http.StatusSeeOther {
			t.Fatalf("cancel: %d", r.Status)
		}
		if q, _ := svc.Get(ctx, open.ID); q.State != payments.Cancelled {
			t.Fatalf("state %s", q.State)
		}
		var n int64
		s.All().Model(&audit.Event{}).Where("action = ? AND actor_id = ? AND object_id = ?", "payments.cancel", ragio.ID, open.ID).Count(&n)
		if n != 1 {
			t.Errorf("%d cancel audit rows", n)
		}
		// A paid position cannot be cancelled (409), from a form posted earlier.
		if r := c.PostForm(payments.StaffBase+"/"+paid.ID+"/annulla", url.Values{"motivo": {"errore"}}); r.Status != http.StatusConflict {
			t.Errorf("cancel paid: %d", r.Status)
		}
		if q, _ := svc.Get(ctx, paid.ID); q.State != payments.Paid {
			t.Errorf("paid position now %s", q.State)
		}
	})
}

// An expired position over HTTP: its due date passed unpaid, the scheduled sync marks
// it expired; the citizen sees "Scaduto" with nothing to pay (paying it and its notice
// are refused with 409, and pagoPA refuses it too); a receipt that arrives late is
// still recorded, once (the money reached the comune); staff can cancel another
// expired one with a reason.
func TestExpiredPositionOverHTTP(t *testing.T) {
	apptest.Each(t, apptest.Options{Modules: []services.Module{}}, func(t *testing.T, s *apptest.Server) {
		ctx := portalCtx(t, s)
		svc := s.App.Payments()
		req := func(ref string) *payments.Position {
			t.Helper()
			p, err := svc.Request(ctx, payments.Request{Purpose: "test/fee", Ref: ref, PayerCF: mario.FiscalCode,
				PayerName: "Mario Rossi", AmountCents: 2221, Causale: "Diritti per la carta d'identità elettronica " + ref,
				DueDate: time.Now().Add(-time.Hour)}, payments.System)
			if err != nil {
				t.Fatal(err)
			}
			return p
		}
		late, other := req("X-1"), req("X-2")
		if _, expired, err := svc.Sync(ctx); err != nil || expired != 2 {
			t.Fatalf("sync: %d expired, %v", expired, err)
		}
		c := s.Client()
		s.LoginAs(c, mario)
		r := c.Get(payments.CitizenPath(late.ID))
		if r.Status != http.StatusOK || !strings.Contains(r.Body, "Scaduto") || strings.Contains(r.Body, "Paga online") {
			t.Fatalf("expired position page: %d\n%s", r.Status, r.Body)
		}
		if r := c.Get(payments.CitizenBase); !strings.Contains(r.Body, "Scaduto") {
			t.Error("my payments does not show the expired state")
		}
		if r := c.PostForm(payments.CitizenPath(late.ID)+"/paga", nil); r.Status != http.StatusConflict ||
			!strings.Contains(r.Body, "non può più essere pagato") {
			t.Errorf("pay an expired position: %d", r.Status)
		}
		if r := c.Get(payments.CitizenPath(late.ID) + "/avviso.pdf"); r.Status != http.StatusConflict {
			t.Errorf("notice of an expired position: %d", r.Status)
		}
		if _, ok := s.App.DevPagoPA().Pay(late.CreditorCF, late.NoticeNumber); ok {
			t.Error("pagoPA accepted the payment of an expired notice")
		}
		// A receipt that arrives late, twice: recorded once.
		rc := payments.Receipt{ID: "RICEVUTA-TARDIVA", AmountCents: 2221, PSP: "Banca di prova"}
		for i := range 2 {
			first, err := svc.Confirm(ctx, late.ID, rc)
			if err != nil || first != (i == 0) {
				t.Fatalf("late receipt %d: first=%v %v", i, first, err)
			}
		}
		if r := c.Get(payments.CitizenPath(late.ID)); !strings.Contains(r.Body, "Pagato") || !strings.Contains(r.Body, rc.ID) {
			t.Errorf("after the late receipt: %d", r.Status)
		}
		var paid int64
		s.All().Model(&audit.Event{}).Where("action = ? AND object_id = ?", "payments.paid", late.ID).Count(&paid)
		if paid != 1 {
			t.Errorf("%d paid audit rows", paid)
		}
		// Staff cancel the other expired position with a reason.
		st := s.Client()
		s.LoginAs(st, ragio)
		if r := st.PostForm(payments.StaffBase+"/"+other.ID+"/annulla", url.Values{"motivo": {"Scaduta senza pagamento: pratica archiviata"}}); r.Status != http.StatusSeeOther {
			t.Fatalf("cancel expired: %d", r.Status)
		}
		if q, _ := svc.Get(ctx, other.ID); q.State != payments.Cancelled {
			t.Errorf("state %s after cancelling an expired position", q.State)
		}
	})
}
