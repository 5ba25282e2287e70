package app_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base32"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/go-jose/go-jose/v3"
	"gorm.io/gorm"

	"github.com/comuni-italiani/sportello/app"
	"github.com/comuni-italiani/sportello/app/accounts"
	"github.com/comuni-italiani/sportello/app/apptest"
	"github.com/comuni-italiani/sportello/app/enti"
	"github.com/comuni-italiani/sportello/app/idp"
	"github.com/comuni-italiani/sportello/app/roles"
	"github.com/comuni-italiani/sportello/app/secretbox"
	"github.com/comuni-italiani/sportello/app/store"
	"github.com/comuni-italiani/sportello/app/store/storetest"
	"github.com/comuni-italiani/sportello/config"
)

// dumpDatabase returns every value of every table of db, as a backup would hold
// them: text as text, blobs as bytes, everything else printed.
func dumpDatabase(t *testing.T, db *gorm.DB) []byte {
	t.Helper()
	var tables []string
	var err error
	if store.DialectOf(db) == store.Postgres {
		err = db.Raw(`SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()
			AND table_type = 'BASE TABLE' ORDER BY table_name`).Scan(&tables).Error
	} else {
		err = db.Raw(`SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name`).Scan(&tables).Error
	}
	if err != nil || len(tables) < 10 {
		t.Fatalf("listing tables: %v (%d)", err, len(tables))
	}
	var out bytes.Buffer
	for _, table := range tables {
		// A backup reads every ente's rows.
		rows, err := enti.AllEnti(db, "a backup reads every ente").Raw(`SELECT * FROM "` + table + `"`).Rows()
		if err != nil {
			t.Fatalf("dump %s: %v", table, err)
		}
		cols, _ := rows.Columns()
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatalf("dump %s: %v", table, err)
			}
			for _, v := range vals {
				switch v := v.(type) {
				case []byte:
					out.Write(v)
				case string:
					out.WriteString(v)
				default:
					fmt.Fprint(&out, v)
				}
				out.WriteByte('\n')
			}
		}
		rows.Close()
	}
	return out.Bytes()
}

// storedKey is an idp_keys row as stored.
type storedKey struct {
	KID        string `gorm:"column:kid"`
	PrivatePEM string `gorm:"column:private_pem"`
}

