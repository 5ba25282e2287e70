package app_test

import (
	"context"
	"errors"
	"net/http"
	"testing"

	"github.com/comuni-italiani/sportello/app"
	"github.com/comuni-italiani/sportello/app/accounts"
	"github.com/comuni-italiani/sportello/app/apptest"
	"github.com/comuni-italiani/sportello/app/audit"
	"github.com/comuni-italiani/sportello/app/enti"
	"github.com/comuni-italiani/sportello/app/roles"
	"github.com/comuni-italiani/sportello/app/web"
	"github.com/comuni-italiani/sportello/services"
	"github.com/comuni-italiani/sportello/services/urp"
)

// TestStaffGrants: a union's officer works in a member comune only with a grant there,
// with the granted roles only; a revocation shuts the back office again (403 and a
// security event in that comune's audit); grants are audited; staff of a comune
// cannot be given roles in another comune.
func TestStaffGrants(t *testing.T) {
	t.Parallel()
	apptest.Each(t, apptest.Options{Modules: []services.Module{urp.New()}, Configure: twoComuni}, func(t *testing.T, s *apptest.Server) {
		bg := context.Background()
		reg := s.App.Enti()
		union, bor := mustEnte(t, reg, "bassavalle"), mustEnte(t, reg, "borgomonte")
		ctxB := enti.WithEnte(bg, bor)
		for _, st := range []struct {
			ente *enti.Ente
			user string
		}{{union, "u.sociale"}, {mustEnte(t, reg, "valdoria"), "v.urp"}} {
			if _, _, err := s.App.Accounts().CreateStaff(enti.WithEnte(bg, st.ente), "system:test", accounts.StaffInput{
				Username: st.user, GivenName: "Maria", FamilyName: "Neri", Email: st.user + "@example.org",
				Roles: []string{roles.URP}}); err != nil {
				t.Fatal(err)
			}
		}
		grants := s.App.StaffGrants()
		officer := s.ClientFor("borgomonte.localhost")
		s.LoginAs(officer, web.Viewer{Kind: "staff", ID: "u.sociale", Roles: []string{roles.URP}})
		denials := func() int {
			t.Helper()
			evs, _, err := audit.List(ctxB, s.DB, audit.Filter{ActorID: "u.sociale", Action: "security.access_denied"})
			if err != nil {
				t.Fatal(err)
			}
			return len(evs)
		}

		// No grant: the union's officer is not Borgomonte's staff.
		if r := officer.Get("/backoffice/urp/"); r.Status != http.StatusForbidden {
			t.Fatalf("no grant: %d", r.Status)
		}
		if n := denials(); n != 1 {
			t.Fatalf("refusals in Borgomonte's audit: %d", n)
		}
		// A grant in the union itself or in Valdoria does not open Borgomonte.
		if ok, err := grants.Change(bg, "system:cli", false, "u.sociale", "valdoria", roles.URP); err != nil || !ok {
			t.Fatalf("grant in Valdoria: %v %v", ok, err)
		}
		if r := officer.Get("/backoffice"); r.Status != http.StatusForbidden {
			t.Fatalf("grant elsewhere: %d", r.Status)
		}

		// Grant: the granted role works, the others do not.
		if ok, err := grants.Change(bg, "system:cli", false, "u.sociale", "borgomonte", roles.URP); err != nil || !ok {
			t.Fatalf("grant: %v %v", ok, err)
		}
		if ok, err := grants.Change(bg, "system:cli", false, "u.sociale", "borgomonte", roles.URP); err != nil || ok {
			t.Fatalf("the same grant twice: %v %v", ok, err)
		}
		if r := officer.Get("/backoffice/urp/"); r.Status != http.StatusOK {
			t.Fatalf("with the grant: %d", r.Status)
		}
		// The login said "admin": on Borgomonte's host only the grant counts.
		admin := s.ClientFor("borgomonte.localhost")
		s.LoginAs(admin, web.Viewer{Kind: "staff", ID: "u.sociale", Roles: []string{roles.Admin}})
		if r := admin.Get("/backoffice/audit"); r.Status != http.StatusForbidden {
			t.Fatalf("a role not granted: %d", r.Status)
		}
		if r := admin.Get("/backoffice/urp/"); r.Status != http.StatusOK {
			t.Fatalf("granted role with another login: %d", r.Status)
		}

		// Revocation: 403 again, and a new refusal in the audit.
		before := denials()
		if ok, err := grants.Change(bg, "system:cli", true, "u.sociale", "borgomonte", roles.URP); err != nil || !ok {
			t.Fatalf("revoke: %v %v", ok, err)
		}
		if r := officer.Get("/backoffice/urp/"); r.Status != http.StatusForbidden {
			t.Fatalf("after the revocation: %d", r.Status)
		}
		if n := denials(); n != before+1 {
			t.Fatalf("refusals after the revocation: %d, before %d", n, before)
		}
		evs, _, err := audit.List(ctxB, s.DB, audit.Filter{Action: "staff.", ActorID: "system:cli"})
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) != 2 || evs[0].Action != "staff.revoke" || evs[1].Action != "staff.grant" || evs[0].ObjectID != "u.sociale" {
			t.Fatalf("grant and revocation in Borgomonte's audit: %+v", evs)
		}

		// Staff of a comune get no roles in another; unknown names are refused.
		for _, c := range []struct {
			user, ente, role string
			want             error
		}{
			{"v.urp", "borgomonte", roles.URP, enti.ErrGrantPlace},
			{"u.sociale", "borgomonte", "boss", app.ErrUnknownRole},
			{"nobody", "borgomonte", roles.URP, app.ErrNoStaffAccount},
			{"u.sociale", "atlantide", roles.URP, enti.ErrNotFound},
		} {
			if _, err := grants.Change(bg, "system:cli", false, c.user, c.ente, c.role); !errors.Is(err, c.want) {
				t.Fatalf("grant %+v: %v", c, err)
			}
		}
		var n int64
		if err := s.DB.Table("staff_grants").Count(&n).Error; err != nil || n != 1 {
			t.Fatalf("grants left: %d %v (only Valdoria's)", n, err)
		}
		// Valdoria's own staff still work at home and nowhere else.
		home := s.ClientFor("valdoria.localhost")
		s.LoginAs(home, web.Viewer{Kind: "staff", ID: "v.urp", Roles: []string{roles.URP}})
		if r := home.Get("/backoffice/urp/"); r.Status != http.StatusOK {
			t.Fatalf("Valdoria's staff at home: %d", r.Status)
		}
		away := s.ClientFor("borgomonte.localhost")
		s.LoginAs(away, web.Viewer{Kind: "staff", ID: "v.urp", Roles: []string{roles.URP}})
		if r := away.Get("/backoffice/urp/"); r.Status != http.StatusForbidden {
			t.Fatalf("Valdoria's staff in Borgomonte: %d", r.Status)
		}
	})
}
