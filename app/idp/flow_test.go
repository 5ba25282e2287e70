package idp_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/comuni-italiani/sportello/app/idp"
)

func TestDiscoveryAndJWKS(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		b := e.browser()
		r := b.get("/idp/.well-known/openid-configuration")
		expect(t, r, http.StatusOK)
		var d map[string]any
		if err := json.Unmarshal([]byte(r.Body), &d); err != nil {
			t.Fatal(err)
		}
		iss := e.base + "/idp"
		want := map[string]string{
			"issuer": iss, "authorization_endpoint": iss + "/authorize", "token_endpoint": iss + "/token",
			"userinfo_endpoint": iss + "/userinfo", "jwks_uri": iss + "/jwks", "end_session_endpoint": iss + "/logout",
			"revocation_endpoint": iss + "/revoke",
		}
		for k, v := range want {
			if d[k] != v {
				t.Errorf("%s = %v, want %s", k, d[k], v)
			}
		}
		list := func(k string) []string {
			var out []string
			for _, v := range d[k].([]any) {
				out = append(out, v.(string))
			}
			return out
		}
		if got := list("code_challenge_methods_supported"); !slices.Equal(got, []string{"S256"}) {
			t.Errorf("code_challenge_methods_supported = %v", got)
		}
		if got := list("response_types_supported"); !slices.Equal(got, []string{"code"}) {
			t.Errorf("response_types_supported = %v", got)
		}
		for _, c := range []string{"sub", idp.ClaimFiscalNumber, "given_name", "family_name", "birthdate", "email",
			"email_verified", "roles", "preferred_username"} {
			if !slices.Contains(list("claims_supported"), c) {
				t.Errorf("claims_supported lacks %s", c)
			}
		}
		for _, s := range []string{"openid", "profile", "email", "sportello", "offline_access"} {
			if !slices.Contains(list("scopes_supported"), s) {
				t.Errorf("scopes_supported lacks %s", s)
			}
		}
		r = b.get("/idp/jwks")
		expect(t, r, http.StatusOK, `"kid"`, `"RS256"`)
		if strings.Contains(r.Body, `"d"`) || strings.Contains(r.Body, `"p"`) {
			t.Fatalf("JWKS holds private key material: %s", r.Body)
		}
	})
}

// TestStaffLoginFlow is the whole journey of a staff member over real HTTP, with
// go-oidc and golang.org/x/oauth2 as the client, as app/auth uses them.
func TestStaffLoginFlow(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		p := e.staff("g.bianchi", "urp_operator", "anagrafe_officer")
		client := e.rp(e.clientID, e.secret)
		b := e.browser()
		f := client.start()
		code := e.login(t, b, f, p)
		tok, idt, raw := client.exchange(t, f, code)

		var claims map[string]any
		if err := idt.Claims(&claims); err != nil {
			t.Fatal(err)
		}
		if claims["preferred_username"] != "g.bianchi" || claims["given_name"] != "Giulia" || claims["family_name"] != "Bianchi" {
			t.Errorf("ID token claims: %v", claims)
		}
		roles, _ := claims["roles"].([]any)
		if len(roles) != 2 || roles[0] != "urp_operator" || roles[1] != "anagrafe_officer" {
			t.Errorf("roles = %v", claims["roles"])
		}
		if _, ok := claims[idp.ClaimFiscalNumber]; ok {
			t.Errorf("staff ID token carries a fiscal number: %v", claims)
		}
		if amr, _ := claims["amr"].([]any); len(amr) != 2 || amr[1] != "otp" {
			t.Errorf("amr = %v", claims["amr"])
		}
		if idt.Subject == "" || strings.Contains(idt.Subject, "g.bianchi") || idt.Subject == "1" {
			t.Errorf("sub %q is not opaque", idt.Subject)
		}
		// kid on the token, and the key is in the JWKS.
		hdr := jwtHeader(t, raw)
		if hdr["kid"] == "" || hdr["alg"] != "RS256" {
			t.Errorf("ID token header %v", hdr)
		}

		ui, err := client.provider.UserInfo(client.ctx, oauth2.StaticTokenSource(tok))
		if err != nil {
			t.Fatalf("userinfo: %v", err)
		}
		if ui.Subject != idt.Subject || ui.Email != "g.bianchi@comune.valdoria.example" {
			t.Errorf("userinfo sub %q email %q", ui.Subject, ui.Email)
		}
		var uc map[string]any
		_ = ui.Claims(&uc)
		if uc["preferred_username"] != "g.bianchi" || uc["roles"] == nil {
			t.Errorf("userinfo claims: %v", uc)
		}

		// Single sign-on: the same browser gets a code without logging in again, and
		// the sub is stable.
		f2 := client.start()
		code2 := f2.callback(t, e, b.get(f2.url))
		_, idt2, _ := client.exchange(t, f2, code2)
		if idt2.Subject != idt.Subject {
			t.Errorf("sub changed: %q then %q", idt.Subject, idt2.Subject)
		}
		// prompt=login asks for the password again.
		f3 := client.start(oauth2.SetAuthURLParam("prompt", "login"))
		if r := b.get(f3.url); r.Status != http.StatusSeeOther || !strings.Contains(r.Location, "/idp/accedi?req=") {
			t.Fatalf("prompt=login: %d %q", r.Status, r.Location)
		}
	})
}