func testBox(t testing.TB, secrets ...string) *secretbox.Box {
	t.Helper()
	b, err := secretbox.New(secrets)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// openSecret opens an idp_secrets value with the system secret (what the test knows
// and the dump's reader does not).
func openSecret(t *testing.T, db *gorm.DB, box *secretbox.Box, name string) string {
	t.Helper()
	var v string
	db.Table("idp_secrets").Where("name = ?", name).Pluck("value", &v)
	plain, err := box.OpenString("idp.secret", name, v)
	if err != nil {
		t.Fatalf("idp_secrets %s: %v", name, err)
	}
	return plain
}

// TestDemoDumpHoldsNoSecretsInClear: after the demo seeding, a dump of the database
// holds no PEM private key, none of the TOTP secrets the demo printed (base32 or raw
// bytes), and none of the provider's secrets in clear.
func TestDemoDumpHoldsNoSecretsInClear(t *testing.T) {
	t.Parallel()
	apptest.Each(t, apptest.Options{}, func(t *testing.T, s *apptest.Server) {
		ctx := context.Background()
		report, err := s.App.SeedDemo(ctx)
		if err != nil {
			t.Fatal(err)
		}
		printed := regexp.MustCompile(`TOTP secret (\S+)`).FindAllStringSubmatch(report, -1)
		if len(printed) != len(s.App.DemoStaff()) {
			t.Fatalf("the demo printed %d TOTP secrets:\n%s", len(printed), report)
		}
		box := testBox(t, apptest.SystemSecret)
		var forbidden []struct {
			what string
			b    []byte
		}
		add := func(what string, b []byte) {
			forbidden = append(forbidden, struct {
				what string
				b    []byte
			}{what, b})
		}
		for _, p := range printed {
			add("TOTP secret (base32) "+p[1], []byte(p[1]))
			raw, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(p[1])
			if err != nil || len(raw) < 10 {
				t.Fatalf("printed TOTP secret %q: %v", p[1], err)
			}
			add("TOTP secret (raw bytes) "+p[1], raw)
			add("TOTP secret (base64) "+p[1], []byte(base64.StdEncoding.EncodeToString(raw)))
		}
		for _, name := range []string{"token_hmac_key", "portal_client_seed"} {
			v := openSecret(t, s.DB, box, name)
			add(name, []byte(v))
			if raw, err := base64.RawURLEncoding.DecodeString(v); err == nil {
				add(name+" (raw bytes)", raw)
			}
		}
		_, clientSecret, err := s.App.IdP().EnsurePortalClient(ctx, s.BaseURL+"/auth/callback", s.BaseURL+"/auth/uscita")
		if err != nil {
			t.Fatal(err)
		}
		add("portal client secret", []byte(clientSecret))
		var keys []storedKey
		s.DB.Table("idp_keys").Select("kid, private_pem").Scan(&keys)
		if len(keys) == 0 {
			t.Fatal("no signing key")
		}
		for _, k := range keys {
			plain, err := box.Open("idp.signing_key", k.KID, k.PrivatePEM)
			if err != nil {
				t.Fatalf("key %s: %v", k.KID, err)
			}
			block, _ := pem.Decode(plain)
			add("signing key "+k.KID+" (DER)", block.Bytes[40:120])
			add("signing key "+k.KID+" (PEM body)", plain[40:120])
		}
		add("the system secret", []byte(apptest.SystemSecret))
		add("a PEM private key", []byte("PRIVATE KEY-----"))

		dump := dumpDatabase(t, s.DB)
		if !bytes.Contains(dump, []byte("demo.urp")) || !bytes.Contains(dump, []byte(secretbox.Prefix)) {
			t.Fatal("the dump misses what the demo wrote: the test would prove nothing")
		}
		for _, f := range forbidden {
			if bytes.Contains(dump, f.b) {
				t.Errorf("the database dump holds %s in clear", f.what)
			}
		}
	})
}

// signToken signs claims with key (any go-jose signing key).
func signToken(t *testing.T, alg jose.SignatureAlgorithm, key any, kid string, claims map[string]any) string {
	t.Helper()
	opts := (&jose.SignerOptions{}).WithType("JWT")
	if kid != "" {
		opts = opts.WithHeader("kid", kid)
	}
	sig, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, opts)
	if err != nil {
		t.Fatal(err)
	}
	payload, _ := json.Marshal(claims)
	jws, err := sig.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	out, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestForgedIDTokenRefused: with a copy of the database and without the system
// secret, no ID token the portal's relying party accepts can be produced. The test
// plays the attacker with everything the database holds, then checks each forgery
// with the relying party's own verification (go-oidc, configured as app/auth does:
// discovery, the provider's JWKS, the portal's client id). A token signed with the
// real key (opened with the system secret) passes, so the refusals are not the
// verifier's blindness.
func TestForgedIDTokenRefused(t *testing.T) {
	t.Parallel()
	apptest.Each(t, apptest.Options{}, func(t *testing.T, s *apptest.Server) {
		ctx := context.Background()
		if _, err := s.App.SeedDemo(ctx); err != nil {
			t.Fatal(err)
		}
		issuer := s.App.IdP().Issuer()
		op, err := oidc.NewProvider(ctx, issuer)
		if err != nil {
			t.Fatal(err)
		}
		verifier := op.Verifier(&oidc.Config{ClientID: idp.PortalClientID})
		now := time.Now()
		claims := map[string]any{"iss": issuer, "aud": idp.PortalClientID, "sub": "forged-subject",
			"iat": now.Unix(), "exp": now.Add(10 * time.Minute).Unix(), "nonce": "n",
			"roles": []string{roles.Admin}, "preferred_username": "demo.admin"}

		// What a copy of the database gives the attacker.
		var keys []storedKey
		s.DB.Table("idp_keys").Where("current = ?", 1).Select("kid, private_pem").Scan(&keys)
		if len(keys) != 1 {
			t.Fatalf("%d current keys", len(keys))
		}
		kid, stored := keys[0].KID, keys[0].PrivatePEM
		if block, _ := pem.Decode([]byte(stored)); block != nil {
			t.Fatal("the database holds the signing key as PEM")
		}
		var secrets []string
		s.DB.Table("idp_secrets").Pluck("value", &secrets)
		var forged []string
		// 1. The attacker's own key under the real kid.
		mine, _ := rsa.GenerateKey(rand.Reader, 2048)
		forged = append(forged, signToken(t, jose.RS256, mine, kid, claims))
		// 2. Whatever the stored key column holds, read as key material for HMAC.
		forged = append(forged, signToken(t, jose.HS256, []byte(stored), kid, claims))
		for _, v := range secrets {
			forged = append(forged, signToken(t, jose.HS256, []byte(v), kid, claims))
		}
		// 3. The stored bytes, decoded as a PKCS#8 key after stripping the format.
		if raw, err := base64.RawURLEncoding.DecodeString(stored[strings.LastIndex(stored, ":")+1:]); err == nil {
			if _, err := x509.ParsePKCS8PrivateKey(raw); err == nil {
				t.Fatal("the sealed value parses as a private key")
			}
		}
		// 4. No signature at all.
		hdr := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","kid":"` + kid + `"}`))
		body, _ := json.Marshal(claims)
		forged = append(forged, hdr+"."+base64.RawURLEncoding.EncodeToString(body)+".")
		for i, raw := range forged {
			if _, err := verifier.Verify(ctx, raw); err == nil {
				t.Errorf("forgery %d was accepted by the relying party's verifier", i+1)
			}
		}

		// Control: the real key, opened with the system secret, is accepted.
		plain, err := testBox(t, apptest.SystemSecret).Open("idp.signing_key", kid, stored)
		if err != nil {
			t.Fatal(err)
		}
		block, _ := pem.Decode(plain)
		priv, err := x509.ParsePKCS8PrivateKey(block.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		real := signToken(t, jose.RS256, priv.(crypto.Signer), kid, claims)
		if _, err := verifier.Verify(ctx, real); err != nil {
			t.Fatalf("the verifier refuses a token signed with the real key: %v", err)
		}
	})
}

// TestWrongSystemSecretRefused: a start with a system secret that did not seal the
// database (configured wrongly, or none configured so that development would make a
// new one) is refused with a message naming the configuration key, and nothing in
// the database changes: no new signing key, no new token secrets.
func TestWrongSystemSecretRefused(t *testing.T) {
	t.Parallel()
	apptest.Each(t, apptest.Options{}, func(t *testing.T, s *apptest.Server) {
		if _, err := s.App.SeedDemo(context.Background()); err != nil {
			t.Fatal(err)
		}
		before := dumpDatabase(t, s.DB)
		for name, secrets := range map[string][]string{
			"wrong secret": {"a-different-system-secret-0123456789abcdef"},
			"none configured (dev would generate one)": nil,
		} {
			t.Run(name, func(t *testing.T) {
				cfg := config.Default()
				cfg.DataDir = t.TempDir()
				cfg.Secrets.System = secrets
				if store.DialectOf(s.DB) == store.Postgres {
					cfg.Database.URL = "postgres://in-test"
				}
				var a *app.App
				var err error
				func() {
					defer func() {
						if p := recover(); p != nil {
							t.Fatalf("app.New panicked: %v", p)
						}
					}()
					a, err = app.New(context.Background(), app.Options{Config: cfg, DB: s.DB, FastCrypto: true})
				}()
				var wrong *secretbox.WrongSecretError
				if err == nil || a != nil || !errors.As(err, &wrong) {
					t.Fatalf("start with the wrong system secret: %v", err)
				}
				msg := err.Error()
				for _, want := range []string{"secrets.system", "SPORTELLO_SECRETS_SYSTEM", "idp_keys.private_pem",
					"accounts.totp_secret", testBox(t, apptest.SystemSecret).KeyID()} {
					if !strings.Contains(msg, want) {
						t.Errorf("the refusal does not say %q: %s", want, msg)
					}
				}
				if strings.Contains(msg, apptest.SystemSecret) {
					t.Fatal("the refusal prints the secret")
				}
			})
		}
		if after := dumpDatabase(t, s.DB); !bytes.Equal(before, after) {
			t.Fatal("a refused start changed the database")
		}
		// The portal with the right secret still works.
		if r := s.Client().Get("/idp/jwks"); r.Status != http.StatusOK {
			t.Fatalf("jwks after refused starts: %d", r.Status)
		}
	})
}

// TestClearRowsSealedAtStart: a database written by a version before encryption at
// rest (the old schema, keys and TOTP secrets in clear) is sealed when the portal
// starts on it, and everything keeps working: the same signing key signs (no new
// key), the portal client keeps its secret, the citizen logs in with the TOTP
// secret enrolled before.
func TestClearRowsSealedAtStart(t *testing.T) {
	t.Parallel()
	for _, d := range []store.Dialect{store.SQLite, store.Postgres} {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			var old []*store.Migration
			for _, m := range app.Migrations(app.Builtin()) {
				if m.ID != "accounts/0002_sealed_totp" {
					old = append(old, m)
				}
			}
			// The old version's process writes the rows; the new one starts on the same
			// database with its own connections (a pool that prepared SELECT * FROM
			// accounts before the migration widened its columns would see PostgreSQL's
			// "cached plan must not change result type" once per connection).
			ctx := context.Background()
			db := storetest.Open(t, d, old)
			appDB := db
			if d == store.Postgres {
				url := storetest.PostgresURL(t, old)
				var err error
				if db, err = store.Open(ctx, store.Options{URL: url}); err != nil {
					t.Fatal(err)
				}
				if appDB, err = store.Open(ctx, store.Options{URL: url}); err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { store.Close(appDB) })
			}
			now := time.Now().UTC()
			priv, _ := rsa.GenerateKey(rand.Reader, 2048)
			der, _ := x509.MarshalPKCS8PrivateKey(priv)
			pemText := string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
			tp, _ := (&jose.JSONWebKey{Key: &priv.PublicKey}).Thumbprint(crypto.SHA256)
			kid := base64.RawURLEncoding.EncodeToString(tp)
			if err := db.Exec(`INSERT INTO idp_keys (kid, alg, private_pem, "current", created_at) VALUES (?, 'RS256', ?, 1, ?)`,
				kid, pemText, now).Error; err != nil {
				t.Fatal(err)
			}
			clear := map[string]string{}
			for _, name := range []string{"token_hmac_key", "subject_salt", "portal_client_seed"} {
				b := make([]byte, 32)
				rand.Read(b)
				clear[name] = base64.RawURLEncoding.EncodeToString(b)
				if err := db.Exec(`INSERT INTO idp_secrets (name, value, created_at) VALUES (?, ?, ?)`, name, clear[name], now).Error; err != nil {
					t.Fatal(err)
				}
			}
			acc := accounts.New(db, accounts.Options{BaseURL: "http://127.0.0.1",
				Hash: accounts.HashParams{Memory: 1024, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}})
			cit, err := acc.RegisterCitizen(ctx, "op.urp", accounts.CitizenInput{FiscalCode: citizenCF(t), GivenName: "Lucia",
				FamilyName: "Verdi", BirthDate: time.Date(1990, 5, 20, 0, 0, 0, 0, time.UTC), Email: "lucia.verdi@example.org",
				IDDocType: accounts.DocCIE, IDDocNumber: "CA11111BB", DocumentSeen: true})
			if err != nil {
				t.Fatal(err)
			}
			cred, err := acc.IssueCredentials(ctx, "op.urp", cit.ID)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := acc.Activate(ctx, cred.Username, cred.ActivationCode, testPassword, "127.0.0.1"); err != nil {
				t.Fatal(err)
			}
			const legacyTOTP = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
			db.Exec("UPDATE accounts SET totp_secret = ?, totp_enabled = ? WHERE id = ?", legacyTOTP, true, cit.ID)

			if appDB != db {
				store.Close(db)
			}
			db = appDB
			s := apptest.New(t, d, apptest.Options{DB: db, Configure: func(c *config.Config) { c.Database.AutoMigrate = true }})
			box := testBox(t, apptest.SystemSecret)

			var keys []storedKey
			db.Table("idp_keys").Select("kid, private_pem").Scan(&keys)
			if len(keys) != 1 || keys[0].KID != kid || !secretbox.IsSealed(keys[0].PrivatePEM) {
				t.Fatalf("signing keys after the start: %d, kid %v", len(keys), keys)
			}
			if plain, err := box.OpenString("idp.signing_key", kid, keys[0].PrivatePEM); err != nil || plain != pemText {
				t.Fatalf("the sealed key is not the old key: %v", err)
			}
			for _, name := range []string{"token_hmac_key", "portal_client_seed"} {
				if v := openSecret(t, db, box, name); v != clear[name] {
					t.Fatalf("%s changed when sealed", name)
				}
			}
			var salt string
			db.Table("idp_secrets").Where("name = ?", "subject_salt").Pluck("value", &salt)
			if salt != clear["subject_salt"] {
				t.Fatal("the subject salt changed: every subject would change")
			}
			var stored string
			db.Table("accounts").Where("id = ?", cit.ID).Pluck("totp_secret", &stored)
			if !secretbox.IsSealed(stored) || len(stored) <= 64 {
				t.Fatalf("TOTP secret after the start: %q", stored)
			}
			if dump := dumpDatabase(t, db); bytes.Contains(dump, []byte(legacyTOTP)) || bytes.Contains(dump, []byte("PRIVATE KEY")) {
				t.Fatal("the dump still holds a clear secret")
			}
			c := s.Client()
			area := login(t, c, "/area-personale", "comune", cred.Username, testPassword, legacyTOTP)
			if area.Status != 200 || !strings.Contains(area.Body, "Lucia Verdi") {
				t.Fatalf("login with the TOTP enrolled before the upgrade: %d %s", area.Status, area.URL)
			}
			var jwks jose.JSONWebKeySet
			json.Unmarshal([]byte(c.Get("/idp/jwks").Body), &jwks)
			if len(jwks.Keys) != 1 || jwks.Keys[0].KeyID != kid {
				t.Fatalf("JWKS after the upgrade: %+v (want the old key only)", jwks.Keys)
			}
		})
	}
}

