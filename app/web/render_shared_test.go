package web

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/labstack/echo/v4"
	"gopkg.in/yaml.v3"

	"github.com/comuni-italiani/sportello/config"
)

// TestRenderShared: an anonymous visitor's page is rendered once per key and served
// again with each request's own CSRF token; a signed-in visitor's page, another key,
// another language or another ente's data are rendered anew.
func TestRenderShared(t *testing.T) {
	t.Parallel()
	fs := fstest.MapFS{
		"layouts/base.html":  {Data: []byte(`<html lang="{{.Lang}}"><h1>{{.Site.Comune.Name}}</h1>{{if .Viewer}}<p>{{.Viewer.DisplayName}}</p>{{end}}<input name="_csrf" value="{{.CSRF}}">{{template "content" .}}<a data-csrf="{{.CSRF}}" href="{{.Path}}?x=1">x</a></html>`)},
		"page.html":          {Data: []byte(`{{define "content"}}<p>{{.T "hello"}} {{.Data}}</p>{{end}}`)},
		"locales/it/a.yaml":  {Data: []byte("hello: \"Ciao\"\n")},
		"locales/en/a.yaml":  {Data: []byte("hello: \"Hello\"\n")},
		"partials/none.html": {Data: []byte(``)},
	}
	i, err := LoadI18n(fs, "locales")
	if err != nil {
		t.Fatal(err)
	}
	r, err := NewRenderer(fs, i, Site{Comune: config.Comune{Name: "Comune di Valdoria"}})
	if err != nil {
		t.Fatal(err)
	}
	e := echo.New()
	calls := 0
	get := func(token, key, lang string, viewer *Viewer) string {
		t.Helper()
		req := httptest.NewRequest(http.MethodGet, "/verifica/ABCD", nil)
		rec := httptest.NewRecorder()
		c := e.NewContext(req, rec)
		c.Set(ctxCSRF, token)
		c.Set(ctxLang, lang)
		if viewer != nil {
			SetViewer(c, viewer)
		}
		err := r.RenderShared(c, http.StatusOK, "page.html", key, func() any { calls++; return "dati " + key })
		if err != nil {
			t.Fatal(err)
		}
		return rec.Body.String()
	}
	a := get("tokenA1", "k1", "it", nil)
	b := get("tokenB2", "k1", "it", nil)
	if calls != 1 {
		t.Fatalf("data built %d times for one key, want 1", calls)
	}
	if strings.Count(a, "tokenA1") != 2 || strings.Count(b, "tokenB2") != 2 || strings.Contains(b, "tokenA1") {
		t.Fatalf("tokens not each request's own:\n%s\n%s", a, b)
	}
	if strings.ReplaceAll(a, "tokenA1", "T") != strings.ReplaceAll(b, "tokenB2", "T") {
		t.Fatalf("pages differ beyond the token:\n%s\n%s", a, b)
	}
	if !strings.Contains(a, "Ciao dati k1") || !strings.Contains(a, `href="/verifica/ABCD?x=1"`) {
		t.Fatalf("page: %s", a)
	}
	if en := get("tokenC3", "k1", "en", nil); !strings.Contains(en, "Hello dati k1") || calls != 2 {
		t.Fatalf("another language: %d calls\n%s", calls, en)
	}
	if k2 := get("tokenD4", "k2", "it", nil); !strings.Contains(k2, "dati k2") || calls != 3 {
		t.Fatalf("another key: %d calls\n%s", calls, k2)
	}
	v := get("tokenE5", "k1", "it", &Viewer{Kind: "citizen", DisplayName: "Giulia Bianchi"})
	if !strings.Contains(v, "Giulia Bianchi") || calls != 4 {
		t.Fatalf("a signed-in visitor must get a page of their own: %d calls\n%s", calls, v)
	}
	// Another ente's data (or the same ente's, changed) is another page.
	r.SetComuneFunc(func(_ context.Context) (config.Comune, bool) {
		return config.Comune{Name: "Comune di Montealto"}, true
	})
	m := get("tokenF6", "k1", "it", nil)
	if !strings.Contains(m, "Comune di Montealto") || calls != 5 {
		t.Fatalf("another ente: %d calls\n%s", calls, m)
	}
}

// TestComuneKey: the key of an ente's data is kept per ente but follows every change of
// its record, field by field, including the lists and the module settings.
func TestComuneKey(t *testing.T) {
	t.Parallel()
	base := config.Comune{ID: "key-test", Name: "Valdoria", Hosts: []string{"valdoria.example"},
		DisabledModules: []string{"tari"}}
	k0 := comuneKey(base)
	if comuneKey(base) != k0 {
		t.Fatal("same record, different key")
	}
	changed := []config.Comune{base, base, base, base, base, base}
	changed[0].Name = "Valdoria Alta"
	changed[1].Hosts = []string{"altro.example"}
	changed[2].DisabledModules = nil
	changed[3].Links.Administration = "https://valdoria.example/amministrazione"
	changed[4].ThemeColor = "#123456"
	changed[5].Modules = map[string]yaml.Node{"tari": {Kind: yaml.ScalarNode, Value: "x"}}
	for i, c := range changed {
		k := comuneKey(c)
		if k == k0 {
			t.Errorf("change %d: same key", i)
		}
		if want := fmt.Sprintf("%#v", c); k != want {
			t.Errorf("change %d: key %q, want %q", i, k, want)
		}
	}
	if comuneKey(base) != k0 {
		t.Fatal("back to the first record, different key")
	}
}