func TestCitizenLoginFlow(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		p := e.citizen("RSSMRA80A01H501U", "Mario", "Rossi", time.Date(1980, 1, 1, 0, 0, 0, 0, time.UTC), "mario.rossi@example.org")
		client := e.rp(e.clientID, e.secret, oidc.ScopeOpenID, "profile", "email")
		b := e.browser()
		f := client.start()
		code := e.login(t, b, f, p)
		tok, idt, _ := client.exchange(t, f, code)
		var claims map[string]any
		_ = idt.Claims(&claims)
		if claims[idp.ClaimFiscalNumber] != "TINIT-RSSMRA80A01H501U" || claims["birthdate"] != "1980-01-01" ||
			claims["given_name"] != "Mario" || claims["email"] != "mario.rossi@example.org" {
			t.Errorf("ID token claims: %v", claims)
		}
		if _, ok := claims["roles"]; ok {
			t.Errorf("citizen has roles: %v", claims)
		}
		if _, ok := claims["preferred_username"]; ok {
			t.Errorf("citizen has preferred_username: %v", claims)
		}
		ui, err := client.provider.UserInfo(client.ctx, oauth2.StaticTokenSource(tok))
		if err != nil {
			t.Fatalf("userinfo: %v", err)
		}
		var uc map[string]any
		_ = ui.Claims(&uc)
		if uc[idp.ClaimFiscalNumber] != "TINIT-RSSMRA80A01H501U" || uc["email_verified"] != false {
			t.Errorf("userinfo: %v", uc)
		}
		if tok.RefreshToken != "" {
			t.Errorf("refresh token without offline_access")
		}
		// A blocked account's token no longer opens userinfo.
		if err := e.accounts.Block(e.ctx, "operatore", p.account.ID, "test"); err != nil {
			t.Fatal(err)
		}
		if _, err := client.provider.UserInfo(client.ctx, oauth2.StaticTokenSource(tok)); err == nil {
			t.Fatal("userinfo answered for a blocked account")
		}
	})
}

func jwtHeader(t *testing.T, raw string) map[string]string {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(strings.Split(raw, ".")[0])
	if err != nil {
		t.Fatal(err)
	}
	var h map[string]string
	_ = json.Unmarshal(b, &h)
	return h
}

func TestCodeReplayAndPKCE(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		p := e.citizen("RSSMRA80A01H501U", "Mario", "Rossi", time.Date(1980, 1, 1, 0, 0, 0, 0, time.UTC), "")
		client := e.rp(e.clientID, e.secret)
		b := e.browser()

		f := client.start()
		code := e.login(t, b, f, p)
		tok, _, _ := client.exchange(t, f, code)
		// Replay: invalid_grant, and the access token issued with the code is revoked.
		_, err := client.oauth.Exchange(client.ctx, code, oauth2.VerifierOption(f.verifier))
		if oauthErrorCode(err) != "invalid_grant" {
			t.Fatalf("replayed code: %v", err)
		}
		if _, err := client.provider.UserInfo(client.ctx, oauth2.StaticTokenSource(tok)); err == nil {
			t.Fatal("the token of a replayed code still works")
		}

		// Wrong PKCE verifier.
		f = client.start()
		code = f.callback(t, e, b.get(f.url))
		_, err = client.oauth.Exchange(client.ctx, code, oauth2.VerifierOption(oauth2.GenerateVerifier()))
		if oauthErrorCode(err) != "invalid_grant" {
			t.Fatalf("wrong verifier: %v", err)
		}
		// Without a verifier.
		f = client.start()
		code = f.callback(t, e, b.get(f.url))
		if _, err = client.oauth.Exchange(client.ctx, code); err == nil {
			t.Fatal("exchange without a verifier succeeded")
		}

		// Without a challenge (every client must use PKCE; a public one above all).
		pubID, _, err := e.idp.AddClient(e.ctx, "App", []string{e.redirect}, true)
		if err != nil {
			t.Fatal(err)
		}
		for _, id := range []string{pubID, e.clientID} {
			cfg := *client.oauth
			cfg.ClientID = id
			r := b.get(cfg.AuthCodeURL(random(), oidc.Nonce(random())))
			u, _ := url.Parse(r.Location)
			if r.Status != http.StatusSeeOther || !strings.HasPrefix(r.Location, e.redirect) || u.Query().Get("error") != "invalid_request" {
				t.Fatalf("%s without PKCE: %d %q", id, r.Status, r.Location)
			}
		}
		// plain is refused.
		r := b.get(client.oauth.AuthCodeURL(random(), oidc.Nonce(random()),
			oauth2.SetAuthURLParam("code_challenge", oauth2.GenerateVerifier()), oauth2.SetAuthURLParam("code_challenge_method", "plain")))
		if u, _ := url.Parse(r.Location); u == nil || u.Query().Get("error") != "invalid_request" {
			t.Fatalf("plain PKCE: %d %q", r.Status, r.Location)
		}

		// A public client completes the flow with PKCE and no secret.
		pub := e.rp(pubID, "")
		pub.oauth.Endpoint.AuthStyle = oauth2.AuthStyleInParams
		f = pub.start()
		code = f.callback(t, e, b.get(f.url))
		pub.exchange(t, f, code)
	})
}

