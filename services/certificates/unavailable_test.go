package certificates_test

import (
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/comuni-italiani/sportello/app/apptest"
	"github.com/comuni-italiani/sportello/app/store"
	"github.com/comuni-italiani/sportello/app/store/storetest"
	"github.com/comuni-italiani/sportello/config"
	"github.com/comuni-italiani/sportello/services"
	"github.com/comuni-italiani/sportello/services/certificates"
)

// With the database down, the verification page and API answer 503 (try again later),
// not 500: a verifier must not read it as a fault of the certificate.
func TestVerificationWithDatabaseDown(t *testing.T) {
	t.Parallel()
	for _, d := range []store.Dialect{store.SQLite, store.Postgres} {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			s, m := portal(t, d, "verify_rate_per_minute: 30")
			giulia := person(t, s.DB, "BIANCHI", "GIULIA")
			c := issue(t, m, giulia, giulia, "residenza")
			if d == store.Postgres {
				// The server goes away under the open pool, as when PostgreSQL is
				// stopped: every connection is cut and no new one is accepted.
				var name string
				s.DB.Raw("SELECT current_database()").Scan(&name)
				admin := storetest.Open(t, store.Postgres, nil)
				if err := admin.Exec(`ALTER DATABASE "` + name + `" WITH ALLOW_CONNECTIONS false`).Error; err != nil {
					t.Fatal(err)
				}
				if err := admin.Exec("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = ?", name).Error; err != nil {
					t.Fatal(err)
				}
			} else if err := store.Close(s.DB); err != nil {
				t.Fatal(err)
			}
			anon := s.Client()
			r := anon.Get("/api/verifica/" + c.ID)
			if r.Status != http.StatusServiceUnavailable || !strings.Contains(r.Body, `"status":503`) {
				t.Fatalf("API with the database down: %d %s", r.Status, r.Body)
			}
			r = anon.Get("/verifica/" + c.ID)
			if r.Status != http.StatusServiceUnavailable || !strings.Contains(r.Body, "Servizio temporaneamente non disponibile") {
				t.Fatalf("page with the database down: %d", r.Status)
			}
			var res map[string]any
			st := postJSON(t, s, "/api/verifica", map[string]any{"payload": c.Stamp}, &res)
			if st != http.StatusServiceUnavailable {
				t.Fatalf("POST with the database down: %d %v", st, res)
			}
		})
	}
}

// proxy forwards TCP connections to target until cut, which drops every
// connection at once without a word, as a crashed server or a broken network does.
type proxy struct {
	ln    net.Listener
	mu    sync.Mutex
	conns []net.Conn
}

func newProxy(t *testing.T, target string) *proxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, up)
			p.mu.Unlock()
			go func() { _, _ = io.Copy(up, c); up.Close() }()
			go func() { _, _ = io.Copy(c, up); c.Close() }()
		}
	}()
	t.Cleanup(p.cut)
	return p
}

func (p *proxy) cut() {
	p.ln.Close()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
}

func TestVerificationWithDatabaseCut(t *testing.T) {
	t.Parallel()
	s, m := portal(t, store.Postgres, "")
	giulia := person(t, s.DB, "BIANCHI", "GIULIA")
	c := issue(t, m, giulia, giulia, "residenza")
	// A record looked up before the cut may be answered from memory for
	// certificates.LookupTTL: after the cut the test asks for one not looked up yet.
	c2 := issue(t, m, giulia, giulia, "residenza")
	var name string
	s.DB.Raw("SELECT current_database()").Scan(&name)
	u, _ := url.Parse(storetest.PostgresURL(t, nil))
	p := newProxy(t, u.Host)
	u.Host = p.ln.Addr().String()
	u.Path = "/" + name
	db, err := store.Open(ctx, store.Options{URL: u.String()})
	if err != nil {
		t.Fatal(err)
	}
	s2 := apptest.New(t, store.Postgres, apptest.Options{DB: db, Modules: []services.Module{register{}, certificates.New()},
		Configure: func(cfg *config.Config) { *cfg = withSettings(t, *cfg, "verify_rate_per_minute: -1") }})
	anon := s2.Client()
	// (This second portal has its own keys: the certificate is not authentic to it,
	// but the database answered.)
	if r := anon.Get("/api/verifica/" + c.ID); r.Status != http.StatusNotFound {
		t.Fatalf("before the cut: %d %s", r.Status, r.Body)
	}
	p.cut()
	for i := range 3 {
		r := anon.Get("/api/verifica/" + c2.ID)
		if r.Status != http.StatusServiceUnavailable || !strings.Contains(r.Body, `"status":503`) {
			t.Fatalf("API after the cut, request %d: %d %s", i, r.Status, r.Body)
		}
	}
}