// TestRotationKeepsLoginsWorking: a staff member logs in; the system secret is
// rotated (new secret in front, old one behind, `secrets rotate`); a portal knowing
// only the new secret starts, and the same person logs in again with the same
// authenticator app. A portal knowing only the old secret is then refused.
func TestRotationKeepsLoginsWorking(t *testing.T) {
	t.Parallel()
	apptest.Each(t, apptest.Options{}, func(t *testing.T, s *apptest.Server) {
		ctx := context.Background()
		report, err := s.App.SeedDemo(ctx)
		if err != nil {
			t.Fatal(err)
		}
		m := regexp.MustCompile(`demo\.urp\s+role \S+\s+TOTP secret (\S+)`).FindStringSubmatch(report)
		if m == nil {
			t.Fatalf("no TOTP secret for demo.urp in:\n%s", report)
		}
		dash := login(t, s.Client(), "/backoffice", "comune", "demo.urp", app.DemoPassword, m[1])
		if dash.Status != 200 || !strings.Contains(dash.Body, "Cruscotto") {
			t.Fatalf("login before rotation: %d %s", dash.Status, dash.URL)
		}

		const newSecret = "the-new-system-secret-for-rotation-0123456789"
		d := store.DialectOf(s.DB)
		// Every replica first learns the new secret, the old one still behind it.
		both := apptest.New(t, d, apptest.Options{DB: s.DB, Configure: func(c *config.Config) {
			c.Secrets.System = []string{newSecret, apptest.SystemSecret}
		}})
		var out bytes.Buffer
		if err := app.RotateSecrets(ctx, both.DB, testBox(t, newSecret, apptest.SystemSecret), &out); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(out.String(), "idp_keys.private_pem") || !regexp.MustCompile(`accounts\.totp_secret\s+[1-9]`).MatchString(out.String()) {
			t.Fatalf("rotation output:\n%s", out.String())
		}
		out.Reset()
		if err := app.RotateSecrets(ctx, both.DB, testBox(t, newSecret, apptest.SystemSecret), &out); err != nil ||
			regexp.MustCompile(`\s[1-9]\d* value`).MatchString(out.String()) {
			t.Fatalf("a second rotation changed something (must be idempotent): %v\n%s", err, out.String())
		}
		var n int64
		s.DB.Table("audit_events").Where("action = ?", "secrets.rotate").Count(&n)
		if n != 2 {
			t.Fatalf("%d rotations audited, want 2", n)
		}

		// The same time step cannot serve twice (replay guard): forget the step used, so
		// the test needs not wait 30 seconds for the next one.
		s.DB.Table("accounts").Where("username = ?", "demo.urp").Update("totp_last_step", 0)
		only := apptest.New(t, d, apptest.Options{DB: s.DB, Configure: func(c *config.Config) {
			c.Secrets.System = []string{newSecret}
		}})
		dash = login(t, only.Client(), "/backoffice", "comune", "demo.urp", app.DemoPassword, m[1])
		if dash.Status != 200 || !strings.Contains(dash.Body, "Cruscotto") {
			t.Fatalf("login after rotation with the new secret only: %d %s", dash.Status, dash.URL)
		}

		cfg := config.Default()
		cfg.DataDir = t.TempDir()
		cfg.Secrets.System = []string{apptest.SystemSecret}
		if d == store.Postgres {
			cfg.Database.URL = "postgres://in-test"
		}
		var wrong *secretbox.WrongSecretError
		if _, err := app.New(ctx, app.Options{Config: cfg, DB: s.DB, FastCrypto: true}); !errors.As(err, &wrong) {
			t.Fatalf("start with the old secret alone after rotation: %v", err)
		}
	})
}