func TestConcurrentCodeExchange(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		p := e.citizen("RSSMRA80A01H501U", "Mario", "Rossi", time.Date(1980, 1, 1, 0, 0, 0, 0, time.UTC), "")
		client := e.rp(e.clientID, e.secret)
		b := e.browser()
		f := client.start()
		code := e.login(t, b, f, p)
		const n = 4
		var wg sync.WaitGroup
		errs := make([]error, n)
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, errs[i] = client.oauth.Exchange(client.ctx, code, oauth2.VerifierOption(f.verifier))
			}()
		}
		wg.Wait()
		ok := 0
		for _, err := range errs {
			if err == nil {
				ok++
			}
		}
		if ok != 1 {
			t.Fatalf("%d of %d concurrent exchanges of one code succeeded: %v", ok, n, errs)
		}
	})
}

func TestBadClientOrRedirectIsAPage(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		client := e.rp(e.clientID, e.secret)
		b := e.browser()
		for name, mod := range map[string]func(*oauth2.Config){
			"unknown client":   func(c *oauth2.Config) { c.ClientID = "nobody" },
			"foreign redirect": func(c *oauth2.Config) { c.RedirectURL = "https://evil.example/cb" },
			"similar redirect": func(c *oauth2.Config) { c.RedirectURL = e.redirect + "/../x" },
		} {
			cfg := *client.oauth
			mod(&cfg)
			f := &flow{state: random(), verifier: oauth2.GenerateVerifier()}
			r := b.get(cfg.AuthCodeURL(f.state, oauth2.S256ChallengeOption(f.verifier)))
			if r.Status != http.StatusBadRequest || r.Location != "" {
				t.Fatalf("%s: %d %q", name, r.Status, r.Location)
			}
			expect(t, r, http.StatusBadRequest, "non è registrato presso il Comune")
		}
		// form_post is not offered.
		f := client.start(oauth2.SetAuthURLParam("response_mode", "form_post"))
		r := b.get(f.url)
		if u, _ := url.Parse(r.Location); r.Status != http.StatusSeeOther || u.Query().Get("error") != "unsupported_response_mode" {
			t.Fatalf("form_post: %d %q", r.Status, r.Location)
		}
		// prompt=none without a login: back to the client with login_required.
		f = client.start(oauth2.SetAuthURLParam("prompt", "none"))
		r = b.get(f.url)
		if u, _ := url.Parse(r.Location); r.Status != http.StatusSeeOther || u.Query().Get("error") != "login_required" {
			t.Fatalf("prompt=none: %d %q", r.Status, r.Location)
		}
		// A forged or expired pending id.
		expect(t, b.get("/idp/accedi?req=forged"), http.StatusBadRequest, "La richiesta di accesso è scaduta")
	})
}

