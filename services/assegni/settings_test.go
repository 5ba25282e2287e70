package assegni_test

import (
	"context"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/comuni-italiani/sportello/app/apptest"
	"github.com/comuni-italiani/sportello/app/enti"
	"github.com/comuni-italiani/sportello/app/notify"
	"github.com/comuni-italiani/sportello/app/web"
	"github.com/comuni-italiani/sportello/config"
	"github.com/comuni-italiani/sportello/services"
	"github.com/comuni-italiani/sportello/services/assegni"
)

func yamlNode(t *testing.T, text string) yaml.Node {
	t.Helper()
	var n yaml.Node
	if err := yaml.Unmarshal([]byte(text), &n); err != nil {
		t.Fatal(err)
	}
	return *n.Content[0]
}

// TestReminderDaysPerEnte: two comuni of one installation, the same family in both
// registers, the same draft (Sofia's maternity allowance, five days left to apply)
// started through HTTP on each comune's host. Valdoria reminds 3 days before the last
// day (enti[].modules.assegni), Borgomonte keeps the installation's 15: one pass of
// the job mails Borgomonte's applicant only. An ente setting the installation-wide
// schemes is refused and falls back to the installation's settings.
func TestReminderDaysPerEnte(t *testing.T) {
	t.Parallel()
	apptest.Each(t, apptest.Options{
		NewModules: func() []services.Module { return []services.Module{register{}, assegni.New()} },
		Configure: func(c *config.Config) {
			c.Comune.Hosts = []string{"127.0.0.1", "valdoria.localhost"}
			c.Enti = []config.Comune{{ID: "borgomonte", Name: "Comune di Borgomonte", Hosts: []string{"borgomonte.localhost"},
				Email: "urp@comune.borgomonte.example", MailFrom: "Comune di Borgomonte <noreply@comune.borgomonte.example>"}}
			c.Modules.Settings = map[string]yaml.Node{"assegni": yamlNode(t, "reminder_days: 15\n")}
			c.Comune.Modules = map[string]yaml.Node{"assegni": yamlNode(t, "reminder_days: 3\n")}
		}}, func(t *testing.T, s *apptest.Server) {
		var m *assegni.Module
		for _, mod := range s.App.Modules() {
			if x, ok := mod.(*assegni.Module); ok {
				m = x
			}
		}
		bg := context.Background()
		var p people
		for _, id := range []string{"valdoria", "borgomonte"} {
			e, ok := s.App.Enti().Get(bg, id)
			if !ok {
				t.Fatalf("no ente %s", id)
			}
			p = seedIn(t, s, enti.WithEnte(bg, e))
		}
		for _, host := range []string{"valdoria.localhost", "borgomonte.localhost"} {
			c := s.ClientFor(host)
			s.LoginWithEmail(c, web.Viewer{Kind: "citizen", ID: p.Anna, DisplayName: "Anna Bianchi", FiscalCode: p.Anna}, "anna.bianchi@example.it")
			startDraft(t, c, p.Sofia)
		}
		if err := m.RunReminders(bg, time.Now().Add(2*time.Hour)); err != nil {
			t.Fatal(err)
		}
		var got []notify.Record
		s.All().Where("kind = ?", "assegni.reminder").Find(&got)
		if len(got) != 1 || got[0].EnteID != "borgomonte" {
			t.Fatalf("reminders: want one, in borgomonte: %+v", got)
		}

		// Schemes are installation-wide: an ente's own list is refused (logged) and
		// the installation's reminder_days apply to it.
		reg, ok := s.App.Enti().Get(bg, "valdoria")
		if !ok {
			t.Fatal("no valdoria")
		}
		val := *reg
		val.ModuleSettings = nil
		for k, v := range map[string]string{"reminder_days": "3", "schemes_file": "/srv/sportello/altri-assegni.yaml"} {
			if err := val.SetModuleSetting("assegni", k, v); err != nil {
				t.Fatal(err)
			}
		}
		if n, err := m.RemindDrafts(enti.WithEnte(bg, &val), time.Now().Add(3*time.Hour)); err != nil || n != 1 {
			t.Fatalf("valdoria with refused settings: %d reminders, %v; want 1 (installation's 15 days)", n, err)
		}
	})
}
