package payments_test

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/comuni-italiani/sportello/app/audit"
	"github.com/comuni-italiani/sportello/app/enti"
	"github.com/comuni-italiani/sportello/app/payments"
	"github.com/comuni-italiani/sportello/app/store/storetest"
)

// noRedirect is a browser that shows each redirect to the test.
var noRedirect = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// payAtCheckout plays the payer on the development Checkout page: it opens the page
// and submits the outcome ("pay", "fail", "cancel"); it returns where Checkout sends
// the payer back.
func payAtCheckout(t *testing.T, checkoutURL, action string) string {
	t.Helper()
	resp, err := noRedirect.Get(checkoutURL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("Checkout page: %d", resp.StatusCode)
	}
	resp, err = noRedirect.PostForm(checkoutURL, url.Values{"action": {action}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("Checkout answer: %d", resp.StatusCode)
	}
	return resp.Header.Get("Location")
}

func TestPayOnline(t *testing.T) {
	storetest.Each(t, migrations(), func(t *testing.T, db *gorm.DB) {
		e := newEnv(t, db)
		ctx := enteCtx("alfa")
		var hookRuns atomic.Int32
		e.svc.OnPaid("test/bollo", func(ctx context.Context, tx *gorm.DB, p *payments.Position) error {
			hookRuns.Add(1)
			if p.State != payments.Paid || p.ReceiptID == "" {
				t.Errorf("hook sees %s without receipt", p.State)
			}
			return nil
		})
		p, err := e.svc.Request(ctx, bollo("CERT-1"), citizen)
		if err != nil {
			t.Fatal(err)
		}
		if p.State != payments.Published || p.EnteID != "alfa" || len(p.NoticeNumber) != 18 || p.NoticeNumber[:3] != "301" {
			t.Fatalf("position %+v", p)
		}
		if _, _, err := payments.ParseNoticeNumber(p.NoticeNumber); err != nil {
			t.Fatal(err)
		}
		// The same request again gets the same position.
		if q, err := e.svc.Request(ctx, bollo("CERT-1"), citizen); err != nil || q.ID != p.ID {
			t.Fatalf("second request: %v, %v", q, err)
		}

		// A failed payment leaves the position payable; the citizen retries.
		loc, err := e.svc.CheckoutURL(ctx, p, "mario@example.org", "https://portale.example/ok", "https://portale.example/annulla", "https://portale.example/errore")
		if err != nil {
			t.Fatal(err)
		}
		if back := payAtCheckout(t, loc, "fail"); back != "https://portale.example/errore" {
			t.Fatalf("failed payment returns to %q", back)
		}
		if q, err := e.svc.Refresh(ctx, p.ID); err != nil || q.State != payments.Published {
			t.Fatalf("after failure: %v %v", q, err)
		}
		loc, err = e.svc.CheckoutURL(ctx, p, "", "https://portale.example/ok", "https://portale.example/annulla", "https://portale.example/errore")
		if err != nil {
			t.Fatal(err)
		}
		if back := payAtCheckout(t, loc, "pay"); back != "https://portale.example/ok" {
			t.Fatalf("payment returns to %q", back)
		}
		q, err := e.svc.Refresh(ctx, p.ID)
		if err != nil {
			t.Fatal(err)
		}
		if q.State != payments.Paid || !strings.HasPrefix(q.ReceiptID, "DEV") || q.PaidAt == nil || q.ReceiptJSON == "" {
			t.Fatalf("after payment: %+v", q)
		}
		// The receipt arrives again (the job, a second return): nothing changes.
		if q2, err := e.svc.Refresh(ctx, p.ID); err != nil || q2.ReceiptID != q.ReceiptID {
			t.Fatal(err)
		}
		if hookRuns.Load() != 1 {
			t.Errorf("hook ran %d times", hookRuns.Load())
		}
		for _, a := range []string{"payments.create", "payments.publish", "payments.paid"} {
			if n := auditCount(t, db, a, p.ID); n != 1 {
				t.Errorf("%d audit rows %s", n, a)
			}
		}
		// A paid position is never cancelled, here or on pagoPA.
		if _, err := e.svc.Cancel(ctx, p.ID, "errore", payments.Actor{Kind: audit.ActorStaff, ID: "op"}); !errors.Is(err, payments.ErrState) {
			t.Errorf("cancel paid: %v", err)
		}
		for _, op := range []string{"createPosition", "getOrganizationDebtPositionByIUPD", "PostCarts"} {
			if e.contract.count(op) == 0 {
				t.Errorf("no %s exchange was checked against the published schema", op)
			}
		}
	})
}

// Tens of simultaneous deliveries of one receipt record one payment, one audit row
// and one hook run.
func TestConfirmationTwiceCountedOnce(t *testing.T) {
	storetest.Each(t, migrations(), func(t *testing.T, db *gorm.DB) {
		e := newEnv(t, db)
		ctx := enteCtx("alfa")
		var hookRuns atomic.Int32
		e.svc.OnPaid("test/bollo", func(ctx context.Context, tx *gorm.DB, p *payments.Position) error {
			hookRuns.Add(1)
			return nil
		})
		p, err := e.svc.Request(ctx, bollo("CERT-2"), citizen)
		if err != nil {
			t.Fatal(err)
		}
		const n = 40
		var wg sync.WaitGroup
		var firsts, errs atomic.Int32
		rc := payments.Receipt{ID: "RCPT-0001", AmountCents: 1600, PaidAt: time.Now(), PSP: "Banca di prova"}
		for range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				first, err := e.svc.Confirm(ctx, p.ID, rc)
				if err != nil {
					errs.Add(1)
					t.Error(err)
				}
				if first {
					firsts.Add(1)
				}
			}()
		}
		wg.Wait()
		if firsts.Load() != 1 || hookRuns.Load() != 1 || errs.Load() != 0 {
			t.Fatalf("%d confirmations: %d first, %d hook runs, %d errors", n, firsts.Load(), hookRuns.Load(), errs.Load())
		}
		if c := auditCount(t, db, "payments.paid", p.ID); c != 1 {
			t.Errorf("%d paid audit rows", c)
		}
		// A different receipt for a paid position is refused, the data unchanged.
		if _, err := e.svc.Confirm(ctx, p.ID, payments.Receipt{ID: "RCPT-OTHER", AmountCents: 1600}); !errors.Is(err, payments.ErrReceipt) {
			t.Errorf("second receipt: %v", err)
		}
		q, _ := e.svc.Get(ctx, p.ID)
		if q.ReceiptID != "RCPT-0001" {
			t.Errorf("receipt now %q", q.ReceiptID)
		}
	})
}

