package accounts_test

import (
	"context"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/comuni-italiani/sportello/app/accounts"
	"github.com/comuni-italiani/sportello/app/store/storetest"
)

// BenchmarkVerifyTOTP measures the second factor of a login: load the account, open
// the sealed TOTP secret, check the code, record its time step.
func BenchmarkVerifyTOTP(b *testing.B) {
	for _, d := range storetest.Dialects {
		b.Run(string(d), func(b *testing.B) {
			ctx := context.Background()
			db := storetest.Open(b, d, migrations())
			clk := newClock()
			svc := accounts.New(db, accounts.Options{Now: clk.Now, Hash: fastHash, Box: testBox(b)})
			a, err := svc.RegisterCitizen(ctx, "op", mario())
			if err != nil {
				b.Fatal(err)
			}
			c, err := svc.IssueCredentials(ctx, "op", a.ID)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := svc.Activate(ctx, c.Username, c.ActivationCode, goodPassword, "10.0.0.1"); err != nil {
				b.Fatal(err)
			}
			secret, _, err := svc.BeginTOTP(ctx, a.ID)
			if err != nil {
				b.Fatal(err)
			}
			code := func() string { s, _ := totp.GenerateCode(secret, clk.Now()); return s }
			if err := svc.ConfirmTOTP(ctx, a.ID, code()); err != nil {
				b.Fatal(err)
			}
			for b.Loop() {
				clk.Advance(30 * time.Second)
				if err := svc.VerifyTOTP(ctx, a.ID, code(), "10.0.0.1"); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
