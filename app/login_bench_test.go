package app_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/comuni-italiani/sportello/app/apptest"
	"github.com/comuni-italiani/sportello/app/store"
	"github.com/comuni-italiani/sportello/app/store/storetest"
)

// BenchmarkLoginRoundTrip measures one complete citizen login with production hashing
// (argon2id as configured): the portal's login start, the provider's login form, the
// password check, the authorization code, the callback with token exchange, ID token
// verification and userinfo, and the personal area page. Sequential, one browser per
// login. Logins per second = 1e9 / ns/op.
func BenchmarkLoginRoundTrip(b *testing.B) {
	for _, d := range storetest.Dialects {
		b.Run(string(d), func(b *testing.B) {
			s := apptest.New(b, d, apptest.Options{RealCrypto: true})
			cred := issueCitizen(b, s, citizenCF(b))
			activate(b, s.Client(), cred, testPassword)
			b.ResetTimer()
			for b.Loop() {
				c := s.Client()
				form := c.Follow(c.Get("/auth/login/comune?next=/area-personale"))
				r := c.Follow(c.Submit(form, url.Values{"username": {cred.Username}, "password": {testPassword}}))
				if r.Status != 200 || !strings.Contains(r.Body, "Lucia Verdi") {
					b.Fatalf("login: %d %s", r.Status, r.URL)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "logins/s")
		})
	}
}

// BenchmarkTokenEndpoint measures the provider's token endpoint alone: refresh-token
// grants with rotation (the old token revoked, new access and refresh tokens stored),
// for a public client (no secret to hash) and for a confidential one (bcrypt cost 12
// on the client secret, which dominates).
func BenchmarkTokenEndpoint(b *testing.B) {
	for _, public := range []bool{true, false} {
		name := "confidential"
		if public {
			name = "public"
		}
		b.Run(name, func(b *testing.B) {
			s := apptest.New(b, store.Postgres, apptest.Options{RealCrypto: true})
			cred := issueCitizen(b, s, citizenCF(b))
			c := s.Client()
			activate(b, c, cred, testPassword)
			id, secret, err := s.App.IdP().AddClient(context.Background(), "Bench", []string{s.BaseURL + "/cb"}, public)
			if err != nil {
				b.Fatal(err)
			}
			conf := &oauth2.Config{ClientID: id, ClientSecret: secret, RedirectURL: s.BaseURL + "/cb",
				Endpoint: oauth2.Endpoint{AuthURL: s.BaseURL + "/idp/authorize", TokenURL: s.BaseURL + "/idp/token",
					AuthStyle: oauth2.AuthStyleInParams},
				Scopes: []string{"openid", "offline_access"}}
			verifier := oauth2.GenerateVerifier()
			start := c.Follow(c.GetURL(conf.AuthCodeURL("st4te-bench-0123456789", oauth2.S256ChallengeOption(verifier),
				oauth2.SetAuthURLParam("nonce", "n0nce-bench-0123456789"))))
			r := c.Submit(start, url.Values{"username": {cred.Username}, "password": {testPassword}})
			loc, _ := url.Parse(r.Header.Get("Location"))
			code := loc.Query().Get("code")
			ctx := context.WithValue(context.Background(), oauth2.HTTPClient, http.DefaultClient)
			tok, err := conf.Exchange(ctx, code, oauth2.VerifierOption(verifier))
			if err != nil || tok.RefreshToken == "" {
				b.Fatalf("exchange: %v (token %+v)", err, tok)
			}
			b.ResetTimer()
			for b.Loop() {
				tok, err = conf.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