// A hook that fails leaves the position unpaid, so that the next delivery retries
// both: nothing is ever recorded as paid without its effect.
func TestHookFailureRollsBack(t *testing.T) {
	storetest.Each(t, migrations(), func(t *testing.T, db *gorm.DB) {
		e := newEnv(t, db)
		ctx := enteCtx("alfa")
		fail := true
		e.svc.OnPaid("test/bollo", func(ctx context.Context, tx *gorm.DB, p *payments.Position) error {
			if fail {
				return errors.New("the certificate store is down")
			}
			return nil
		})
		p, err := e.svc.Request(ctx, bollo("CERT-3"), citizen)
		if err != nil {
			t.Fatal(err)
		}
		rc := payments.Receipt{ID: "RCPT-3", AmountCents: 1600}
		if _, err := e.svc.Confirm(ctx, p.ID, rc); err == nil {
			t.Fatal("confirmation with a failing hook succeeded")
		}
		if q, _ := e.svc.Get(ctx, p.ID); q.State != payments.Published || q.ReceiptID != "" {
			t.Fatalf("after failed hook: %s %q", q.State, q.ReceiptID)
		}
		if c := auditCount(t, db, "payments.paid", p.ID); c != 0 {
			t.Errorf("%d paid audit rows after rollback", c)
		}
		fail = false
		if first, err := e.svc.Confirm(ctx, p.ID, rc); err != nil || !first {
			t.Fatalf("retry: %v %v", first, err)
		}
		// A receipt of another amount is refused.
		p2, _ := e.svc.Request(ctx, bollo("CERT-4"), citizen)
		if _, err := e.svc.Confirm(ctx, p2.ID, payments.Receipt{ID: "R", AmountCents: 1500}); !errors.Is(err, payments.ErrReceipt) {
			t.Errorf("wrong amount: %v", err)
		}
	})
}

