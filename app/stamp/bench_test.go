package stamp

import "testing"

func BenchmarkSign(b *testing.B) {
	ring, err := NewKeyRing(deterministicKey(b, "bench"))
	if err != nil {
		b.Fatal(err)
	}
	p := testPayload()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ring.Sign(p); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerify(b *testing.B) {
	ring, err := NewKeyRing(deterministicKey(b, "bench"))
	if err != nil {
		b.Fatal(err)
	}
	msg := mustSign(b, ring, testPayload())
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ring.Verify(msg); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifyURL is what the verification page and "sportello verify" pay per scan.
func BenchmarkVerifyURL(b *testing.B) {
	ring, err := NewKeyRing(deterministicKey(b, "bench"))
	if err != nil {
		b.Fatal(err)
	}
	p := testPayload()
	u := VerificationURL(testBaseURL, p.CertID, mustSign(b, ring, p))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ring.VerifyURL(u); err != nil {
			b.Fatal(err)
		}
	}
}
