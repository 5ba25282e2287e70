package ztl_test

import (
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/comuni-italiani/sportello/app/audit"
	"github.com/comuni-italiani/sportello/services/ztl"
)

func transitCount(t *testing.T, e *env) int64 {
	t.Helper()
	var n int64
	if err := e.scoped().Model(&ztl.Transit{}).Count(&n).Error; err != nil {
		t.Fatal(err)
	}
	return n
}

// TestAPIKeys: no key, a wrong key, a revoked key are refused with 401 (and audited);
// the key list never shows a key again; creation and revocation are audited.
func TestAPIKeys(t *testing.T) {
	t.Parallel()
	each(t, func(t *testing.T, e *env) {
		off := e.officer()
		key := gateKey(t, off, "Varchi Borgo Marina")
		if r := off.Get("/backoffice/ztl/chiavi"); strings.Contains(r.Body, key) || !strings.Contains(r.Body, "Varchi Borgo Marina") {
			t.Fatal("the key list shows the key again, or not the system")
		}
		path := ztl.APIBase + "/whitelist?zone=A"
		want(t, newAPI(t, e, "").do(http.MethodGet, path, nil, nil), http.StatusUnauthorized, `"error":"no_key"`)
		wrong := key[:len(key)-1] + "x"
		if strings.HasSuffix(key, "x") {
			wrong = key[:len(key)-1] + "y"
		}
		want(t, newAPI(t, e, wrong).do(http.MethodGet, path, nil, nil), http.StatusUnauthorized, `"error":"bad_key"`)
		want(t, newAPI(t, e, "ztl_short").do(http.MethodGet, path, nil, nil), http.StatusUnauthorized, `"error":"bad_key"`)
		good := newAPI(t, e, key)
		want(t, good.do(http.MethodGet, path, nil, nil), http.StatusOK, `"zone":"A"`)
		want(t, good.do(http.MethodGet, ztl.APIBase+"/whitelist?zone=Z", nil, nil), http.StatusBadRequest, `"error":"bad_zone"`)
		want(t, good.do(http.MethodGet, ztl.APIBase+"/whitelist/changes?zone=A&since=ieri", nil, nil), http.StatusBadRequest, `"error":"bad_since"`)

		var k ztl.GateKey
		if err := e.scoped().Where("name = ?", "Varchi Borgo Marina").Take(&k).Error; err != nil {
			t.Fatal(err)
		}
		if k.Hash == "" || strings.Contains(k.Hash, key) || k.LastUsedAt == nil {
			t.Fatalf("stored key: %+v", k)
		}
		want(t, off.PostForm("/backoffice/ztl/chiavi/"+itoa(k.ID)+"/revoca", nil), http.StatusSeeOther)
		want(t, good.do(http.MethodGet, path, nil, nil), http.StatusUnauthorized, `"error":"revoked_key"`)
		want(t, off.PostForm("/backoffice/ztl/chiavi/"+itoa(k.ID)+"/revoca", nil), http.StatusNotFound)

		counts := map[string]int64{}
		for _, a := range []string{"ztl.key_create", "ztl.key_revoke", "security.ztl_key_refused"} {
			var n int64
			e.All().Model(&audit.Event{}).Where("action = ?", a).Count(&n)
			counts[a] = n
		}
		if counts["ztl.key_create"] != 1 || counts["ztl.key_revoke"] != 1 || counts["security.ztl_key_refused"] != 4 {
			t.Errorf("audit entries: %v", counts)
		}
		// Staff without the role cannot manage keys.
		police := e.Client()
		e.LoginAs(police, viewerPolice())
		want(t, police.Get("/backoffice/ztl/chiavi"), http.StatusForbidden)
	})
}

// TestTransitRows: malformed rows are reported row by row and nothing of the batch
// is stored; the same batch posted by 20 gates at once is stored once.
func TestTransitRows(t *testing.T) {
	t.Parallel()
	each(t, func(t *testing.T, e *env) {
		gate := newAPI(t, e, gateKey(t, e.officer(), "Varchi centro"))
		path := ztl.APIBase + "/transits"
		bad := map[string]any{"transits": []map[string]any{
			{"id": "r1", "plate": "AB123CD", "gate": "Porta Nuova", "zone": "A", "at": "2027-03-01T08:00:00Z"},
			{"id": "r2", "plate": "not a plate!", "gate": "Porta Nuova", "zone": "A", "at": "2027-03-01T08:00:00Z"},
			{"id": "r3", "plate": "AB123CD", "gate": "", "zone": "Q", "at": "ieri"},
			{"id": "r1", "plate": "AB123CD", "gate": "G", "zone": "A", "at": "2027-03-01T08:00:00Z", "photo": "bm90IGFuIGltYWdl"},
		}}
		r := gate.do(http.MethodPost, path, bad, nil)
		want(t, r, http.StatusUnprocessableEntity, `"error":"bad_rows"`, `{"row":1,"field":"plate"`, `{"row":2,"field":"gate"`,
			`{"row":2,"field":"zone"`, `{"row":2,"field":"at"`, `{"row":3,"field":"id"`, `{"row":3,"field":"photo"`)
		if n := transitCount(t, e); n != 0 {
			t.Fatalf("%d transits stored from a refused batch", n)
		}
		want(t, gate.do(http.MethodPost, path, map[string]any{"transits": []any{}}, nil), http.StatusUnprocessableEntity)

		ok := map[string]any{"transits": []map[string]any{
			{"id": "r1", "plate": "AB123CD", "gate": "Porta Nuova", "zone": "A", "at": "2027-03-01T08:00:00Z", "photo": photo()},
			{"id": "r2", "plate": "BAB1234", "country": "DE", "gate": "Porta Nuova", "zone": "A", "at": "2027-03-01T08:01:00Z"},
		}}
		var wg sync.WaitGroup
		var mu sync.Mutex
		stored := 0
		for i := 0; i < 20; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r := gate.do(http.MethodPost, path, ok, nil)
				if r.Status != http.StatusOK {
					t.Errorf("concurrent post: %d %s", r.Status, r.Body)
					return
				}
				mu.Lock()
				defer mu.Unlock()
				switch {
				case strings.Contains(r.Body, `"stored":2`):
					stored += 2
				case strings.Contains(r.Body, `"stored":1`):
					stored++
				}
			}()
		}
		wg.Wait()
		if n := transitCount(t, e); n != 2 || stored != 2 {
			t.Fatalf("20 simultaneous posts of 2 rows: %d rows in the table, %d reported stored; want 2 and 2", n, stored)
		}
	})
}