// Simultaneous requests get distinct notice numbers from one gap-free counter, and
// simultaneous requests for one thing make one position.
func TestConcurrentRequests(t *testing.T) {
	storetest.Each(t, migrations(), func(t *testing.T, db *gorm.DB) {
		e := newEnv(t, db)
		ctx := enteCtx("alfa")
		const n = 30
		var wg sync.WaitGroup
		notices := make([]string, n)
		same := make([]string, n)
		for i := range n {
			wg.Add(2)
			go func() {
				defer wg.Done()
				p, err := e.svc.Request(ctx, bollo("MANY-"+string(rune('A'+i%26))+string(rune('a'+i/26))), citizen)
				if err != nil {
					t.Error(err)
					return
				}
				notices[i] = p.NoticeNumber
			}()
			go func() {
				defer wg.Done()
				p, err := e.svc.Request(ctx, bollo("ONE"), citizen)
				if err != nil {
					t.Error(err)
					return
				}
				same[i] = p.ID
			}()
		}
		wg.Wait()
		seen := map[string]bool{}
		for _, nn := range notices {
			if nn == "" || seen[nn] {
				t.Fatalf("notice %q missing or repeated", nn)
			}
			seen[nn] = true
		}
		for _, id := range same {
			if id != same[0] {
				t.Fatalf("one thing to pay got two positions: %s, %s", same[0], id)
			}
		}
		var total int64
		e.svc.Store(ctx).Model(&payments.Position{}).Count(&total)
		if total != n+1 {
			t.Errorf("%d positions, want %d", total, n+1)
		}
		// The counter is gap-free: the IUV bases are 1..n+1 (a request that lost the
		// race for "ONE" rolled back with its number).
		var maxBase int64
		for nn := range seen {
			_, b, _ := payments.ParseNoticeNumber(nn)
			maxBase = max(maxBase, b)
		}
		if maxBase > n+1 {
			t.Errorf("IUV base reached %d for %d positions", maxBase, n+1)
		}
	})
}

// One ente's positions are invisible and unchangeable under another's scope, and each
// ente numbers its own notices.
func TestEnteIsolation(t *testing.T) {
	storetest.Each(t, migrations(), func(t *testing.T, db *gorm.DB) {
		e := newEnv(t, db)
		a, b := enteCtx("alfa"), enteCtx("beta")
		pa, err := e.svc.Request(a, bollo("X"), citizen)
		if err != nil {
			t.Fatal(err)
		}
		pb, err := e.svc.Request(b, bollo("X"), citizen)
		if err != nil {
			t.Fatal(err)
		}
		if pa.NoticeNumber != pb.NoticeNumber {
			t.Errorf("each ente starts its own numbers: %s, %s", pa.NoticeNumber, pb.NoticeNumber)
		}
		if _, err := e.svc.Get(b, pa.ID); !errors.Is(err, payments.ErrNotFound) {
			t.Errorf("beta reads alfa's position: %v", err)
		}
		if _, err := e.svc.ForPayer(b, citizen.ID, pa.ID); !errors.Is(err, payments.ErrNotFound) {
			t.Errorf("beta reads alfa's position for the payer: %v", err)
		}
		if _, err := e.svc.Confirm(b, pa.ID, payments.Receipt{ID: "R", AmountCents: 1600}); !errors.Is(err, payments.ErrNotFound) {
			t.Errorf("beta confirms alfa's position: %v", err)
		}
		if _, err := e.svc.Cancel(b, pa.ID, "prova", payments.Actor{Kind: audit.ActorStaff, ID: "op"}); !errors.Is(err, payments.ErrNotFound) {
			t.Errorf("beta cancels alfa's position: %v", err)
		}
		list, total, err := e.svc.List(b, payments.Filter{})
		if err != nil || total != 1 || list[0].ID != pb.ID {
			t.Errorf("beta's list: %d %v", total, err)
		}
		// Store level: an update through beta's scope touches nothing of alfa's.
		res := enti.Scoped(db, "beta").Model(&payments.Position{}).Where("id = ?", pa.ID).Update("state", "paid")
		if res.Error != nil || res.RowsAffected != 0 {
			t.Errorf("scoped update reached another ente: %v %d", res.Error, res.RowsAffected)
		}
		if q, _ := e.svc.Get(a, pa.ID); q.State != payments.Published {
			t.Errorf("alfa's position is now %s", q.State)
		}
		// Unscoped statements are refused by the guard.
		if err := db.Model(&payments.Position{}).Where("id = ?", pa.ID).Update("state", "paid").Error; !errors.Is(err, enti.ErrUnscoped) {
			t.Errorf("unscoped update: %v", err)
		}
		// Another citizen of the same ente does not see the position.
		if _, err := e.svc.ForPayer(a, "VRDLGU75B02F205X", pa.ID); !errors.Is(err, payments.ErrNotFound) {
			t.Errorf("another payer reads the position: %v", err)
		}
	})
}