func TestRefreshRotation(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		p := e.staff("g.bianchi", "urp_operator")
		client := e.rp(e.clientID, e.secret, oidc.ScopeOpenID, "profile", "sportello", oidc.ScopeOfflineAccess)
		b := e.browser()
		f := client.start()
		tok, _, _ := client.exchange(t, f, e.login(t, b, f, p))
		if tok.RefreshToken == "" {
			t.Fatal("no refresh token with offline_access")
		}
		refresh := func(rt string) (*oauth2.Token, error) {
			return client.oauth.TokenSource(client.ctx, &oauth2.Token{RefreshToken: rt, Expiry: time.Unix(1, 0)}).Token()
		}
		tok2, err := refresh(tok.RefreshToken)
		if err != nil {
			t.Fatalf("refresh: %v", err)
		}
		if tok2.RefreshToken == "" || tok2.RefreshToken == tok.RefreshToken {
			t.Fatal("refresh token not rotated")
		}
		raw, _ := tok2.Extra("id_token").(string)
		if _, err := client.verifier.Verify(client.ctx, raw); err != nil {
			t.Fatalf("refreshed ID token: %v", err)
		}
		// The rotated token is refused, and its re-use revokes the family.
		if _, err := refresh(tok.RefreshToken); oauthErrorCode(err) != "invalid_grant" {
			t.Fatalf("re-used refresh token: %v", err)
		}
		if _, err := refresh(tok2.RefreshToken); err == nil {
			t.Fatal("the family survived the re-use of a rotated token")
		}
		if _, err := client.provider.UserInfo(client.ctx, oauth2.StaticTokenSource(tok2)); err == nil {
			t.Fatal("an access token of a revoked family still works")
		}

		// Revocation endpoint.
		f = client.start()
		tok, _, _ = client.exchange(t, f, f.callback(t, e, b.get(f.url)))
		form := url.Values{"token": {tok.RefreshToken}, "token_type_hint": {"refresh_token"}}
		req, _ := http.NewRequest(http.MethodPost, e.base+"/idp/revoke", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(e.clientID, e.secret)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			t.Fatalf("revoke: %d", res.StatusCode)
		}
		if _, err := refresh(tok.RefreshToken); err == nil {
			t.Fatal("revoked refresh token still works")
		}

		// A blocked account cannot refresh.
		f = client.start()
		tok, _, _ = client.exchange(t, f, f.callback(t, e, b.get(f.url)))
		if err := e.accounts.UpdateStaff(e.ctx, "admin", p.account.ID, []string{"urp_operator"}, false); err != nil {
			t.Fatal(err)
		}
		if _, err := refresh(tok.RefreshToken); oauthErrorCode(err) != "invalid_grant" {
			t.Fatalf("refresh of a blocked account: %v", err)
		}
	})
}

func TestIDTokenTamperingAndKeyRotation(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		p := e.citizen("RSSMRA80A01H501U", "Mario", "Rossi", time.Date(1980, 1, 1, 0, 0, 0, 0, time.UTC), "")
		client := e.rp(e.clientID, e.secret)
		b := e.browser()
		f := client.start()
		_, _, raw := client.exchange(t, f, e.login(t, b, f, p))

		// Any changed byte fails.
		parts := strings.Split(raw, ".")
		payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
		forged := strings.Replace(string(payload), "TINIT-RSSMRA80A01H501U", "TINIT-VRDLGU85B02F205X", 1)
		tampered := parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(forged)) + "." + parts[2]
		if _, err := client.verifier.Verify(client.ctx, tampered); err == nil {
			t.Fatal("tampered ID token verified")
		}
		sig := []byte(parts[2])
		sig[10] ^= 1
		if _, err := client.verifier.Verify(client.ctx, parts[0]+"."+parts[1]+"."+string(sig)); err == nil {
			t.Fatal("ID token with a changed signature verified")
		}

		// Rotation: new tokens carry the new kid, old ones still verify (a fresh
		// client fetches the JWKS again).
		oldKid := jwtHeader(t, raw)["kid"]
		newKid, err := e.idp.RotateKeys(e.ctx)
		if err != nil {
			t.Fatal(err)
		}
		if newKid == oldKid {
			t.Fatal("rotation kept the kid")
		}
		fresh := e.rp(e.clientID, e.secret)
		if _, err := fresh.verifier.Verify(fresh.ctx, raw); err != nil {
			t.Fatalf("old token after rotation: %v", err)
		}
		f = client.start()
		_, _, raw2 := client.exchange(t, f, f.callback(t, e, b.get(f.url)))
		if k := jwtHeader(t, raw2)["kid"]; k != newKid {
			t.Fatalf("new token kid %q, want %q", k, newKid)
		}
		set, err := e.idp.JWKS(e.ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(set.Keys) != 2 || set.Keys[0].KeyID != newKid || set.Keys[1].KeyID != oldKid {
			t.Fatalf("JWKS after rotation: %v", set.Keys)
		}
	})
}

