package stamp_test

import (
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/comuni-italiani/sportello/app/stamp"
)

// The certificate module stamps a certificate; the verification page, or
// "sportello verify" with the published keys, checks the scanned URL.
func Example() {
	dir, err := os.MkdirTemp("", "stamp-keys")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	ring, _, err := stamp.LoadOrCreateDir(filepath.Join(dir, "keys"))
	if err != nil {
		log.Fatal(err)
	}

	code, err := stamp.NewCode()
	if err != nil {
		log.Fatal(err)
	}
	rome := time.FixedZone("CET", 3600) // time.LoadLocation("Europe/Rome") in the portal
	issued := time.Date(2026, time.March, 5, 10, 42, 0, 0, rome)
	msg, err := ring.Sign(stamp.Payload{
		CertID:    code,
		Type:      "stato_famiglia",
		Holder:    "RSSMRA85T10A562S",
		IssuedAt:  issued,
		ExpiresAt: issued.AddDate(0, 6, 0),
		DataHash:  stamp.DataHash(map[string]any{"famiglia": []string{"RSSMRA85T10A562S"}}),
	})
	if err != nil {
		log.Fatal(err)
	}
	url := stamp.VerificationURL("https://sportello.comune.esempio.it", code, msg)

	jwks, err := ring.PublicJWKS()
	if err != nil {
		log.Fatal(err)
	}
	offline, err := stamp.KeyRingFromJWKS(jwks)
	if err != nil {
		log.Fatal(err)
	}
	p, err := offline.VerifyURL(url)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(p.CertID == code, p.Type, p.Holder, p.IssuedAt.Format(time.DateOnly), p.ExpiresAt.Format(time.DateOnly))
	// Output: true stato_famiglia RSSMRA85T10A562S 2026-03-05 2026-09-05
}
