package web

import (
	"strings"
	"testing"
	"testing/fstest"

	"github.com/nicksnyder/go-i18n/v2/i18n"
)

func TestI18nRefusesIncompleteCatalogues(t *testing.T) {
	t.Parallel()
	fs := fstest.MapFS{
		"locales/it/a.yaml": {Data: []byte("x.one: \"Uno\"\nx.two: \"Due\"\n")},
		"locales/en/a.yaml": {Data: []byte("x.one: \"One\"\n")},
	}
	if _, err := LoadI18n(fs, "locales"); err == nil || !strings.Contains(err.Error(), "x.two") {
		t.Fatalf("a key missing in English must be refused, got %v", err)
	}
	fs["locales/en/a.yaml"] = &fstest.MapFile{Data: []byte("x.one: \"One\"\nx.two: \"Two\"\nx.three: \"Three\"\n")}
	if _, err := LoadI18n(fs, "locales"); err == nil || !strings.Contains(err.Error(), "x.three") {
		t.Fatalf("a key only in English must be refused, got %v", err)
	}
	fs["locales/en/b.yaml"] = &fstest.MapFile{Data: []byte("x.one: \"Again\"\n")}
	delete(fs, "locales/en/a.yaml")
	fs["locales/en/a.yaml"] = &fstest.MapFile{Data: []byte("x.two: \"Two\"\n")}
	fs["locales/it/b.yaml"] = &fstest.MapFile{Data: []byte("x.one: \"Ancora\"\n")}
	if _, err := LoadI18n(fs, "locales"); err == nil || !strings.Contains(err.Error(), "twice") {
		t.Fatalf("a key defined in two files must be refused, got %v", err)
	}
}

func TestI18nTranslate(t *testing.T) {
	t.Parallel()
	fs := fstest.MapFS{
		"locales/it/a.yaml": {Data: []byte("n:\n  one: \"1 servizio\"\n  other: \"{{.Count}} servizi\"\nhi: \"Ciao {{.Name}}\"\n")},
		"locales/en/a.yaml": {Data: []byte("n:\n  one: \"1 service\"\n  other: \"{{.Count}} services\"\nhi: \"Hello {{.Name}}\"\n")},
	}
	i, err := LoadI18n(fs, "locales")
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		lang, key, want string
		args            []any
	}{
		{"it", "n", "1 servizio", []any{"Count", 1}},
		{"it", "n", "3 servizi", []any{"Count", 3}},
		{"en", "n", "3 services", []any{"Count", 3}},
		{"en", "hi", "Hello Anna", []any{"Name", "Anna"}},
		{"fr", "hi", "Ciao Anna", []any{"Name", "Anna"}},
		{"it", "missing", "[missing]", nil},
	}
	for _, c := range cases {
		if got := i.T(c.lang, c.key, c.args...); got != c.want {
			t.Errorf("T(%s, %s) = %q, want %q", c.lang, c.key, got, c.want)
		}
	}
}

// TestI18nPlainMessagesMatchLocalize: the messages computed once at load (T without
// arguments) are what go-i18n renders for each key and language, "fr" falls back to
// Italian, and a plural message asked without a count answers as before.
func TestI18nPlainMessagesMatchLocalize(t *testing.T) {
	t.Parallel()
	fs := fstest.MapFS{
		"locales/it/a.yaml": {Data: []byte("n:\n  one: \"1 servizio\"\n  other: \"{{.Count}} servizi\"\nhi: \"Ciao {{.Name}}\"\nplain: \"Verifica di un certificato\"\n")},
		"locales/en/a.yaml": {Data: []byte("n:\n  one: \"1 service\"\n  other: \"{{.Count}} services\"\nhi: \"Hello {{.Name}}\"\nplain: \"Certificate check\"\n")},
	}
	i, err := LoadI18n(fs, "locales")
	if err != nil {
		t.Fatal(err)
	}
	for _, lang := range []string{"it", "en", "fr"} {
		l := i.localizers[lang]
		if l == nil {
			l = i.localizers["it"]
		}
		for _, key := range []string{"n", "hi", "plain", "missing"} {
			want, err := l.Localize(&i18n.LocalizeConfig{MessageID: key})
			if err != nil {
				want = "[" + key + "]"
			}
			if got := i.T(lang, key); got != want {
				t.Errorf("T(%s, %s) = %q, go-i18n %q", lang, key, got, want)
			}
		}
	}
	if i.T("en", "plain") != "Certificate check" || i.T("fr", "plain") != "Verifica di un certificato" {
		t.Fatal("plain messages")
	}
	if !i.Has("plain") || !i.Has("n") || i.Has("missing") {
		t.Fatal("Has")
	}
}

func TestI18nSharedParameters(t *testing.T) {
	t.Parallel()
	fs := fstest.MapFS{
		"locales/it/a.yaml": {Data: []byte("how: \"Accedi {{.Access}}.\"\nwho: \"Ciao {{.Name}}, accedi {{.Access}}.\"\nw.local: \"con le credenziali\"\n")},
		"locales/en/a.yaml": {Data: []byte("how: \"Log in {{.Access}}.\"\nwho: \"Hello {{.Name}}, log in {{.Access}}.\"\nw.local: \"with the credentials\"\n")},
	}
	i, err := LoadI18n(fs, "locales")
	if err != nil {
		t.Fatal(err)
	}
	i.SetShared(map[string]string{"Access": "w.local"})
	for _, tc := range []struct{ lang, key, want string }{
		{"it", "how", "Accedi con le credenziali."},
		{"en", "how", "Log in with the credentials."},
	} {
		if got := i.T(tc.lang, tc.key); got != tc.want {
			t.Errorf("%s %s: %q, want %q", tc.lang, tc.key, got, tc.want)
		}
	}
	// With a page's own arguments the shared ones are still there; a page's own
	// argument of the same name wins.
	if got := i.T("it", "who", "Name", "Anna"); got != "Ciao Anna, accedi con le credenziali." {
		t.Errorf("with arguments: %q", got)
	}
	if got := i.T("en", "how", "Access", "with SPID"); got != "Log in with SPID." {
		t.Errorf("a page's own argument: %q", got)
	}
}