func TestCancelAndExpire(t *testing.T) {
	storetest.Each(t, migrations(), func(t *testing.T, db *gorm.DB) {
		e := newEnv(t, db)
		ctx := enteCtx("alfa")
		staff := payments.Actor{Kind: audit.ActorStaff, ID: "ragioneria"}
		p, err := e.svc.Request(ctx, bollo("C1"), citizen)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.svc.Cancel(ctx, p.ID, "  ", staff); !errors.Is(err, payments.ErrInvalid) {
			t.Errorf("cancel without reason: %v", err)
		}
		if q, _ := e.svc.Get(ctx, p.ID); q.State != payments.Published {
			t.Fatalf("refused cancellation changed the state to %s", q.State)
		}
		q, err := e.svc.Cancel(ctx, p.ID, "Richiesta annullata dal cittadino allo sportello", staff)
		if err != nil || q.State != payments.Cancelled || q.CancelReason == "" {
			t.Fatalf("cancel: %+v %v", q, err)
		}
		if auditCount(t, db, "payments.cancel", p.ID) != 1 {
			t.Error("no cancel audit row")
		}
		// Gone from pagoPA: nobody can pay it any more.
		if _, ok := e.dev.Pay("00000000001", p.NoticeNumber); ok {
			t.Error("a cancelled position was paid at pagoPA")
		}
		if e.contract.count("deletePosition") != 1 {
			t.Error("deletePosition not called or not checked")
		}
		// A cancelled thing can be asked for again: a new notice.
		p2, err := e.svc.Request(ctx, bollo("C1"), citizen)
		if err != nil || p2.ID == p.ID || p2.NoticeNumber == p.NoticeNumber {
			t.Fatalf("new request after cancel: %v %v", p2, err)
		}

		// Expiry: the due date passes unpaid.
		r := bollo("E1")
		r.DueDate = e.clock.Now().Add(time.Hour)
		pe, err := e.svc.Request(ctx, r, citizen)
		if err != nil {
			t.Fatal(err)
		}
		e.clock.Add(2 * time.Hour)
		paid, expired, err := e.svc.Sync(ctx)
		if err != nil || paid != 0 || expired != 1 {
			t.Fatalf("sync: %d paid, %d expired, %v", paid, expired, err)
		}
		if q, _ := e.svc.Get(ctx, pe.ID); q.State != payments.Expired {
			t.Errorf("state %s, want expired", q.State)
		}
		if _, err := e.svc.CheckoutURL(ctx, &payments.Position{State: payments.Expired}, "", "", "", ""); !errors.Is(err, payments.ErrState) {
			t.Errorf("checkout of an expired position: %v", err)
		}
		// A position paid at a tobacconist by its notice is confirmed by the job.
		p3, _ := e.svc.Request(ctx, bollo("T1"), citizen)
		if _, ok := e.dev.Pay("00000000001", p3.NoticeNumber); !ok {
			t.Fatal("paying the notice failed")
		}
		paid, _, err = e.svc.Sync(ctx)
		if err != nil || paid != 1 {
			t.Fatalf("sync after notice payment: %d %v", paid, err)
		}
	})
}

func TestRequestRefusals(t *testing.T) {
	storetest.Each(t, migrations(), func(t *testing.T, db *gorm.DB) {
		e := newEnv(t, db)
		ctx := enteCtx("alfa")
		for name, mod := range map[string]func(*payments.Request){
			"zero amount":   func(r *payments.Request) { r.AmountCents = 0 },
			"negative":      func(r *payments.Request) { r.AmountCents = -1600 },
			"no causale":    func(r *payments.Request) { r.Causale = " " },
			"bad payer":     func(r *payments.Request) { r.PayerCF = "X" },
			"no due date":   func(r *payments.Request) { r.DueDate = time.Time{} },
			"stamp no prov": func(r *payments.Request) { r.StampHash = "abc" },
			"bad category":  func(r *payments.Request) { r.Category = "bollo" },
			"category type": func(r *payments.Request) { r.Category = "9/0101002XX/" },
		} {
			r := bollo("R-" + name)
			mod(&r)
			if _, err := e.svc.Request(ctx, r, citizen); !errors.Is(err, payments.ErrInvalid) {
				t.Errorf("%s: %v", name, err)
			}
		}
		var n int64
		e.svc.Store(ctx).Model(&payments.Position{}).Count(&n)
		if n != 0 {
			t.Errorf("%d positions written by refused requests", n)
		}
		if _, err := e.svc.Request(enteCtx("gamma"), bollo("G"), citizen); !errors.Is(err, payments.ErrNotConfigured) {
			t.Errorf("ente without pagoPA: %v", err)
		}
		if e.svc.Enabled(enteCtx("gamma")) || !e.svc.Enabled(ctx) {
			t.Error("Enabled")
		}
	})
}

