package secretbox_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"gorm.io/gorm"

	"github.com/comuni-italiani/sportello/app/secretbox"
	"github.com/comuni-italiani/sportello/app/store"
	"github.com/comuni-italiani/sportello/app/store/storetest"
)

const (
	oldSecret = "old-system-secret-for-tests-0123456789"
	newSecret = "new-system-secret-for-tests-9876543210"
)

func box(t testing.TB, secrets ...string) *secretbox.Box {
	t.Helper()
	b, err := secretbox.New(secrets)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestSealOpen(t *testing.T) {
	t.Parallel()
	b := box(t, newSecret)
	sealed, err := b.SealString("accounts.totp", "42", "JBSWY3DPEHPK3PXP")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(sealed, secretbox.Prefix+b.KeyID()+":") || strings.Contains(sealed, "JBSWY3DPEHPK3PXP") {
		t.Fatalf("sealed value %q: wrong format or clear text inside", sealed)
	}
	if strings.Contains(sealed, newSecret) || strings.Contains(b.KeyID(), newSecret[:8]) {
		t.Fatal("the key id reveals the secret")
	}
	got, err := b.OpenString("accounts.totp", "42", sealed)
	if err != nil || got != "JBSWY3DPEHPK3PXP" {
		t.Fatalf("Open = %q, %v", got, err)
	}
	again, _ := b.SealString("accounts.totp", "42", "JBSWY3DPEHPK3PXP")
	if again == sealed {
		t.Fatal("two seals of one value are equal: the nonce is not random")
	}
}

func TestOpenRefuses(t *testing.T) {
	t.Parallel()
	b := box(t, newSecret)
	sealed, err := b.SealString("idp.secret", "token_hmac_key", "hmac-key-value")
	if err != nil {
		t.Fatal(err)
	}
	flip := func(s string, i int) string {
		c := []byte(s)
		if c[i] == 'A' {
			c[i] = 'B'
		} else {
			c[i] = 'A'
		}
		return string(c)
	}
	cases := []struct {
		name    string
		box     *secretbox.Box
		purpose string
		ctx     string
		value   string
		want    error
	}{
		{"tampered last byte", b, "idp.secret", "token_hmac_key", flip(sealed, len(sealed)-2), secretbox.ErrTampered},
		{"tampered nonce", b, "idp.secret", "token_hmac_key", flip(sealed, len(secretbox.Prefix)+secretbox.KeyIDLen+3), secretbox.ErrTampered},
		{"truncated", b, "idp.secret", "token_hmac_key", sealed[:len(sealed)-10], secretbox.ErrTampered},
		{"swapped to another row", b, "idp.secret", "portal_client_seed", sealed, secretbox.ErrTampered},
		{"swapped to another purpose", b, "accounts.totp", "token_hmac_key", sealed, secretbox.ErrTampered},
		{"wrong secret", box(t, oldSecret), "idp.secret", "token_hmac_key", sealed, secretbox.ErrUnknownKey},
		{"key id rewritten to the wrong secret's", box(t, oldSecret), "idp.secret", "token_hmac_key",
			secretbox.Prefix + box(t, oldSecret).KeyID() + sealed[len(secretbox.Prefix)+secretbox.KeyIDLen:], secretbox.ErrTampered},
		{"clear value", b, "idp.secret", "token_hmac_key", "hmac-key-value", secretbox.ErrMalformed},
		{"bad base64", b, "idp.secret", "token_hmac_key", secretbox.Prefix + b.KeyID() + ":***", secretbox.ErrMalformed},
		{"too short", b, "idp.secret", "token_hmac_key", secretbox.Prefix + b.KeyID() + ":AAAA", secretbox.ErrMalformed},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := c.box.Open(c.purpose, c.ctx, c.value)
			if !errors.Is(err, c.want) || got != nil {
				t.Fatalf("Open = %q, %v; want error %v", got, err, c.want)
			}
		})
	}
}

func TestRotation(t *testing.T) {
	t.Parallel()
	old := box(t, oldSecret)
	sealedOld, _ := old.SealString("accounts.totp", "7", "secret-seven")
	both := box(t, newSecret, oldSecret)
	if got, err := both.OpenString("accounts.totp", "7", sealedOld); err != nil || got != "secret-seven" {
		t.Fatalf("an old value does not open with the old secret second in the list: %q, %v", got, err)
	}
	out, changed, err := both.Reseal("accounts.totp", "7", sealedOld)
	if err != nil || !changed {
		t.Fatalf("Reseal = %v, %v", changed, err)
	}
	if id, _ := secretbox.KeyIDOf(out); id != both.KeyID() || id == old.KeyID() {
		t.Fatalf("resealed with key %s, want the newest %s", id, both.KeyID())
	}
	if _, changed, _ := both.Reseal("accounts.totp", "7", out); changed {
		t.Fatal("Reseal changed a value already sealed with the newest secret")
	}
	onlyNew := box(t, newSecret)
	if got, err := onlyNew.OpenString("accounts.totp", "7", out); err != nil || got != "secret-seven" {
		t.Fatalf("after rotation the new secret alone does not open: %q, %v", got, err)
	}
	if _, err := onlyNew.Open("accounts.totp", "7", sealedOld); !errors.Is(err, secretbox.ErrUnknownKey) {
		t.Fatalf("a value of the dropped secret: %v, want ErrUnknownKey", err)
	}
	clear, changed, err := onlyNew.Reseal("accounts.totp", "7", "in-clear")
	if err != nil || !changed || !secretbox.IsSealed(clear) {
		t.Fatalf("Reseal of a clear value = %q, %v, %v", clear, changed, err)
	}
}

