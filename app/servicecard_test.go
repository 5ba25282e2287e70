package app_test

import (
	"io/fs"
	"path"
	"slices"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/comuni-italiani/sportello/app"
	"github.com/comuni-italiani/sportello/app/apptest"
	"github.com/comuni-italiani/sportello/services"
	"github.com/comuni-italiani/sportello/templates"
)

// messagesOf reads every message key of lang from the portal's message files.
func messagesOf(t *testing.T, lang string) map[string]bool {
	t.Helper()
	// The portal's message files and those modules carry in their own package
	// (services.Assets).
	systems := []fs.FS{templates.FS}
	for _, m := range app.Builtin() {
		if a, ok := m.(services.Assets); ok {
			systems = append(systems, a.Assets())
		}
	}
	keys := map[string]bool{}
	for _, fsys := range systems {
		readMessages(t, fsys, lang, keys)
	}
	if len(keys) == 0 {
		t.Fatalf("no message files for %s", lang)
	}
	return keys
}

func readMessages(t *testing.T, fsys fs.FS, lang string, keys map[string]bool) {
	t.Helper()
	files, err := fs.Glob(fsys, path.Join("locales", lang, "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		b, err := fs.ReadFile(fsys, f)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := yaml.Unmarshal(b, &m); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for k := range m {
			keys[k] = true
		}
	}
}

// cardProblems lists what the service card of info lacks: every section of the
// Designers Italia model (Descrizione, A chi è rivolto, Come fare, Cosa si ottiene,
// Tempi e scadenze, Quanto costa, Condizioni di servizio, Contatti, Argomenti, last
// update) must be a message key present in every language, life events must be known.
func cardProblems(info services.Info, langs map[string]map[string]bool) []string {
	var out []string
	sections := []struct{ name, key string }{
		{"Description (Descrizione)", info.Description}, {"Audience (A chi è rivolto)", info.Audience},
		{"HowTo (Come fare)", info.HowTo}, {"Outcome (Cosa si ottiene)", info.Outcome},
		{"Times (Tempi e scadenze)", info.Times}, {"Cost (Quanto costa)", info.Cost},
		{"Conditions (Condizioni di servizio)", info.Conditions}, {"Office (Contatti)", info.Office},
	}
	for _, s := range sections {
		if strings.TrimSpace(s.key) == "" {
			out = append(out, s.name+" is empty")
			continue
		}
		for lang, keys := range langs {
			if !keys[s.key] {
				out = append(out, s.name+": no message "+s.key+" in "+lang)
			}
		}
	}
	if len(info.Topics) == 0 {
		out = append(out, "Topics (Argomenti) is empty")
	}
	for _, k := range info.Topics {
		for lang, keys := range langs {
			if !keys[k] {
				out = append(out, "topic "+k+": no message in "+lang)
			}
		}
	}
	for _, ev := range info.LifeEvents {
		if !slices.Contains(app.LifeEvents, ev) {
			out = append(out, "life event "+ev+" is not one of app.LifeEvents")
		}
	}
	if _, err := time.Parse("2006-01-02", info.Updated); err != nil {
		out = append(out, "Updated "+info.Updated+" is not a date 2006-01-02")
	}
	return out
}

// Every built-in module fills every section of the service card, in every language:
// a module that lacks one fails here, not in front of a citizen.
func TestServiceCardComplete(t *testing.T) {
	t.Parallel()
	langs := map[string]map[string]bool{"it": messagesOf(t, "it"), "en": messagesOf(t, "en")}
	for _, ev := range app.LifeEvents {
		for lang, keys := range langs {
			if !keys["lifeevent."+ev] {
				t.Errorf("life event %s: no message lifeevent.%s in %s", ev, ev, lang)
			}
		}
	}
	for _, m := range app.Builtin() {
		for _, p := range cardProblems(m.Info(), langs) {
			t.Errorf("module %s: service card: %s", m.Info().ID, p)
		}
	}
	// The check itself catches a card with a missing section.
	bad := services.Info{ID: "prova", Description: "certificati.description", Audience: "certificati.audience",
		HowTo: "certificati.card.howto", Outcome: "certificati.card.outcome", Times: "certificati.card.times",
		Cost: "", Conditions: "certificati.card.conditions", Office: "certificati.card.office",
		Topics: []string{"topic.anagrafe"}, LifeEvents: []string{"sbarco-su-marte"}, Updated: "2026-12-02"}
	got := strings.Join(cardProblems(bad, langs), "; ")
	for _, want := range []string{"Cost (Quanto costa) is empty", "life event sbarco-su-marte"} {
		if !strings.Contains(got, want) {
			t.Errorf("a card without cost and with an unknown life event: problems %q, want %q", got, want)
		}
	}
}

// The service page shows every section of the card, with the last update as
// dd/mm/yyyy, and the catalogue groups services by life event; on both databases.
func TestServiceCardPage(t *testing.T) {
	apptest.Each(t, apptest.Options{}, func(t *testing.T, s *apptest.Server) {
		c := s.Client()
		r := c.Get("/servizi/certificati")
		if r.Status != 200 {
			t.Fatalf("service page: status %d", r.Status)
		}
		for _, want := range []string{"Descrizione", "A chi è rivolto", "Come fare", "Cosa serve", "Cosa si ottiene",
			"Tempi e scadenze", "Quanto costa", "Accedi al servizio", "Condizioni di servizio", "Contatti",
			"Ufficio responsabile", "Argomenti", "Ultimo aggiornamento", "02/12/2026", "marca da bollo",
			`aria-label="Percorso di navigazione"`, "Quanto sono chiare le informazioni su questa pagina?"} {
			if !strings.Contains(r.Body, want) {
				t.Errorf("service page: no %q", want)
			}
		}
		if strings.Contains(r.Body, "[certificati.") || strings.Contains(r.Body, "[service.") {
			t.Errorf("service page: a missing message is shown")
		}
		cat := c.Get("/servizi")
		for _, want := range []string{"Servizi per eventi della vita", `id="evento-cambio-residenza"`, "Cambio di residenza"} {
			if !strings.Contains(cat.Body, want) {
				t.Errorf("catalogue: no %q", want)
			}
		}
	})
}