// TestDevSystemSecretFile: in development with no secrets.system the secret is
// generated once into the data directory, mode 0600, with a warning to back it up;
// a later start reads the same secret and warns when the file is readable by others.
// Production never generates one.
func TestDevSystemSecretFile(t *testing.T) {
	t.Parallel()
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	first, err := app.SystemSecrets(cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(cfg.DataDir, secretbox.DevFileName)
	if st, err := os.Stat(path); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("development secret file: %v", err)
	}
	if !strings.Contains(logs.String(), "generated a system secret for development") {
		t.Fatalf("no warning about the generated secret:\n%s", logs.String())
	}
	logs.Reset()
	again, err := app.SystemSecrets(cfg, log)
	if err != nil || again.KeyID() != first.KeyID() || logs.Len() != 0 {
		t.Fatalf("second start: %v, same secret %v, logs:\n%s", err, again.KeyID() == first.KeyID(), logs.String())
	}
	os.Chmod(path, 0o644)
	if _, err := app.SystemSecrets(cfg, log); err != nil {
		t.Fatal(err)
	}
	if out := logs.String(); !strings.Contains(out, "level=WARN") || !strings.Contains(out, "readable by group and others") {
		t.Fatalf("no warning for a 0644 secret file:\n%s", out)
	}
	prod := config.Default()
	prod.Env, prod.DataDir = "production", t.TempDir()
	if _, err := app.SystemSecrets(prod, log); err == nil || !strings.Contains(err.Error(), "secrets.system") {
		t.Fatalf("production without secrets.system: %v", err)
	}
	if _, err := os.Stat(filepath.Join(prod.DataDir, secretbox.DevFileName)); err == nil {
		t.Fatal("production generated a secret file")
	}
}