func TestNewRefuses(t *testing.T) {
	t.Parallel()
	for name, list := range map[string][]string{
		"empty":    nil,
		"short":    {"too-short"},
		"repeated": {newSecret, oldSecret, newSecret},
	} {
		if _, err := secretbox.New(list); err == nil {
			t.Errorf("%s: New accepted %q", name, list)
		}
	}
}

func TestLoadOrCreateFile(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "data", secretbox.DevFileName)
	var wg sync.WaitGroup
	got := make([]string, 10)
	created := make([]bool, 10)
	for i := range got {
		wg.Go(func() {
			s, c, err := secretbox.LoadOrCreateFile(path)
			if err != nil {
				t.Error(err)
			}
			got[i], created[i] = s, c
		})
	}
	wg.Wait()
	n := 0
	for i := range got {
		if got[i] != got[0] || len(got[i]) < secretbox.MinSecretLen {
			t.Fatalf("processes got different or short secrets: %q", got)
		}
		if created[i] {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("%d callers created the file, want 1", n)
	}
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("secret file mode %v, %v; want 0600", st.Mode().Perm(), err)
	}
	dst, _ := os.Stat(filepath.Dir(path))
	if dst.Mode().Perm() != 0o700 {
		t.Fatalf("created data directory mode %v, want 0700", dst.Mode().Perm())
	}
	if who, _ := secretbox.ExposedTo(path); who != "" {
		t.Fatalf("ExposedTo = %q for a 0600 file", who)
	}
	os.Chmod(path, 0o644)
	if who, _ := secretbox.ExposedTo(path); who != "group and others" {
		t.Fatalf("ExposedTo = %q for a 0644 file", who)
	}
	os.WriteFile(path, []byte("short\n"), 0o600)
	if _, _, err := secretbox.LoadOrCreateFile(path); err == nil {
		t.Fatal("a file with a short secret was accepted")
	}
}

// sealedTable is a table for the column tests.
func sealedTable() []*store.Migration {
	return []*store.Migration{{ID: "secretbox_test/0001", Migrate: func(tx *gorm.DB) error {
		type sealedThing struct {
			ID    int64  `gorm:"primaryKey"`
			Kind  string `gorm:"size:20;not null"`
			Value string `gorm:"type:text;not null;default:''"`
		}
		return tx.Table("sealed_things").AutoMigrate(&sealedThing{})
	}}}
}

func TestResealColumn(t *testing.T) {
	t.Parallel()
	storetest.Each(t, sealedTable(), func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		col := secretbox.Column{Table: "sealed_things", Key: "id", Value: "value", IntKey: true,
			Purpose: "test.thing", Where: "kind = ?", Args: []any{"secret"},
			Context: func(k string) string { return "thing:" + k }}
		old := box(t, oldSecret)
		const n = 450 // more than two batches
		for i := 1; i <= n; i++ {
			v := fmt.Sprintf("value-%d", i)
			switch {
			case i%3 == 0: // written by an older version, in clear
			case i%3 == 1:
				v, _ = old.SealString(col.Purpose, fmt.Sprintf("thing:%d", i), v)
			default:
				v, _ = box(t, newSecret).SealString(col.Purpose, fmt.Sprintf("thing:%d", i), v)
			}
			if err := db.Exec("INSERT INTO sealed_things (id, kind, value) VALUES (?, ?, ?)", i, "secret", v).Error; err != nil {
				t.Fatal(err)
			}
		}
		db.Exec("INSERT INTO sealed_things (id, kind, value) VALUES (?, ?, ?)", n+1, "public", "not-a-secret")
		db.Exec("INSERT INTO sealed_things (id, kind, value) VALUES (?, ?, ?)", n+2, "secret", "")

		st, err := secretbox.Inspect(ctx, db, col)
		if err != nil {
			t.Fatal(err)
		}
		if st.Clear != n/3 || len(st.KeyIDs) != 2 {
			t.Fatalf("Inspect = %+v, want %d clear and two key ids", st, n/3)
		}
		onlyNew := box(t, newSecret)
		if u := onlyNew.Unknown(st); len(u) != 1 || u[0] != old.KeyID() {
			t.Fatalf("Unknown = %v, want the old key id %s", u, old.KeyID())
		}
		// Without the old secret the rows it sealed cannot be resealed: refused, not lost.
		if _, err := secretbox.Reseal(ctx, db, onlyNew, col); !errors.Is(err, secretbox.ErrUnknownKey) {
			t.Fatalf("Reseal without the old secret: %v, want ErrUnknownKey", err)
		}
		both := box(t, newSecret, oldSecret)
		changed, err := secretbox.Reseal(ctx, db, both, col)
		if err != nil {
			t.Fatal(err)
		}
		// Rows 1..(some) may have been changed by the refused run before the failing
		// row: what matters is the end state.
		if changed == 0 {
			t.Fatal("Reseal changed nothing")
		}
		if again, err := secretbox.Reseal(ctx, db, both, col); err != nil || again != 0 {
			t.Fatalf("second Reseal changed %d, %v; want 0 (idempotent)", again, err)
		}
		st, _ = secretbox.Inspect(ctx, db, col)
		if st.Clear != 0 || len(st.KeyIDs) != 1 || st.KeyIDs[0] != onlyNew.KeyID() {
			t.Fatalf("after Reseal: %+v", st)
		}
		var rows []struct {
			ID    int64
			Kind  string
			Value string
		}
		db.Table("sealed_things").Order("id").Find(&rows)
		for _, r := range rows {
			switch {
			case r.Kind == "public":
				if r.Value != "not-a-secret" {
					t.Fatalf("a row outside the column's scope changed: %q", r.Value)
				}
			case r.Value == "":
			default:
				got, err := onlyNew.OpenString(col.Purpose, fmt.Sprintf("thing:%d", r.ID), r.Value)
				if err != nil || got != fmt.Sprintf("value-%d", r.ID) {
					t.Fatalf("row %d opens to %q, %v", r.ID, got, err)
				}
			}
		}
	})
}

