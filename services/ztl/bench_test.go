package ztl_test

import (
	"fmt"
	"net/http"
	"net/url"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/comuni-italiani/sportello/app/apptest"
	"github.com/comuni-italiani/sportello/app/enti"
	"github.com/comuni-italiani/sportello/app/store"
	"github.com/comuni-italiani/sportello/app/store/storetest"
	"github.com/comuni-italiani/sportello/services"
	"github.com/comuni-italiani/sportello/services/ztl"
)

// benchPermits is the scale of the figures in the README.
const benchPermits = 100_000

// benchPlate is the i-th fictional plate: AA000AA upwards, skipping I, O, Q, U.
func benchPlate(i int) string {
	const letters = "ABCDEFGHJKLMNPRSTVWXYZ"
	n := len(letters)
	return fmt.Sprintf("%c%c%03d%c%c", letters[(i/(1000*n*n*n))%n], letters[(i/(1000*n*n))%n], i%1000,
		letters[(i/(1000*n))%n], letters[(i/1000)%n])
}

// seedScale writes n active permits of zone A, one plate each, in bulk.
func seedScale(b *testing.B, db *gorm.DB, n int, now time.Time) {
	b.Helper()
	batch := 1000
	if store.DialectOf(db) == store.SQLite {
		batch = 50 // the SQLite driver binds parameters in quadratic time
	}
	from, to := now.AddDate(0, -1, 0), now.AddDate(1, 0, 0)
	for start := 0; start < n; start += batch {
		end := min(start+batch, n)
		ps := make([]ztl.Permit, 0, end-start)
		for i := start; i < end; i++ {
			ps = append(ps, ztl.Permit{Code: fmt.Sprintf("BENCH-%07d", i), CaseID: int64(i + 1), Category: "merci",
				HolderCF: "RSSMRA80A01H501U", Zones: "A", ValidFrom: from, ValidTo: to, Status: ztl.StatusActive,
				CreatedAt: now, UpdatedAt: now})
		}
		if err := db.Create(&ps).Error; err != nil {
			b.Fatal(err)
		}
		ls := make([]ztl.Access, len(ps))
		for i, p := range ps {
			ls[i] = ztl.Access{PermitID: p.ID, Plate: benchPlate(start + i), Country: "IT", Zone: "A",
				ValidFrom: from, ValidTo: to, UpdatedAt: now.Add(-time.Hour)}
		}
		if err := db.Create(&ls).Error; err != nil {
			b.Fatal(err)
		}
	}
	// Planner statistics, as PostgreSQL's autovacuum keeps them after a bulk load.
	if err := db.Exec("ANALYZE ztl_access").Error; err != nil {
		b.Fatal(err)
	}
}

// BenchmarkPoll measures a gate's poll against 100,000 active permits: the full
// export (JSON and CSV), the answer to If-None-Match when nothing changed, the empty
// "changes since" answer, and the police plate check.
func BenchmarkPoll(b *testing.B) {
	for _, d := range storetest.Dialects {
		b.Run(string(d), func(b *testing.B) {
			now := time.Date(2027, 3, 1, 9, 0, 0, 0, time.UTC)
			c := &clock{}
			c.set(now)
			s := apptest.New(b, d, apptest.Options{Modules: []services.Module{register{}, ztl.New(ztl.WithClock(c.now))}})
			db := enti.Scoped(s.DB, "valdoria").WithContext(bg)
			seedScale(b, db, benchPermits, now)
			off := s.Client()
			s.LoginAs(off, viewerOfficer())
			r := off.PostForm("/backoffice/ztl/chiavi", url.Values{"name": {"bench"}})
			m := keyRE.FindStringSubmatch(r.Body)
			if m == nil {
				b.Fatalf("no key: %d", r.Status)
			}
			key := m[1]
			cl := s.Client()
			get := func(path string, h http.Header) *apptest.Response {
				req, _ := http.NewRequest(http.MethodGet, s.BaseURL+path, nil)
				req.Header.Set("Authorization", "Bearer "+key)
				for k, v := range h {
					req.Header[k] = v
				}
				return cl.Do(req)
			}
			began := time.Now()
			full := get(ztl.APIBase+"/whitelist?zone=A", nil)
			first := time.Since(began) // computed from the database, not yet cached
			if full.Status != http.StatusOK || len(full.Body) < benchPermits*40 {
				b.Fatalf("full export: %d, %d bytes", full.Status, len(full.Body))
			}
			etag := full.Header.Get("ETag")
			cursor := ztl.CursorOf(now.Add(-time.Minute))
			b.Run("full-json", func(b *testing.B) {
				for b.Loop() {
					if r := get(ztl.APIBase+"/whitelist?zone=A", nil); r.Status != http.StatusOK {
						b.Fatal(r.Status)
					}
				}
				b.ReportMetric(float64(len(full.Body)), "bytes/answer")
				b.ReportMetric(float64(first.Milliseconds()), "ms/uncached")
			})
			b.Run("full-csv", func(b *testing.B) {
				for b.Loop() {
					if r := get(ztl.APIBase+"/whitelist?zone=A&format=csv", nil); r.Status != http.StatusOK {
						b.Fatal(r.Status)
					}
				}
			})
			b.Run("not-modified", func(b *testing.B) {
				for b.Loop() {
					if r := get(ztl.APIBase+"/whitelist?zone=A", http.Header{"If-None-Match": {etag}}); r.Status != http.StatusNotModified {
						b.Fatal(r.Status)
					}
				}
			})
			b.Run("changes-empty", func(b *testing.B) {
				for b.Loop() {
					r := get(ztl.APIBase+"/whitelist/changes?zone=A&since="+url.QueryEscape(cursor), nil)
					if r.Status != http.StatusOK || len(r.Body) > 200 {
						b.Fatal(r.Status, r.Body)
					}
				}
			})
			b.Run("plate-check", func(b *testing.B) {
				i := 0
				for b.Loop() {
					pc, err := ztl.CheckPlate(bg, db, benchPlate(i%benchPermits), "", now)
					if err != nil || pc.Allowed == nil {
						b.Fatal(err)
					}
					i += 7919
				}
			})
		})
	}
}