// TestLostSecretForgotten: when the system secret is lost, `secrets forget --lost`
// gives up the values it sealed; the portal then starts with a new secret, makes new
// provider keys, the citizen logs in with the password as before, staff TOTP is off
// (listed for reset), and the accounts and the rest of the data are untouched.
func TestLostSecretForgotten(t *testing.T) {
	t.Parallel()
	apptest.Each(t, apptest.Options{}, func(t *testing.T, s *apptest.Server) {
		ctx := context.Background()
		if _, err := s.App.SeedDemo(ctx); err != nil {
			t.Fatal(err)
		}
		var oldKID string
		s.DB.Table("idp_keys").Where("current = ?", 1).Pluck("kid", &oldKID)
		var accountsBefore int64
		s.DB.Table("accounts").Count(&accountsBefore)

		const replacement = "the-replacement-system-secret-0123456789ab"
		box := testBox(t, replacement)
		var out bytes.Buffer
		if err := app.ForgetLostSecrets(ctx, s.DB, box, &out); err != nil {
			t.Fatal(err)
		}
		o := out.String()
		if !regexp.MustCompile(`idp_keys\.private_pem\s+1 value`).MatchString(o) ||
			!regexp.MustCompile(fmt.Sprintf(`accounts\.totp_secret\s+%d value`, len(s.App.DemoStaff()))).MatchString(o) ||
			!strings.Contains(o, "sportello staff reset --username demo.admin") {
			t.Fatalf("forget output:\n%s", o)
		}
		out.Reset()
		if err := app.ForgetLostSecrets(ctx, s.DB, box, &out); err != nil || !strings.Contains(out.String(), "nothing to forget") {
			t.Fatalf("second forget: %v\n%s", err, out.String())
		}
		d := store.DialectOf(s.DB)
		fresh := apptest.New(t, d, apptest.Options{DB: s.DB, Configure: func(c *config.Config) {
			c.Secrets.System = []string{replacement}
		}})
		var newKID string
		s.DB.Table("idp_keys").Where("current = ?", 1).Pluck("kid", &newKID)
		if newKID == "" || newKID == oldKID {
			t.Fatalf("no new signing key after forgetting: %q (old %q)", newKID, oldKID)
		}
		area := login(t, fresh.Client(), "/area-personale", "comune", app.DemoCitizenUsername, app.DemoPassword, "")
		if area.Status != 200 || !strings.Contains(area.Body, "Giulia") {
			t.Fatalf("citizen login after forgetting: %d %s", area.Status, area.URL)
		}
		var accountsAfter, staffWithTOTP int64
		s.DB.Table("accounts").Count(&accountsAfter)
		s.DB.Table("accounts").Where("totp_enabled = ?", true).Count(&staffWithTOTP)
		if accountsAfter != accountsBefore || staffWithTOTP != 0 {
			t.Fatalf("accounts %d -> %d, %d with TOTP still on", accountsBefore, accountsAfter, staffWithTOTP)
		}
		if n := auditCount(t, s, "secrets.forget", "ok"); n != 1 {
			t.Fatalf("%d secrets.forget events", n)
		}
	})
}
