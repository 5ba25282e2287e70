package roles_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/comuni-italiani/sportello/app/roles"
)

func TestAssemble(t *testing.T) {
	t.Parallel()
	officer := roles.Def{ID: "anagrafe_officer", Title: "certificati.role.officer", Description: "certificati.role.officer_desc"}
	l, err := roles.Assemble(roles.Platform(), []roles.Def{officer}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := l.IDs(); !slices.Equal(got, []string{roles.URP, roles.Payments, "anagrafe_officer", roles.Admin}) {
		t.Fatalf("order: %v (want the platform's, the modules', admin last)", got)
	}
	if !l.Has("anagrafe_officer") || l.Has("boss") || l.Title("anagrafe_officer") != "certificati.role.officer" || l.Title("boss") != "" {
		t.Fatal("lookups")
	}
	for name, bad := range map[string][]roles.Def{
		"declared twice":  {officer, officer},
		"platform clash":  {{ID: roles.Admin, Title: "x", Description: "x"}},
		"space in id":     {{ID: "two words", Title: "x", Description: "x"}},
		"upper case":      {{ID: "Officer", Title: "x", Description: "x"}},
		"no title":        {{ID: "clerk", Description: "x"}},
		"no description":  {{ID: "clerk", Title: "x"}},
		"empty id":        {{Title: "x", Description: "x"}},
		"separator in id": {{ID: "a\tb", Title: "x", Description: "x"}},
	} {
		if _, err := roles.Assemble(roles.Platform(), bad); err == nil || !strings.HasPrefix(err.Error(), "roles: ") {
			t.Errorf("%s: accepted (%v)", name, err)
		}
	}
}