// RequestTx writes the position in the module's transaction: rolled back with it,
// committed with it (created, not yet on pagoPA), once per thing to pay; the
// scheduled sync publishes it.
func TestRequestTxPublishedBySync(t *testing.T) {
	storetest.Each(t, migrations(), func(t *testing.T, db *gorm.DB) {
		e := newEnv(t, db)
		ctx := enteCtx("alfa")
		boom := errors.New("the module's work failed")
		err := enti.For(ctx, db).Transaction(func(tx *gorm.DB) error {
			if _, err := e.svc.RequestTx(ctx, tx, bollo("TX-1"), citizen); err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatal(err)
		}
		if _, err := e.svc.ByRef(ctx, "test/bollo", "TX-1"); !errors.Is(err, payments.ErrNotFound) {
			t.Fatalf("a rolled-back transaction left a position: %v", err)
		}
		var p, again *payments.Position
		err = enti.For(ctx, db).Transaction(func(tx *gorm.DB) error {
			var err error
			if p, err = e.svc.RequestTx(ctx, tx, bollo("TX-1"), citizen); err != nil {
				return err
			}
			again, err = e.svc.RequestTx(ctx, tx, bollo("TX-1"), citizen)
			return err
		})
		if err != nil || p.State != payments.Created || again.ID != p.ID {
			t.Fatalf("RequestTx: %+v %+v %v", p, again, err)
		}
		if e.contract.count("createPosition") != 0 {
			t.Error("RequestTx called pagoPA inside the transaction")
		}
		if _, _, err := e.svc.Sync(ctx); err != nil {
			t.Fatal(err)
		}
		if q, _ := e.svc.Get(ctx, p.ID); q.State != payments.Published || e.contract.count("createPosition") != 1 {
			t.Fatalf("after sync: %s, %d createPosition", q.State, e.contract.count("createPosition"))
		}
		if _, ok := e.dev.Pay(p.CreditorCF, p.NoticeNumber); !ok {
			t.Fatal("the published position cannot be paid")
		}
	})
}

// Tens of simultaneous withdrawals of one published position (a module's job on two
// replicas, an officer's revocation at the same moment): one cancels it, with one
// audit row; the others find it withdrawn (ErrState), none fails because pagoPA has
// already deleted it.
func TestConcurrentCancel(t *testing.T) {
	storetest.Each(t, migrations(), func(t *testing.T, db *gorm.DB) {
		e := newEnv(t, db)
		ctx := enteCtx("alfa")
		p, err := e.svc.Request(ctx, bollo("CC1"), citizen)
		if err != nil || p.State != payments.Published {
			t.Fatalf("request: %+v %v", p, err)
		}
		var ok, gone atomic.Int32
		var wg sync.WaitGroup
		for range 20 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := e.svc.Cancel(ctx, p.ID, "Pratica revocata", payments.Actor{Kind: audit.ActorSystem, ID: "prova"})
				switch {
				case err == nil:
					ok.Add(1)
				case errors.Is(err, payments.ErrState):
					gone.Add(1)
				default:
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		if ok.Load() != 1 || gone.Load() != 19 {
			t.Errorf("%d cancellations and %d already withdrawn, want 1 and 19", ok.Load(), gone.Load())
		}
		if q, _ := e.svc.Get(ctx, p.ID); q == nil || q.State != payments.Cancelled {
			t.Errorf("position after the withdrawals: %+v", q)
		}
		if n := auditCount(t, db, "payments.cancel", p.ID); n != 1 {
			t.Errorf("%d cancel audit rows, want 1", n)
		}
		if _, ok := e.dev.Pay("00000000001", p.NoticeNumber); ok {
			t.Error("the withdrawn position was paid at pagoPA")
		}
	})
}