func TestLockoutMessage(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		p := e.citizen("RSSMRA80A01H501U", "Mario", "Rossi", time.Date(1980, 1, 1, 0, 0, 0, 0, time.UTC), "")
		client := e.rp(e.clientID, e.secret)
		b := e.browser()
		f := client.start()
		r := b.get(f.url)
		page := b.get(r.Location)
		// Unknown user and wrong password read the same.
		unknown := b.submit(page, url.Values{"username": {"nessuno.tale"}, "password": {"qualcosa-di-lungo"}})
		expect(t, unknown, http.StatusUnprocessableEntity, "Nome utente o password non corretti.")
		var last *response
		for range 8 {
			last = b.submit(page, url.Values{"username": {p.username}, "password": {"sbagliata-davvero"}})
			if last.Status == http.StatusTooManyRequests {
				break
			}
			expect(t, last, http.StatusUnprocessableEntity, "Nome utente o password non corretti.")
		}
		expect(t, last, http.StatusTooManyRequests, "Troppi tentativi non riusciti")
		// Even the right password is refused while locked.
		r = b.submit(page, url.Values{"username": {p.username}, "password": {p.password}})
		expect(t, r, http.StatusTooManyRequests, "Troppi tentativi non riusciti")
		// Missing fields are errors tied to the fields.
		r = b.submit(page, url.Values{"username": {""}, "password": {""}})
		expect(t, r, http.StatusUnprocessableEntity, `aria-describedby="username-err"`, `href="#password"`)
		// A form without the CSRF token is refused.
		r = b.post("/idp/accedi", url.Values{"req": {match(t, reqField, page.Body)}, "username": {p.username}, "password": {p.password}})
		if r.Status != http.StatusForbidden {
			t.Fatalf("login without CSRF token: %d", r.Status)
		}
	})
}

func TestLogout(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		p := e.citizen("RSSMRA80A01H501U", "Mario", "Rossi", time.Date(1980, 1, 1, 0, 0, 0, 0, time.UTC), "")
		client := e.rp(e.clientID, e.secret)
		b := e.browser()
		f := client.start()
		_, _, raw := client.exchange(t, f, e.login(t, b, f, p))

		// An unregistered return address is refused with a page.
		q := url.Values{"id_token_hint": {raw}, "post_logout_redirect_uri": {"https://evil.example/"}}
		expect(t, b.get("/idp/logout?"+q.Encode()), http.StatusBadRequest)
		// No hint: the visitor confirms.
		r := b.get("/idp/logout")
		if r.Status != http.StatusSeeOther || r.Location != "/idp/uscita" {
			t.Fatalf("logout without hint: %d %q", r.Status, r.Location)
		}
		expect(t, b.get(r.Location), http.StatusOK, "Vuoi uscire?")

		q = url.Values{"id_token_hint": {raw}, "post_logout_redirect_uri": {e.postLogout}, "state": {"abc123"},
			"client_id": {e.clientID}}
		r = b.get("/idp/logout?" + q.Encode())
		if r.Status != http.StatusSeeOther || r.Location != e.postLogout+"?state=abc123" {
			t.Fatalf("logout: %d %q", r.Status, r.Location)
		}
		// The provider login is gone: the next request asks for the password.
		f = client.start()
		if r := b.get(f.url); !strings.Contains(r.Location, "/idp/accedi?req=") {
			t.Fatalf("after logout: %d %q", r.Status, r.Location)
		}

		// Confirmation by form (with CSRF) ends the login too.
		f = client.start()
		client.exchange(t, f, e.login(t, b, f, p))
		page := b.get(b.get("/idp/logout").Location)
		expect(t, b.submit(page, nil), http.StatusOK, "Uscita completata")
		if r := b.get(client.start().url); !strings.Contains(r.Location, "/idp/accedi?req=") {
			t.Fatalf("after confirmed logout: %d %q", r.Status, r.Location)
		}
	})
}

