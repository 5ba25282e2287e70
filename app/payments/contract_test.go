package payments_test

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/comuni-italiani/sportello/app/payments"
	"github.com/comuni-italiani/sportello/app/store"
	"github.com/comuni-italiani/sportello/app/store/storetest"
)

// The contract check itself refuses what the published schema refuses: a position
// without companyName, an amount as a string, a call without the subscription key,
// and an operation the API does not have.
func TestContractCatchesViolations(t *testing.T) {
	dev := payments.NewDev(storetest.Open(t, store.SQLite, migrations()))
	srv := httptest.NewServer(dev)
	defer srv.Close()
	st := payments.DevSettings(srv.URL, "Comune di Alfa", "00000000001", "IT60X0542811101000000123456", 1)
	for name, tc := range map[string]struct {
		method, path, body string
		key                bool
		want               string
	}{
		"missing companyName": {"POST", "/organizations/00000000001/debtpositions?toPublish=true",
			`{"iupd":"x","paymentOption":[{"switchToExpired":false,"debtor":{"type":"F","fiscalCode":"A","fullName":"B"},"installments":[{"iuv":"1","amount":1600,"description":"d","dueDate":"2026-12-31T00:00:00Z","transfer":[{"idTransfer":"1","amount":1600,"remittanceInformation":"r","category":"c","iban":"IT"}]}]}]}`,
			true, "companyName"},
		"amount as text": {"POST", "/organizations/00000000001/debtpositions",
			`{"iupd":"x","companyName":"C","paymentOption":[{"switchToExpired":false,"debtor":{"type":"F","fiscalCode":"A","fullName":"B"},"installments":[{"iuv":"1","amount":"16.00","description":"d","dueDate":"2026-12-31T00:00:00Z","transfer":[{"idTransfer":"1","amount":1600,"remittanceInformation":"r","category":"c","iban":"IT"}]}]}]}`,
			true, "amount"},
		"no subscription key": {"GET", "/organizations/00000000001/debtpositions/abc", "", false, "Ocp-Apim-Subscription-Key"},
		"unknown operation":   {"PUT", "/organizations/00000000001/debtpositions/abc/publish", "", true, "not an operation"},
	} {
		t.Run(name, func(t *testing.T) {
			rec := &recorder{TB: t}
			c := newContract(rec, st)
			req, _ := http.NewRequest(tc.method, st.GPDURL+tc.path, bytes.NewBufferString(tc.body))
			if tc.body != "" {
				req.Header.Set("Content-Type", "application/json")
			}
			if tc.key {
				req.Header.Set("Ocp-Apim-Subscription-Key", "k")
			}
			resp, err := c.RoundTrip(req)
			if err == nil {
				resp.Body.Close()
			}
			if !strings.Contains(strings.Join(rec.errs, "\n"), tc.want) {
				t.Errorf("violation not reported; reports: %q", rec.errs)
			}
		})
	}
}
