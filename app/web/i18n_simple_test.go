package web

import (
	"os"
	"testing"
	"testing/fstest"

	"github.com/comuni-italiani/sportello/templates"
)

// T renders messages that only substitute arguments itself (simpleParts): for every
// such message of the real catalogue (the platform's and the appointments module's
// own), in each language, with every argument given, with one missing, with numbers,
// with a name given twice and with the shared parameters, it writes what go-i18n's
// template writes.
func TestI18nSimpleMessagesMatchLocalize(t *testing.T) {
	t.Parallel()
	i, err := LoadI18n(templates.FS, "locales", os.DirFS("../../services/appuntamenti/assets"))
	if err != nil {
		t.Fatal(err)
	}
	i.SetShared(map[string]string{"Access": "core.home.title"})
	n := 0
	for lang, msgs := range i.simple {
		for key, parts := range msgs {
			var names []string
			for _, p := range parts {
				if p.field {
					names = append(names, p.text)
				}
			}
			cases := [][]any{{"Unrelated", "x"}}
			all := []any{}
			for k, name := range names {
				all = append(all, name, "«"+name+"» & <b>")
				if k == 0 {
					cases = append(cases, []any{name, 42}, []any{name, int64(-7), name, "second wins"})
				}
			}
			cases = append(cases, all)
			if len(all) > 2 {
				cases = append(cases, all[2:]) // the first one missing
			}
			for _, args := range cases {
				want := i.localize(i.localizers[lang], lang, key, args)
				if got := i.T(lang, key, args...); got != want {
					t.Errorf("T(%s, %s, %v) = %q, go-i18n %q", lang, key, args, got, want)
				}
				n++
			}
		}
	}
	if len(i.simple["it"]) < 100 {
		t.Fatalf("only %d simple Italian messages: the catalogue was not read", len(i.simple["it"]))
	}
	t.Logf("%d simple messages in it, %d in en; %d renderings compared", len(i.simple["it"]), len(i.simple["en"]), n)
}

// Messages that do more than substitute (plural forms, conditions, pipes) are left to
// go-i18n, and a plural count always goes to go-i18n.
func TestI18nOnlySimpleMessagesAreCut(t *testing.T) {
	t.Parallel()
	fs := fstest.MapFS{
		"locales/it/a.yaml": {Data: []byte("n:\n  one: \"1 servizio\"\n  other: \"{{.Count}} servizi\"\n" +
			"c: \"{{if .X}}sì{{else}}no{{end}}\"\np: \"{{.X | printf \\\"%05d\\\"}}\"\ns: \"Ciao {{ .Name }}, {{.Name}}!\"\n" +
			"k: \"{{.Count}} giorni\"\n")},
		"locales/en/a.yaml": {Data: []byte("n:\n  one: \"1 service\"\n  other: \"{{.Count}} services\"\n" +
			"c: \"{{if .X}}yes{{else}}no{{end}}\"\np: \"{{.X | printf \\\"%05d\\\"}}\"\ns: \"Hi {{ .Name }}, {{.Name}}!\"\n" +
			"k: \"{{.Count}} days\"\n")},
	}
	i, err := LoadI18n(fs, "locales")
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"n", "c", "p"} {
		if _, ok := i.simple["it"][key]; ok {
			t.Errorf("%s cut as simple", key)
		}
	}
	if _, ok := i.simple["it"]["s"]; !ok {
		t.Fatal("s not cut as simple")
	}
	for _, c := range []struct {
		key  string
		args []any
		want string
	}{
		{"s", []any{"Name", "Ada"}, "Ciao Ada, Ada!"},
		{"c", []any{"X", true}, "sì"},
		{"p", []any{"X", 42}, "00042"},
		{"n", []any{"Count", 1}, "1 servizio"},
		{"k", []any{"Count", 3}, "3 giorni"},
	} {
		if got := i.T("it", c.key, c.args...); got != c.want {
			t.Errorf("T(it, %s) = %q, want %q", c.key, got, c.want)
		}
	}
}
