package stamp

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestJWKSRoundTrip(t *testing.T) {
	t.Parallel()
	old := deterministicKey(t, "old")
	cur := deterministicKey(t, "current")
	ring, err := NewKeyRing(cur, old)
	if err != nil {
		t.Fatal(err)
	}
	oldRing, err := NewKeyRing(old)
	if err != nil {
		t.Fatal(err)
	}
	msgOld := mustSign(t, oldRing, testPayload())
	msgCur := mustSign(t, ring, testPayload())

	data, err := ring.PublicJWKS()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(data), `"d"`) {
		t.Fatalf("published key set holds a private member: %s", data)
	}
	var set struct {
		Keys []map[string]string `json:"keys"`
	}
	if err := json.Unmarshal(data, &set); err != nil {
		t.Fatal(err)
	}
	if len(set.Keys) != 2 {
		t.Fatalf("key set has %d keys, want 2: %s", len(set.Keys), data)
	}
	for i, want := range []struct{ kid, status string }{{cur.KID(), "active"}, {old.KID(), "retired"}} {
		k := set.Keys[i]
		if k["kid"] != want.kid || k["status"] != want.status || k["kty"] != "EC" || k["crv"] != "P-256" ||
			k["use"] != "sig" || k["alg"] != "ES256" || len(k["x"]) != 43 || len(k["y"]) != 43 {
			t.Errorf("key %d = %v, want kid %s status %s and the EC P-256 members", i, k, want.kid, want.status)
		}
	}

	verifier, err := KeyRingFromJWKS(data)
	if err != nil {
		t.Fatal(err)
	}
	for _, msg := range [][]byte{msgOld, msgCur} {
		if _, err := verifier.Verify(msg); err != nil {
			t.Errorf("ring from JWKS: %v", err)
		}
	}
	if _, err := verifier.Sign(testPayload()); !errors.Is(err, ErrNoSigningKey) {
		t.Errorf("ring from JWKS signs: %v", err)
	}
}

func TestKeyRingFromJWKSRejects(t *testing.T) {
	t.Parallel()
	k := deterministicKey(t, "current")
	x, y := k.xy()
	key := func(members string) string { return `{"keys":[` + members + `]}` }
	ec := func(kid, x, y string) string {
		return `{"kty":"EC","crv":"P-256","kid":"` + kid + `","x":"` + x + `","y":"` + y + `"}`
	}
	other := deterministicKey(t, "other")
	ox, oy := other.xy()

	// Skipped keys (another kind or use) are fine next to a good one.
	mixed := key(`{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo","kid":"ed"},` +
		`{"kty":"EC","crv":"P-256","use":"enc","kid":"x","x":"` + ox + `","y":"` + oy + `"},` + ec(k.KID(), x, y))
	r, err := KeyRingFromJWKS([]byte(mixed))
	if err != nil || len(r.KIDs()) != 1 {
		t.Fatalf("KeyRingFromJWKS(mixed) = %v, %v; want one key", r, err)
	}

	bad := map[string]string{
		"not JSON":           "{",
		"no keys":            `{"keys":[]}`,
		"only other kinds":   key(`{"kty":"RSA","kid":"r","n":"AQAB","e":"AQAB"}`),
		"kid not thumbprint": key(ec("AAAAAAAAAAAA", x, y)),
		"another key's kid":  key(ec(other.KID(), x, y)),
		"point off curve":    key(ec(k.KID(), x, ox)),
		"short coordinate":   key(ec(k.KID(), x[:40], y)),
		"padded coordinate":  key(ec(k.KID(), x+"=", y)),
	}
	for name, data := range bad {
		if _, err := KeyRingFromJWKS([]byte(data)); err == nil {
			t.Errorf("%s: KeyRingFromJWKS accepted %s", name, data)
		}
	}
}
