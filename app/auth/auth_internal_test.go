package auth

import (
	"strings"
	"testing"
)

func TestIdentityMapping(t *testing.T) {
	t.Parallel()
	const cf = "RSSMRA80A01H501U"
	tests := []struct {
		name     string
		pc       ProviderConfig
		claims   map[string]any
		wantKind string
		wantID   string
		wantErr  bool
	}{
		{"SPID/CIE claim", ProviderConfig{}, map[string]any{ClaimFiscalNumber: "TINIT-" + cf, "given_name": "Mario", "family_name": "Rossi"}, "citizen", cf, false},
		{"older SPID claim, lowercase", ProviderConfig{}, map[string]any{ClaimSPIDFiscalOld: "tinit-rssmra80a01h501u"}, "citizen", cf, false},
		{"configured claim", ProviderConfig{FiscalClaim: "codice_fiscale"}, map[string]any{"codice_fiscale": cf}, "citizen", cf, false},
		{"no tax code", ProviderConfig{}, map[string]any{"sub": "abc", "email": "x@example.org"}, "", "", true},
		{"bad check character", ProviderConfig{}, map[string]any{ClaimFiscalNumber: "TINIT-RSSMRA80A01H501X"}, "", "", true},
		{"sub alone never links", ProviderConfig{}, map[string]any{"sub": cf}, "", "", true},
		{"staff from a trusted provider", ProviderConfig{TrustRoles: true}, map[string]any{ClaimRoles: []any{"urp_operator"}, ClaimPreferredUser: "p.conti"}, "staff", "p.conti", false},
		{"roles from an untrusted provider are ignored", ProviderConfig{}, map[string]any{ClaimRoles: []any{"admin"}, ClaimPreferredUser: "x", ClaimFiscalNumber: "TINIT-" + cf}, "citizen", cf, false},
		{"staff without username", ProviderConfig{TrustRoles: true}, map[string]any{ClaimRoles: []any{"admin"}}, "", "", true},
	}
	for _, tt := range tests {
		v, _, err := identity(tt.pc, tt.claims)
		if tt.wantErr {
			if err == nil {
				t.Errorf("%s: want refusal, got %+v", tt.name, v)
			}
			continue
		}
		if err != nil || v.Kind != tt.wantKind || v.ID != tt.wantID {
			t.Errorf("%s: got %+v, %v", tt.name, v, err)
		}
	}
}

func TestSafeNext(t *testing.T) {
	t.Parallel()
	ok := []string{"/area-personale", "/servizi/certificati/nuovo?tipo=residenza"}
	bad := []string{"https://evil.example/", "//evil.example/x", "/\\evil.example", "javascript:alert(1)", "/auth/callback?x=1", "area",
		"/\t/evil.example", "/%2F%2Fevil.example", "/%5Cevil.example", "/auth", "/\x00x"}
	for _, n := range ok {
		if safeNext(n) != n {
			t.Errorf("%q refused", n)
		}
	}
	for _, n := range bad {
		if safeNext(n) != "" {
			t.Errorf("%q accepted", n)
		}
	}
}

func TestEndSessionURL(t *testing.T) {
	t.Parallel()
	after := "https://sportello.comune.example/auth/uscita"
	for endpoint, want := range map[string]string{
		"https://idp.example/logout": "https://idp.example/logout?client_id=sportello&post_logout_redirect_uri=" +
			"https%3A%2F%2Fsportello.comune.example%2Fauth%2Fuscita",
		// An endpoint that already has a query keeps it (the old "?" + query broke it).
		"https://idp.example/oidc/logout?tenant=valdoria&lang=it": "https://idp.example/oidc/logout?client_id=sportello&lang=it&" +
			"post_logout_redirect_uri=https%3A%2F%2Fsportello.comune.example%2Fauth%2Fuscita&tenant=valdoria",
		// A parameter the endpoint already carries is replaced, not doubled.
		"https://idp.example/logout?client_id=altro": "https://idp.example/logout?client_id=sportello&post_logout_redirect_uri=" +
			"https%3A%2F%2Fsportello.comune.example%2Fauth%2Fuscita",
	} {
		got, err := endSessionURL(endpoint, "sportello", after)
		if err != nil || got != want {
			t.Errorf("endSessionURL(%q) = %q, %v; want %q", endpoint, got, err, want)
		}
		if strings.Contains(got, "id_token_hint") {
			t.Errorf("the ID token travels in the logout URL: %s", got)
		}
	}
	if _, err := endSessionURL("/relative", "sportello", after); err == nil {
		t.Error("a relative end_session_endpoint was accepted")
	}
}