func BenchmarkSealOpen(b *testing.B) {
	bx := box(b, newSecret, oldSecret)
	for _, size := range []int{32, 1704} { // a TOTP secret, an RSA-2048 PKCS#8 PEM
		plain := []byte(strings.Repeat("x", size))
		sealed, _ := bx.Seal("bench", "row:1", plain)
		b.Run(fmt.Sprintf("seal/%dB", size), func(b *testing.B) {
			for b.Loop() {
				if _, err := bx.Seal("bench", "row:1", plain); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("open/%dB", size), func(b *testing.B) {
			for b.Loop() {
				if _, err := bx.Open("bench", "row:1", sealed); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkPrepare measures the start-up check on a column of 10 000 sealed values
// (nothing to seal: the cost every start pays).
func BenchmarkPrepare(b *testing.B) {
	for _, d := range storetest.Dialects {
		b.Run(string(d), func(b *testing.B) {
			ctx := context.Background()
			db := storetest.Open(b, d, sealedTable())
			bx := box(b, newSecret)
			col := secretbox.Column{Table: "sealed_things", Key: "id", Value: "value", IntKey: true, Purpose: "bench"}
			v, _ := bx.SealString("bench", "x", strings.Repeat("s", 32))
			if err := db.Exec(`INSERT INTO sealed_things (id, kind, value) SELECT n, 'secret', ? FROM (`+
				series(d)+`) AS s`, v).Error; err != nil {
				b.Fatal(err)
			}
			for b.Loop() {
				if err := secretbox.Prepare(ctx, db, bx, []secretbox.Column{col}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// series is a 1..10000 row source in each dialect.
func series(d store.Dialect) string {
	if d == store.Postgres {
		return `SELECT generate_series(1, 10000) AS n`
	}
	return `WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c WHERE n < 10000) SELECT n FROM c`
}

// TestPrepareConcurrent: twenty replicas starting at once on a database written in
// clear each seal what they find; every value ends sealed once, and opens to what
// it was.
func TestPrepareConcurrent(t *testing.T) {
	t.Parallel()
	storetest.Each(t, sealedTable(), func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		col := secretbox.Column{Table: "sealed_things", Key: "id", Value: "value", IntKey: true, Purpose: "test.thing"}
		const n = 300
		for i := 1; i <= n; i++ {
			if err := db.Exec("INSERT INTO sealed_things (id, kind, value) VALUES (?, 'secret', ?)", i, fmt.Sprintf("clear-%d", i)).Error; err != nil {
				t.Fatal(err)
			}
		}
		b := box(t, newSecret)
		var wg sync.WaitGroup
		errs := make(chan error, 20)
		for range 20 {
			wg.Go(func() { errs <- secretbox.Prepare(ctx, db, b, []secretbox.Column{col}) })
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		var rows []struct {
			ID    int64
			Value string
		}
		db.Table("sealed_things").Order("id").Find(&rows)
		if len(rows) != n {
			t.Fatalf("%d rows", len(rows))
		}
		for _, r := range rows {
			got, err := b.OpenString(col.Purpose, fmt.Sprint(r.ID), r.Value)
			if err != nil || got != fmt.Sprintf("clear-%d", r.ID) {
				t.Fatalf("row %d: %q, %v (sealed twice or lost)", r.ID, got, err)
			}
		}
	})
}
