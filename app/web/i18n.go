package web

import (
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"
	"github.com/nicksnyder/go-i18n/v2/i18n"
	"golang.org/x/text/language"
	"gopkg.in/yaml.v3"
)

// Languages the portal speaks, the first being the default. Italian is the citizens'
// language; English is offered second.
var Languages = []language.Tag{language.Italian, language.English}

// LangCookie remembers the visitor's choice of language.
const LangCookie = "lang"

// I18n holds the message catalogue of every language.
type I18n struct {
	bundle     *i18n.Bundle
	localizers map[string]*i18n.Localizer
	matcher    language.Matcher
	// plain holds every message of every language as T renders it without
	// arguments, computed once: the catalogue never changes after LoadI18n, and a
	// page asks for some fifty of them (go-i18n's Localize was a seventh of the
	// verification page's time).
	plain map[string]map[string]string
	keys  map[string]map[string]bool
	// shared are the parameters every message receives (SetShared), by language.
	shared map[string]map[string]any
	// simple holds, by language and key, the messages whose text only substitutes
	// arguments ("Certificato n. {{.Code}}"), cut at the substitutions: T puts the
	// arguments in itself instead of running go-i18n's template, which was most of
	// the time of a message with arguments (see simpleParts).
	simple map[string]map[string][]simplePart
}

// simplePart is a literal text, or the name of an argument to put in (field).
type simplePart struct {
	text  string
	field bool
}

// simpleAction is a substitution of an argument: {{.Name}} or {{ .Name }}.
var simpleAction = regexp.MustCompile(`\{\{\s*\.([A-Za-z_][A-Za-z0-9_]*)\s*\}\}`)

// simpleParts cuts a message whose only form is m.Other and whose template does
// nothing but substitute arguments; ok is false for any other message (plural forms,
// conditions, pipes, other delimiters), which T leaves to go-i18n.
func simpleParts(m *i18n.Message) (parts []simplePart, ok bool) {
	if m.Zero != "" || m.One != "" || m.Two != "" || m.Few != "" || m.Many != "" ||
		(m.LeftDelim != "" && m.LeftDelim != "{{") || (m.RightDelim != "" && m.RightDelim != "}}") {
		return nil, false
	}
	text, at := m.Other, 0
	for _, loc := range simpleAction.FindAllStringSubmatchIndex(text, -1) {
		parts = append(parts, simplePart{text: text[at:loc[0]]}, simplePart{text: text[loc[2]:loc[3]], field: true})
		at = loc[1]
	}
	parts = append(parts, simplePart{text: text[at:]})
	for _, p := range parts {
		if !p.field && (strings.Contains(p.text, "{{") || strings.Contains(p.text, "}}")) {
			return nil, false // an action simpleAction does not know
		}
	}
	return parts, true
}

// LoadI18n reads every YAML file under dir/<lang>/ in fsys (for example
// locales/it/core.yaml, locales/it/urp.yaml): one file per platform area or module.
// It fails if a key exists in one language and not in another, so that no page can
// show a raw key to a citizen. Files under dir/<lang>/ in extra (modules' own
// messages) are read too.
func LoadI18n(fsys fs.FS, dir string, extra ...fs.FS) (*I18n, error) {
	b := i18n.NewBundle(Languages[0])
	b.RegisterUnmarshalFunc("yaml", yaml.Unmarshal)
	keys := map[string]map[string]bool{}
	simple := map[string]map[string][]simplePart{}
	for _, tag := range Languages {
		base, _ := tag.Base()
		lang := base.String()
		keys[lang] = map[string]bool{}
		simple[lang] = map[string][]simplePart{}
		files, err := fs.Glob(fsys, path.Join(dir, lang, "*.yaml"))
		if err != nil {
			return nil, err
		}
		if len(files) == 0 {
			return nil, fmt.Errorf("i18n: no message files for %q in %s", lang, dir)
		}
		type file struct {
			fsys fs.FS
			name string
		}
		var all []file
		for _, f := range files {
			all = append(all, file{fsys, f})
		}
		for _, x := range extra {
			more, err := fs.Glob(x, path.Join(dir, lang, "*.yaml"))
			if err != nil {
				return nil, err
			}
			for _, f := range more {
				all = append(all, file{x, f})
			}
		}
		for _, af := range all {
			f := af.name
			data, err := fs.ReadFile(af.fsys, f)
			if err != nil {
				return nil, err
			}
			// go-i18n takes the language from the file name: name.<lang>.yaml.
			mf, err := b.ParseMessageFileBytes(data, strings.TrimSuffix(path.Base(f), ".yaml")+"."+lang+".yaml")
			if err != nil {
				return nil, fmt.Errorf("i18n: %s: %w", f, err)
			}
			for _, m := range mf.Messages {
				if keys[lang][m.ID] {
					return nil, fmt.Errorf("i18n: %s: key %q defined twice", f, m.ID)
				}
				keys[lang][m.ID] = true
				if parts, ok := simpleParts(m); ok {
					simple[lang][m.ID] = parts
				}
			}
		}
	}
	it := keys["it"]
	for lang, ks := range keys {
		for k := range it {
			if !ks[k] {
				return nil, fmt.Errorf("i18n: key %q has no %s translation", k, lang)
			}
		}
		for k := range ks {
			if !it[k] {
				return nil, fmt.Errorf("i18n: key %q exists in %s but not in Italian", k, lang)
			}
		}
	}
	loc := map[string]*i18n.Localizer{}
	for _, tag := range Languages {
		base, _ := tag.Base()
		loc[base.String()] = i18n.NewLocalizer(b, tag.String())
	}
	t := &I18n{bundle: b, localizers: loc, matcher: language.NewMatcher(Languages), keys: keys, simple: simple}
	t.computePlain()
	return t, nil
}

