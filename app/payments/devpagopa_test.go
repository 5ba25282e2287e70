package payments_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"gorm.io/gorm"

	"github.com/comuni-italiani/sportello/app/enti"
	"github.com/comuni-italiani/sportello/app/payments"
	"github.com/comuni-italiani/sportello/app/store/storetest"
)

// The development pagoPA keeps its positions and carts in the database: a new
// instance over the same database (the portal restarted) still knows a position
// published and a cart opened before, pays them, and the portal confirms the
// payment from the new instance's receipt.
func TestDevPagoPASurvivesRestart(t *testing.T) {
	storetest.Each(t, migrations(), func(t *testing.T, db *gorm.DB) {
		e := newEnv(t, db)
		ctx := enteCtx("alfa")
		p, err := e.svc.Request(ctx, bollo("R1"), citizen)
		if err != nil || p.State != payments.Published {
			t.Fatalf("request: %+v %v", p, err)
		}
		checkout, err := e.svc.CheckoutURL(ctx, p, "", "https://portale.example/ok", "https://portale.example/annullato", "https://portale.example/errore")
		if err != nil {
			t.Fatal(err)
		}
		q, err := e.svc.Request(ctx, bollo("R2"), citizen)
		if err != nil {
			t.Fatal(err)
		}
		e.srv.Close() // the portal stops

		// The portal starts again: a new development pagoPA over the same database,
		// at a new address, and a service pointed at it.
		dev2 := payments.NewDev(db)
		srv2 := httptest.NewServer(dev2)
		t.Cleanup(srv2.Close)
		st := payments.DevSettings(srv2.URL, "Comune di Alfa", "00000000001", "IT60X0542811101000000123456", 1)
		svc2 := payments.New(payments.Options{DB: db, Settings: func(ctx context.Context) (payments.Settings, bool) {
			return st, enti.FromContext(ctx) != nil && enti.FromContext(ctx).ID == "alfa"
		}})
		// Still published there (GPD getOrganizationDebtPositionByIUPD answers, unpaid).
		if r, err := svc2.Refresh(ctx, p.ID); err != nil || r.State != payments.Published {
			t.Fatalf("after the restart: %+v %v", r, err)
		}
		// The cart opened before the restart is paid on the new instance.
		back := payAtCheckout(t, strings.Replace(checkout, e.srv.URL, srv2.URL, 1), "pay")
		if back != "https://portale.example/ok" {
			t.Fatalf("Checkout sends back to %q", back)
		}
		r, err := svc2.Refresh(ctx, p.ID)
		if err != nil || r.State != payments.Paid || !strings.HasPrefix(r.ReceiptID, "DEV") {
			t.Fatalf("after paying on the new instance: %+v %v", r, err)
		}
		// The other position is paid by its notice, as at a tobacconist, once only
		// even when tens of payers try at the same moment.
		var wins atomic.Int32
		var wg sync.WaitGroup
		for range 30 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, ok := dev2.Pay(q.CreditorCF, q.NoticeNumber); ok {
					wins.Add(1)
				}
			}()
		}
		wg.Wait()
		if wins.Load() != 1 {
			t.Fatalf("%d payments of one notice succeeded, want 1", wins.Load())
		}
		paid, _, err := svc2.Sync(ctx)
		if err != nil || paid != 1 {
			t.Fatalf("sync: %d paid, %v", paid, err)
		}
		// A paid position cannot be deleted; an unknown one is not found.
		for iupd, want := range map[string]int{q.ID: http.StatusConflict, "sconosciuta": http.StatusNotFound} {
			req, _ := http.NewRequest(http.MethodDelete, st.GPDURL+"/organizations/00000000001/debtpositions/"+iupd, nil)
			req.Header.Set("Ocp-Apim-Subscription-Key", "k")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != want {
				t.Errorf("delete %s: %d, want %d", iupd, resp.StatusCode, want)
			}
		}
	})
}