func TestClientsAndPortalSecret(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		// The portal client's secret is the same at every start and works.
		id, secret, err := e.idp.EnsurePortalClient(e.ctx, e.redirect, e.postLogout)
		if err != nil || id != e.clientID || secret != e.secret {
			t.Fatalf("second EnsurePortalClient: %q %q %v", id, secret, err)
		}
		again, err := idp.New(e.ctx, idp.Options{DB: e.db, BaseURL: e.base, SecretHashCost: 4, Box: testBox(t)})
		if err != nil {
			t.Fatal(err)
		}
		if _, s, err := again.EnsurePortalClient(e.ctx, e.redirect, e.postLogout); err != nil || s != e.secret {
			t.Fatalf("another replica derives %q (%v), want %q", s, err, e.secret)
		}
		var hash string
		if err := e.db.Table("idp_clients").Where("id = ?", id).Pluck("secret_hash", &hash).Error; err != nil {
			t.Fatal(err)
		}
		if hash == "" || strings.Contains(hash, secret) {
			t.Fatalf("secret stored as %q", hash)
		}
		// A wrong secret is refused at the token endpoint.
		bad := e.rp(e.clientID, "wrong")
		if _, err := bad.oauth.Exchange(bad.ctx, "x", oauth2.VerifierOption(oauth2.GenerateVerifier())); oauthErrorCode(err) != "invalid_client" {
			t.Fatalf("wrong client secret: %v", err)
		}

		cid, csecret, err := e.idp.AddClient(e.ctx, "Biblioteca", []string{"https://biblioteca.example/cb"}, false)
		if err != nil || cid == "" || len(csecret) < 40 {
			t.Fatalf("AddClient: %q %q %v", cid, csecret, err)
		}
		if _, _, err := e.idp.AddClient(e.ctx, "X", []string{"not a uri"}, false); err == nil {
			t.Fatal("AddClient accepted a bad URI")
		}
		list, err := e.idp.ListClients(e.ctx)
		if err != nil || len(list) != 2 || list[0].Name != "Biblioteca" || list[0].Public {
			t.Fatalf("ListClients: %+v %v", list, err)
		}
		if err := e.idp.RemoveClient(e.ctx, cid); err != nil {
			t.Fatal(err)
		}
		if err := e.idp.RemoveClient(e.ctx, cid); err != idp.ErrUnknownClient {
			t.Fatalf("second RemoveClient: %v", err)
		}
		n, err := e.idp.DeleteExpired(e.ctx)
		if err != nil || n != 0 {
			t.Fatalf("DeleteExpired: %d %v", n, err)
		}
	})
}

func TestDeleteExpired(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		p := e.citizen("RSSMRA80A01H501U", "Mario", "Rossi", time.Date(1980, 1, 1, 0, 0, 0, 0, time.UTC), "")
		client := e.rp(e.clientID, e.secret, oidc.ScopeOpenID, oidc.ScopeOfflineAccess)
		b := e.browser()
		// Two tabs: the second finds the login done by the first and gets its code
		// without a form. An explicit response_mode=query is accepted.
		f1 := client.start(oauth2.SetAuthURLParam("response_mode", "query"))
		f2 := client.start()
		tab2 := b.get(f2.url)
		client.exchange(t, f1, e.login(t, b, f1, p))
		code2 := f2.callback(t, e, b.get(tab2.Location))
		client.exchange(t, f2, code2)
		if _, err := e.idp.RotateKeys(e.ctx); err != nil {
			t.Fatal(err)
		}
		count := func(table string) int64 {
			var n int64
			if err := e.db.Table(table).Count(&n).Error; err != nil {
				t.Fatal(err)
			}
			return n
		}
		if count("idp_authorization_codes") != 2 || count("idp_refresh_tokens") != 2 || count("idp_access_tokens") != 2 {
			t.Fatal("flows left no rows")
		}
		if n, err := e.idp.DeleteExpired(e.ctx); err != nil || n != 0 {
			t.Fatalf("nothing has expired yet: %d %v", n, err)
		}
		later, err := idp.New(e.ctx, idp.Options{DB: e.db, BaseURL: e.base, Box: testBox(t),
			Now: func() time.Time { return time.Now().Add(idp.RefreshTokenLifespan + time.Hour) }})
		if err != nil {
			t.Fatal(err)
		}
		n, err := later.DeleteExpired(e.ctx)
		if err != nil || n != 7 { // 2 codes, 2 access, 2 refresh tokens, 1 retired key
			t.Fatalf("DeleteExpired: %d %v", n, err)
		}
		for _, table := range []string{"idp_authorization_codes", "idp_pkce_requests", "idp_oidc_sessions", "idp_access_tokens", "idp_refresh_tokens"} {
			if c := count(table); c != 0 {
				t.Errorf("%s: %d rows left", table, c)
			}
		}
		if c := count("idp_keys"); c != 1 {
			t.Errorf("%d keys left", c)
		}
	})
}

