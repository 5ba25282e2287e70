package app_test

import (
	"html"
	"strings"
	"testing"

	"github.com/comuni-italiani/sportello/app/apptest"
	"github.com/comuni-italiani/sportello/app/store"
	"github.com/comuni-italiani/sportello/config"
)

// accessPages are the citizen pages whose words say how to log in: the service cards
// of the services that need a login ("Come fare", "Cosa serve") and the FAQ.
var accessPages = []string{"/servizi/appuntamenti", "/servizi/ztl", "/servizi/assegni", "/servizi/certificati", "/domande-frequenti"}

// brokers configures a SPID and/or a CIE broker. Their issuer is never contacted:
// the pages under test only name them.
func brokers(spid, cie bool) func(*config.Config) {
	return func(c *config.Config) {
		if spid {
			c.Auth.Providers = append(c.Auth.Providers, config.OIDCProvider{ID: "spid", Label: "SPID", Kind: "spid",
				Issuer: "http://127.0.0.1:9/spid", ClientID: "portale"})
		}
		if cie {
			c.Auth.Providers = append(c.Auth.Providers, config.OIDCProvider{ID: "cie", Label: "CIE", Kind: "cie",
				Issuer: "http://127.0.0.1:9/cie", ClientID: "portale"})
		}
	}
}

// TestAccessWordsFollowProviders: the service cards say how to log in as the
// configuration allows, in Italian and English. With only the comune's credentials
// (make run's demo) no page promises SPID or CIE; with a SPID and a CIE broker both
// are named; with one of them, only that one.
func TestAccessWordsFollowProviders(t *testing.T) {
	t.Parallel()
	// The appointments' card names the CIE as a service; only a promise to log in
	// with it counts.
	promises := []string{"SPID", "CIE o le credenziali", "CIE) o le credenziali", "CIE or the credentials", "CIE) or the credentials"}
	t.Run("credentials only", func(t *testing.T) {
		t.Parallel()
		apptest.Each(t, apptest.Options{}, func(t *testing.T, s *apptest.Server) {
			c := s.Client()
			for _, lang := range []string{"it", "en"} {
				for _, p := range accessPages {
					r := c.GetLang(p, lang)
					body := html.UnescapeString(r.Body)
					if r.Status != 200 {
						t.Fatalf("%s (%s): %d", p, lang, r.Status)
					}
					for _, w := range promises {
						if strings.Contains(body, w) {
							t.Errorf("%s (%s) promises %q with no such provider configured", p, lang, w)
						}
					}
				}
			}
			for p, want := range map[string][]string{
				"/servizi/appuntamenti": {"Accedi con le credenziali rilasciate dall'URP, scegli il servizio", "Accedere con le credenziali rilasciate dall'URP."},
				"/servizi/ztl":          {"Accedi con le credenziali rilasciate dall'URP, compila la domanda"},
				"/servizi/assegni":      {"Accedi con le credenziali rilasciate dall'URP, verifica i requisiti"},
			} {
				body := html.UnescapeString(c.Get(p).Body)
				for _, w := range want {
					if !strings.Contains(body, w) {
						t.Errorf("%s lacks %q", p, w)
					}
				}
			}
			en := html.UnescapeString(c.GetLang("/servizi/ztl", "en").Body)
			for _, w := range []string{"Log in with the credentials issued by the URP, fill in the application", "Log in with the credentials issued by the URP."} {
				if !strings.Contains(en, w) {
					t.Errorf("/servizi/ztl (en) lacks %q", w)
				}
			}
		})
	})
	for _, tc := range []struct {
		name      string
		spid, cie bool
		it, en    string
	}{
		{"SPID and CIE", true, true, "Accedi con SPID, CIE o le credenziali rilasciate dall'URP, scegli il servizio",
			"Log in with SPID, CIE or the credentials issued by the URP, choose the service"},
		{"SPID only", true, false, "Accedi con SPID o le credenziali rilasciate dall'URP, scegli il servizio",
			"Log in with SPID or the credentials issued by the URP, choose the service"},
		{"CIE only", false, true, "Accedi con la Carta d'identità elettronica (CIE) o le credenziali rilasciate dall'URP, scegli il servizio",
			"Log in with the electronic identity card (CIE) or the credentials issued by the URP, choose the service"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := apptest.New(t, store.SQLite, apptest.Options{Configure: brokers(tc.spid, tc.cie)})
			c := s.Client()
			it := html.UnescapeString(c.Get("/servizi/appuntamenti").Body)
			en := html.UnescapeString(c.GetLang("/servizi/appuntamenti", "en").Body)
			if !strings.Contains(it, tc.it) || !strings.Contains(en, tc.en) {
				t.Fatalf("the appointments' card does not say %q / %q", tc.it, tc.en)
			}
			if tc.spid != strings.Contains(it, "SPID") {
				t.Errorf("the appointments' card names SPID: %v, configured: %v", !tc.spid, tc.spid)
			}
			for _, p := range []string{"/servizi/ztl", "/servizi/assegni"} {
				body := html.UnescapeString(c.Get(p).Body)
				if !strings.Contains(body, "Accedi "+strings.TrimPrefix(strings.Split(tc.it, ", scegli")[0], "Accedi ")) {
					t.Errorf("%s does not say %q", p, strings.Split(tc.it, ", scegli")[0])
				}
				if want := "Accedere " + strings.TrimPrefix(strings.Split(tc.it, ", scegli")[0], "Accedi ") + "."; !strings.Contains(body, want) {
					t.Errorf("%s lacks %q", p, want)
				}
			}
		})
	}
}