// computePlain renders every message without arguments (but with the shared ones).
func (t *I18n) computePlain() {
	plain := map[string]map[string]string{}
	for lang, l := range t.localizers {
		plain[lang] = make(map[string]string, len(t.keys[lang]))
		var data map[string]any
		if sh := t.shared[lang]; len(sh) > 0 {
			data = sh
		}
		for k := range t.keys[lang] {
			if s, err := l.Localize(&i18n.LocalizeConfig{MessageID: k, TemplateData: data}); err == nil {
				plain[lang][k] = s
			}
		}
	}
	t.plain = plain
}

// SetShared gives every message of every language the parameters in params: name →
// message key, rendered in the message's own language. They carry words that depend
// on the deployment rather than on the page, such as how citizens log in (the
// platform sets "Access" from the configured providers, app.accessPhrase), so that
// a module's text says {{.Access}} and never repeats the check. A page's own
// arguments of the same name win. Call it once at start, before serving.
func (t *I18n) SetShared(params map[string]string) {
	shared := map[string]map[string]any{}
	for lang := range t.localizers {
		shared[lang] = map[string]any{}
		for name, key := range params {
			shared[lang][name] = t.T(lang, key)
		}
	}
	t.shared = shared
	t.computePlain()
}

// T translates key into lang. args are name/value pairs for the message template;
// a "Count" argument selects the plural form. A missing key renders as the key itself
// in brackets, which tests catch.
func (t *I18n) T(lang, key string, args ...any) string {
	l, ok := t.localizers[lang]
	if !ok {
		l, lang = t.localizers["it"], "it"
	}
	if len(args) == 0 {
		if s, ok := t.plain[lang][key]; ok {
			return s
		}
	}
	if parts, ok := t.simple[lang][key]; ok && len(args) > 0 {
		if s, ok := t.substitute(lang, parts, args); ok {
			return s
		}
	}
	return t.localize(l, lang, key, args)
}

// substitute renders a simple message (simpleParts) with args, as go-i18n's template
// would: the last value given for a name wins over earlier ones and over the shared
// parameters, and a name given no value prints "<no value>". It declines (ok false)
// a plural count or an argument that is not a string or a number, whose printing is
// the template package's to decide.
func (t *I18n) substitute(lang string, parts []simplePart, args []any) (string, bool) {
	value := func(name string) (string, bool) {
		for i := (len(args)/2 - 1) * 2; i >= 0; i -= 2 {
			if n, _ := args[i].(string); n == name {
				return plainValue(args[i+1])
			}
		}
		if v, ok := t.shared[lang][name]; ok {
			return plainValue(v)
		}
		return "<no value>", true
	}
	for i := 0; i+1 < len(args); i += 2 {
		if n, ok := args[i].(string); !ok || n == "Count" {
			return "", false
		}
	}
	var b strings.Builder
	for _, p := range parts {
		if !p.field {
			b.WriteString(p.text)
			continue
		}
		v, ok := value(p.text)
		if !ok {
			return "", false
		}
		b.WriteString(v)
	}
	return b.String(), true
}

// plainValue prints v as text/template does, for the types whose printing is plain
// (strings and numbers).
func plainValue(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case int:
		return strconv.Itoa(x), true
	case int64:
		return strconv.FormatInt(x, 10), true
	case int32, int16, int8, uint, uint64, uint32, uint16, uint8, float64, float32:
		return fmt.Sprint(x), true
	}
	return "", false
}

// localize renders key in lang through go-i18n.
func (t *I18n) localize(l *i18n.Localizer, lang, key string, args []any) string {
	cfg := &i18n.LocalizeConfig{MessageID: key}
	if len(args) > 0 {
		data := make(map[string]any, len(args)/2+len(t.shared[lang]))
		for name, v := range t.shared[lang] {
			data[name] = v
		}
		for i := 0; i+1 < len(args); i += 2 {
			name := fmt.Sprint(args[i])
			data[name] = args[i+1]
			if name == "Count" {
				cfg.PluralCount = args[i+1]
			}
		}
		cfg.TemplateData = data
	}
	s, err := l.Localize(cfg)
	if err != nil {
		return "[" + key + "]"
	}
	return s
}

// Has reports whether key exists.
func (t *I18n) Has(key string) bool {
	if _, ok := t.plain["it"][key]; ok {
		return true
	}
	_, err := t.localizers["it"].Localize(&i18n.LocalizeConfig{MessageID: key})
	return err == nil
}

// Supported reports whether lang is one of the portal's languages.
func Supported(lang string) bool {
	for _, tag := range Languages {
		if b, _ := tag.Base(); b.String() == lang {
			return true
		}
	}
	return false
}

// detect picks the request's language: an explicit ?lang=, then the cookie, then
// Accept-Language, then Italian.
func (t *I18n) detect(c echo.Context) string {
	if q := c.QueryParam("lang"); Supported(q) {
		return q
	}
	if ck, err := c.Cookie(LangCookie); err == nil && Supported(ck.Value) {
		return ck.Value
	}
	if al := c.Request().Header.Get("Accept-Language"); al != "" {
		tags, _, err := language.ParseAcceptLanguage(al)
		if err == nil && len(tags) > 0 {
			_, idx, conf := t.matcher.Match(tags...)
			if conf != language.No {
				b, _ := Languages[idx].Base()
				return b.String()
			}
		}
	}
	return "it"
}

const ctxLang = "web.lang"

// Lang returns the language of the current request ("it" or "en").
func Lang(c echo.Context) string {
	if l, ok := c.Get(ctxLang).(string); ok {
		return l
	}
	return "it"
}
