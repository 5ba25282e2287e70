package enti_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"
	"gorm.io/gorm"

	"github.com/comuni-italiani/sportello/app/enti"
	"github.com/comuni-italiani/sportello/app/store"
	"github.com/comuni-italiani/sportello/app/store/storetest"
)

func putN(t testing.TB, st *enti.Store, n int) {
	t.Helper()
	ctx := context.Background()
	for i := range n {
		e := &enti.Ente{ID: fmt.Sprintf("comune-%04d", i), Kind: enti.KindComune, Name: fmt.Sprintf("Comune %d", i),
			Hosts: []string{fmt.Sprintf("comune-%04d.localhost", i), fmt.Sprintf("www.comune-%04d.example", i)}}
		if err := st.Put(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
}

func TestRegistryResolvesHosts(t *testing.T) {
	t.Parallel()
	storetest.Each(t, enti.Migrations(), func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		st := enti.NewStore(db)
		r := enti.NewRegistry(st, enti.Options{})
		if err := r.Load(ctx); err != nil {
			t.Fatal(err)
		}
		if _, ok := r.Resolve(ctx, "anything"); ok {
			t.Fatal("an empty registry resolved a host")
		}
		// One ente with no hosts serves every host.
		if err := st.Put(ctx, &enti.Ente{ID: "valdoria", Kind: enti.KindComune, Name: "Comune di Valdoria"}); err != nil {
			t.Fatal(err)
		}
		_ = r.Load(ctx)
		if e, ok := r.Resolve(ctx, "whatever.example:8080"); !ok || e.ID != "valdoria" {
			t.Fatalf("single ente fallback: %v %v", e, ok)
		}
		// Several enti: each host to its own, unknown hosts to none.
		putN(t, st, 3)
		_ = r.Load(ctx)
		for host, want := range map[string]string{
			"comune-0001.localhost": "comune-0001", "COMUNE-0002.LOCALHOST:8080": "comune-0002",
			"www.comune-0000.example.": "comune-0000", "whatever.example": "", "valdoria.localhost": "",
			"[::1]:8080": "",
		} {
			e, ok := r.Resolve(ctx, host)
			if (want == "") == ok || (ok && e.ID != want) {
				t.Errorf("%s -> %v %v, want %q", host, e, ok, want)
			}
		}
		// A host belongs to one ente: taking it for another is refused, nothing changes.
		err := st.Put(ctx, &enti.Ente{ID: "valdoria", Kind: enti.KindComune, Name: "Comune di Valdoria",
			Hosts: []string{"valdoria.localhost", "comune-0001.localhost"}})
		if err == nil || !strings.Contains(err.Error(), "comune-0001") {
			t.Fatalf("stolen host: %v", err)
		}
		v, _ := st.Get(ctx, "valdoria")
		if len(v.Hosts) != 0 {
			t.Fatalf("refused put changed hosts: %v", v.Hosts)
		}
		// Invalid enti are refused with the field named.
		for _, bad := range []*enti.Ente{
			{ID: "X", Kind: enti.KindComune, Name: "x"},
			{ID: "ok-id", Kind: "regione", Name: "x"},
			{ID: "ok-id", Kind: enti.KindComune},
			{ID: "ok-id", Kind: enti.KindComune, Name: "x", Hosts: []string{"Has.Upper"}},
			{ID: "ok-id", Kind: enti.KindComune, Name: "x", Hosts: []string{"with:8080"}},
			{ID: "ok-id", Kind: enti.KindComune, Name: "x", ParentID: "comune-0001"},
			{ID: "ok-id", Kind: enti.KindComune, Name: "x", IstatCode: "12345"},
		} {
			if err := st.Put(ctx, bad); err == nil {
				t.Errorf("accepted %+v", bad)
			}
		}
		if n, _ := st.Count(ctx); n != 4 {
			t.Fatalf("%d enti after refusals", n)
		}
	})
}

func TestMiddlewareSetsTheEnte(t *testing.T) {
	t.Parallel()
	db := storetest.Open(t, store.SQLite, enti.Migrations())
	st := enti.NewStore(db)
	putN(t, st, 2)
	r := enti.NewRegistry(st, enti.Options{})
	if err := r.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	e := echo.New()
	notFound := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNotFound) })
	e.Use(r.Middleware(notFound, func(p string) bool { return p == "/healthz" }))
	e.GET("/*", func(c echo.Context) error {
		if en := enti.Current(c); en != nil {
			return c.String(http.StatusOK, en.ID)
		}
		return c.String(http.StatusOK, "none")
	})
	for host, want := range map[string]string{"comune-0001.localhost": "200 comune-0001", "other": "404 "} {
		req := httptest.NewRequest(http.MethodGet, "/x", nil)
		req.Host = host
		rec := httptest.NewRecorder()
		e.ServeHTTP(rec, req)
		if got := fmt.Sprintf("%d %s", rec.Code, rec.Body.String()); got != want {
			t.Errorf("%s: %q, want %q", host, got, want)
		}
	}
	req := httptest.NewRequest(http.MethodGet, "/healthz", nil)
	req.Host = "other"
	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK || rec.Body.String() != "none" {
		t.Errorf("skipped path: %d %s", rec.Code, rec.Body.String())
	}
}

// BenchmarkResolve shows that resolving a request's ente costs the same with one ente
// and with a thousand in the database (a map lookup in an in-memory snapshot).
func BenchmarkResolve(b *testing.B) {
	for _, n := range []int{1, 1000} {
		b.Run(fmt.Sprintf("enti=%d", n), func(b *testing.B) {
			db := storetest.Open(b, store.SQLite, enti.Migrations())
			st := enti.NewStore(db)
			putN(b, st, n)
			r := enti.NewRegistry(st, enti.Options{})
			ctx := context.Background()
			if err := r.Load(ctx); err != nil {
				b.Fatal(err)
			}
			host := fmt.Sprintf("comune-%04d.localhost:8080", n-1)
			b.ResetTimer()
			for b.Loop() {
				if _, ok := r.Resolve(ctx, host); !ok {
					b.Fatal("not resolved")
				}
			}
		})
	}
}