// TestLogoutByPost: RP-Initiated Logout 1.0 lets the client POST to the end_session
// endpoint (a cross-site form without the portal's CSRF token); the request is checked
// exactly as a GET, and the confirmation the provider then may ask for is a form with
// the CSRF token.
func TestLogoutByPost(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		p := e.citizen("RSSMRA80A01H501U", "Mario", "Rossi", time.Date(1980, 1, 1, 0, 0, 0, 0, time.UTC), "")
		client := e.rp(e.clientID, e.secret)
		b := e.browser()
		f := client.start()
		_, _, raw := client.exchange(t, f, e.login(t, b, f, p))

		// An unregistered return address is refused, by POST as by GET.
		expect(t, b.post("/idp/logout", url.Values{"id_token_hint": {raw}, "client_id": {e.clientID},
			"post_logout_redirect_uri": {"https://evil.example/"}}), http.StatusBadRequest)
		// A return address without a client is refused too.
		expect(t, b.post("/idp/logout", url.Values{"post_logout_redirect_uri": {e.postLogout}}), http.StatusBadRequest)
		// client_id and post_logout_redirect_uri without a hint: the visitor confirms,
		// with a form that carries the CSRF token and posts to the confirmation path.
		r := b.post("/idp/logout", url.Values{"client_id": {e.clientID}, "post_logout_redirect_uri": {e.postLogout},
			"state": {"xyz"}})
		if r.Status != http.StatusSeeOther || !strings.HasPrefix(r.Location, "/idp/uscita?") {
			t.Fatalf("logout by POST without hint: %d %q", r.Status, r.Location)
		}
		page := b.get(r.Location)
		expect(t, page, http.StatusOK, "Vuoi uscire?", `action="/idp/uscita"`, `name="_csrf"`)
		if r := b.post("/idp/uscita", url.Values{"client_id": {e.clientID}, "post_logout_redirect_uri": {e.postLogout}}); r.Status != http.StatusForbidden {
			t.Fatalf("confirmation without the CSRF token: %d", r.Status)
		}
		if r := b.get(client.start().url); strings.Contains(r.Location, "/idp/accedi?req=") {
			t.Fatal("a logout without hint nor confirmation ended the login")
		}
		r = b.submit(page, nil)
		if r.Status != http.StatusSeeOther || r.Location != e.postLogout+"?state=xyz" {
			t.Fatalf("confirmed logout: %d %q", r.Status, r.Location)
		}
		if r := b.get(client.start().url); !strings.Contains(r.Location, "/idp/accedi?req=") {
			t.Fatalf("after the confirmed logout: %d %q", r.Status, r.Location)
		}

		// With a valid hint in the body the login ends at once, without confirmation.
		f = client.start()
		_, _, raw = client.exchange(t, f, e.login(t, b, f, p))
		r = b.post("/idp/logout", url.Values{"id_token_hint": {raw}, "post_logout_redirect_uri": {e.postLogout},
			"state": {"abc"}})
		if r.Status != http.StatusSeeOther || r.Location != e.postLogout+"?state=abc" {
			t.Fatalf("logout by POST: %d %q", r.Status, r.Location)
		}
		if r := b.get(client.start().url); !strings.Contains(r.Location, "/idp/accedi?req=") {
			t.Fatalf("after the logout by POST: %d %q", r.Status, r.Location)
		}
	})
}

// TestAuthorizeRefusedBeforeLogin: requests the provider would refuse anyway (no PKCE,
// plain PKCE, an unknown prompt) go back to the client with an OAuth error before the
// login form is shown; a redirect URI that is not exactly a registered one gets an
// error page and no redirect, even for a visitor already logged in.
func TestAuthorizeRefusedBeforeLogin(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		client := e.rp(e.clientID, e.secret)
		b := e.browser()
		verifier := oauth2.GenerateVerifier()
		for name, opts := range map[string][]oauth2.AuthCodeOption{
			"no PKCE":             nil,
			"plain PKCE":          {oauth2.SetAuthURLParam("code_challenge", verifier), oauth2.SetAuthURLParam("code_challenge_method", "plain")},
			"PKCE without method": {oauth2.SetAuthURLParam("code_challenge", oauth2.S256ChallengeFromVerifier(verifier))},
			"unknown prompt":      {oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("prompt", "dammi-tutto")},
			"prompt none + login": {oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("prompt", "none login")},
		} {
			r := b.get(client.oauth.AuthCodeURL("st4te-lunga", append(opts, oidc.Nonce("n0nce-lungo"))...))
			if r.Status != http.StatusSeeOther || !strings.HasPrefix(r.Location, e.redirect+"?") {
				t.Fatalf("%s: %d %q, want an error redirect to the client", name, r.Status, r.Location)
			}
			u, _ := url.Parse(r.Location)
			if q := u.Query(); q.Get("error") != "invalid_request" || q.Get("state") != "st4te-lunga" || q.Get("code") != "" {
				t.Fatalf("%s: redirect %q", name, r.Location)
			}
		}

		// Exact redirect URIs, for a visitor already logged in (who would get a code).
		p := e.citizen("RSSMRA80A01H501U", "Mario", "Rossi", time.Date(1980, 1, 1, 0, 0, 0, 0, time.UTC), "")
		e.login(t, b, client.start(), p)
		id, _, err := e.idp.AddClient(e.ctx, "App di prova", []string{"http://127.0.0.1:18189/cb"}, true)
		if err != nil {
			t.Fatal(err)
		}
		authURL := func(redirect string) string {
			return "/idp/authorize?" + url.Values{"client_id": {id}, "response_type": {"code"}, "scope": {"openid"},
				"redirect_uri": {redirect}, "state": {"st4te-lunga"}, "nonce": {"n0nce-lungo"},
				"code_challenge": {oauth2.S256ChallengeFromVerifier(verifier)}, "code_challenge_method": {"S256"}}.Encode()
		}
		for _, bad := range []string{"http://127.0.0.1:9999/cb", "http://127.0.0.1/cb", "http://localhost:18189/cb",
			"http://127.0.0.1:18189/cb/", "http://127.0.0.1:18189/cb?x=1"} {
			r := b.get(authURL(bad))
			if r.Status != http.StatusBadRequest || r.Location != "" {
				t.Fatalf("redirect_uri %s: %d %q, want an error page", bad, r.Status, r.Location)
			}
		}
		r := b.get(authURL("http://127.0.0.1:18189/cb"))
		if r.Status != http.StatusSeeOther || !strings.HasPrefix(r.Location, "http://127.0.0.1:18189/cb?code=") {
			t.Fatalf("registered redirect_uri: %d %q", r.Status, r.Location)
		}
	})
}

