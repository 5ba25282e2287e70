package ztl_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/comuni-italiani/sportello/app/apptest"
	"github.com/comuni-italiani/sportello/app/enti"
	"github.com/comuni-italiani/sportello/app/web"
	"github.com/comuni-italiani/sportello/config"
	"github.com/comuni-italiani/sportello/services"
	"github.com/comuni-italiani/sportello/services/ztl"
)

func yamlNode(t *testing.T, text string) yaml.Node {
	t.Helper()
	var n yaml.Node
	if err := yaml.Unmarshal([]byte(text), &n); err != nil {
		t.Fatal(err)
	}
	return *n.Content[0]
}

// TestSettingsPerEnte: two comuni of one installation with different ZTL settings.
// Valdoria keeps transit photos 60 days and reminds 10 days before a permit ends
// (enti[].modules.ztl in the configuration); Borgomonte keeps the installation's 30
// and 30. The citizen's transits page on each host states its comune's period. The
// same rows in both, the same job passes: a 45-day-old photo survives in Valdoria
// only, a permit ending in 20 days is reminded in Borgomonte only.
func TestSettingsPerEnte(t *testing.T) {
	t.Parallel()
	now := time.Date(2027, 3, 1, 9, 0, 0, 0, time.UTC)
	apptest.Each(t, apptest.Options{
		NewModules: func() []services.Module {
			return []services.Module{register{}, ztl.New(ztl.WithClock(func() time.Time { return now }))}
		},
		Configure: func(c *config.Config) {
			c.Comune.Hosts = []string{"127.0.0.1", "valdoria.localhost"}
			c.Enti = []config.Comune{{ID: "borgomonte", Name: "Comune di Borgomonte", Hosts: []string{"borgomonte.localhost"},
				Email: "urp@comune.borgomonte.example", MailFrom: "Comune di Borgomonte <noreply@comune.borgomonte.example>"}}
			c.Modules.Settings = map[string]yaml.Node{"ztl": yamlNode(t, "photo_retention_days: 30\n")}
			c.Comune.Modules = map[string]yaml.Node{"ztl": yamlNode(t, "photo_retention_days: 60\nreminder_days: 10\n")}
		}}, func(t *testing.T, s *apptest.Server) {
		e := &env{Server: s, t: t}
		for _, mod := range s.App.Modules() {
			if z, ok := mod.(*ztl.Module); ok {
				e.m = z
			}
		}
		for i, id := range []string{"valdoria", "borgomonte"} {
			db := enti.Scoped(s.DB, id).WithContext(bg)
			tr := ztl.Transit{System: "varchi", RecordID: "old", Plate: "AB123CD", Gate: "G", Zone: "A", At: now.AddDate(0, 0, -45),
				Photo: jpegImg, PhotoType: "image/jpeg", CreatedAt: now}
			if err := db.Create(&tr).Error; err != nil {
				t.Fatal(err)
			}
			p := ztl.Permit{Code: "AAAA-AAAA-A00" + string(rune('1'+i)), CaseID: int64(i + 1), Category: "residenti", HolderCF: "RSSMRA80A01H501U",
				HolderName: "Mario Rossi", Email: "mario.rossi@example.it", Household: "F0001", Zones: "A",
				ValidFrom: now.AddDate(-1, 0, 0), ValidTo: ztl.DayStart(2027, 3, 21), Status: ztl.StatusActive, CreatedAt: now, UpdatedAt: now}
			if err := db.Create(&p).Error; err != nil {
				t.Fatal(err)
			}
		}
		// The citizen's transits page states each comune's retention period.
		for host, want := range map[string]string{"valdoria.localhost": "conservate per 60 giorni", "borgomonte.localhost": "conservate per 30 giorni"} {
			c := s.ClientFor(host)
			s.LoginAs(c, web.Viewer{Kind: "citizen", ID: "RSSMRA80A01H501U", FiscalCode: "RSSMRA80A01H501U", DisplayName: "Mario Rossi"})
			if r := c.Get("/servizi/ztl/transiti"); r.Status != http.StatusOK || !strings.Contains(r.Body, want) {
				t.Fatalf("%s: transits page %d, want %q", host, r.Status, want)
			}
		}
		e.job("ztl/foto-transiti", now)
		e.job("ztl/scadenze", now)
		for id, want := range map[string][2]bool{"valdoria": {true, false}, "borgomonte": {false, true}} {
			db := enti.Scoped(s.DB, id).WithContext(bg)
			var tr ztl.Transit
			if err := db.First(&tr).Error; err != nil {
				t.Fatal(err)
			}
			var p ztl.Permit
			if err := db.First(&p).Error; err != nil {
				t.Fatal(err)
			}
			if kept, reminded := tr.Photo != nil, p.RemindedAt != nil; kept != want[0] || reminded != want[1] {
				t.Fatalf("%s: photo kept %v, permit reminded %v; want %v", id, kept, reminded, want)
			}
		}
	})
}

// TestFeeReminderDaysSetting: fee_reminder_days is validated like the module's other
// days (0 means the default of 7); a period as long as the 30 days to pay, or
// negative, is refused with a message naming the setting and its range.
func TestFeeReminderDaysSetting(t *testing.T) {
	t.Parallel()
	for _, n := range []int{0, 1, 7, 29} {
		if err := (ztl.Settings{FeeReminderDays: n}).Validate(); err != nil {
			t.Errorf("fee_reminder_days %d refused: %v", n, err)
		}
	}
	for _, n := range []int{-1, 30, 365} {
		err := (ztl.Settings{FeeReminderDays: n}).Validate()
		if err == nil || !strings.Contains(err.Error(), "fee_reminder_days must be 0-29 (0: 7 days)") {
			t.Errorf("fee_reminder_days %d: %v", n, err)
		}
	}
}
