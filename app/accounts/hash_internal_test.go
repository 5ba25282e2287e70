package accounts

import (
	"strings"
	"testing"
)

// BenchmarkHashDefault measures one password hash with DefaultHashParams (the cost of
// a login, an activation check and, for unknown usernames, the dummy check).
func BenchmarkHashDefault(b *testing.B) {
	s := New(nil, Options{})
	for b.Loop() {
		if _, err := s.hash("Cavallo Batteria Graffetta 7"); err != nil {
			b.Fatal(err)
		}
	}
}

func TestPHCRoundTrip(t *testing.T) {
	s := New(nil, Options{Hash: HashParams{Memory: 1024, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}})
	h, err := s.hash("segreto lungo abbastanza")
	if err != nil || !strings.HasPrefix(h, "$argon2id$v=19$m=1024,t=1,p=1$") {
		t.Fatalf("hash: %q %v", h, err)
	}
	if ok, stale := s.verify(h, "segreto lungo abbastanza"); !ok || stale {
		t.Fatalf("verify: ok=%v stale=%v", ok, stale)
	}
	if ok, _ := s.verify(h, "segreto lungo abbastanzA"); ok {
		t.Fatal("wrong secret verified")
	}
	if ok, _ := s.verify(h, "segreto lungo abbastanza"+strings.Repeat("x", MaxPasswordBytes)); ok {
		t.Fatal("over-long secret verified")
	}
	for _, bad := range []string{"", "$argon2i$v=19$m=1024,t=1,p=1$AAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAA", "$argon2id$v=19$m=0,t=1,p=1$AAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAA"} {
		if ok, _ := s.verify(bad, ""); ok {
			t.Fatalf("malformed hash %q verified", bad)
		}
	}
	if s2 := New(nil, Options{}); !func() bool { _, stale := s2.verify(h, "x"); return stale }() {
		t.Fatal("hash with other parameters not reported stale")
	}
}