// TestPortalClientReplicas: replicas reached at different base URLs add their URIs to
// the portal client, concurrently, and none removes another's; PortalClientSecret
// (what commands use) changes nothing; RemovePortalURIs takes an address off.
func TestPortalClientReplicas(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		uris := func() (redirects, logouts []string) {
			list, err := e.idp.ListClients(e.ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range list {
				if c.ID == idp.PortalClientID {
					return c.RedirectURIs, c.PostLogoutRedirectURIs
				}
			}
			t.Fatal("no portal client")
			return nil, nil
		}
		before, _ := uris()
		var updates int64
		countUpdates := func() int64 {
			e.db.Table("audit_events").Where("action = ?", "idp.client_update").Count(&updates)
			return updates
		}
		u0 := countUpdates()
		// A command: the secret, and no change.
		if id, s, err := e.idp.PortalClientSecret(e.ctx); err != nil || id != e.clientID || s != e.secret {
			t.Fatalf("PortalClientSecret: %q %q %v", id, s, err)
		}
		if r, _ := uris(); !slices.Equal(r, before) || countUpdates() != u0 {
			t.Fatalf("PortalClientSecret changed the registration: %v", r)
		}
		// Replicas at twelve addresses start at once.
		var wg sync.WaitGroup
		errs := make([]error, 12)
		for i := range errs {
			wg.Go(func() {
				base := fmt.Sprintf("https://replica%02d.comune.example", i)
				_, _, errs[i] = e.idp.EnsurePortalClient(context.Background(), base+"/auth/callback", base+"/auth/uscita")
			})
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("replica %d: %v", i, err)
			}
		}
		redirects, logouts := uris()
		if len(redirects) != 13 || len(logouts) != 13 || !slices.Contains(redirects, e.redirect) || !slices.Contains(logouts, e.postLogout) {
			t.Fatalf("after concurrent starts: %v / %v", redirects, logouts)
		}
		for i := range errs {
			if base := fmt.Sprintf("https://replica%02d.comune.example", i); !slices.Contains(redirects, base+"/auth/callback") ||
				!slices.Contains(logouts, base+"/auth/uscita") {
				t.Fatalf("replica %d lost its URIs: %v", i, redirects)
			}
		}
		// A restart of the first replica changes nothing.
		u1 := countUpdates()
		if _, _, err := e.idp.EnsurePortalClient(e.ctx, e.redirect, e.postLogout); err != nil || countUpdates() != u1 {
			t.Fatalf("idempotent start: %v, %d updates", err, countUpdates()-u1)
		}
		if err := e.idp.RemovePortalURIs(e.ctx, []string{"https://replica03.comune.example/auth/callback",
			"https://replica03.comune.example/auth/uscita"}); err != nil {
			t.Fatal(err)
		}
		if r, l := uris(); len(r) != 12 || len(l) != 12 || slices.Contains(r, "https://replica03.comune.example/auth/callback") {
			t.Fatalf("after RemovePortalURIs: %v / %v", r, l)
		}
	})
}
