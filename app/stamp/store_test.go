package stamp

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

func fileMode(t *testing.T, path string) fs.FileMode {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm()
}

func TestLoadOrCreateDir(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "keys")
	ring, created, err := LoadOrCreateDir(dir)
	if err != nil || !created {
		t.Fatalf("first LoadOrCreateDir = %v, %v; want a new ring", created, err)
	}
	kid := ring.ActiveKID()
	if runtime.GOOS != "windows" {
		if m := fileMode(t, filepath.Join(dir, kid+".key.pem")); m != 0o600 {
			t.Errorf("private key file mode %v, want 0600", m)
		}
		if m := fileMode(t, dir); m != 0o700 {
			t.Errorf("directory mode %v, want 0700", m)
		}
	}
	msg := mustSign(t, ring, testPayload())

	again, created, err := LoadOrCreateDir(dir)
	if err != nil || created {
		t.Fatalf("second LoadOrCreateDir = %v, %v; want the existing ring", created, err)
	}
	if again.ActiveKID() != kid {
		t.Fatalf("reloaded active kid %q, want %q", again.ActiveKID(), kid)
	}
	if _, err := again.Verify(msg); err != nil {
		t.Fatalf("reloaded ring does not verify: %v", err)
	}

	// A directory with keys but no active file is a broken deployment, not a first run.
	if err := os.Remove(filepath.Join(dir, "active")); err != nil {
		t.Fatal(err)
	}
	if _, created, err := LoadOrCreateDir(dir); err == nil || created {
		t.Fatalf("LoadOrCreateDir without active file = %v, %v; want an error", created, err)
	}
}

func TestRotate(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ring1, _, err := LoadOrCreateDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	kid1 := ring1.ActiveKID()
	p1 := testPayload()
	msg1 := mustSign(t, ring1, p1)

	kid2, err := Rotate(dir)
	if err != nil {
		t.Fatal(err)
	}
	if kid2 == kid1 {
		t.Fatal("Rotate kept the same key")
	}
	ring2, err := LoadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if ring2.ActiveKID() != kid2 {
		t.Fatalf("active kid after Rotate = %q, want %q", ring2.ActiveKID(), kid2)
	}
	p2 := testPayload()
	p2.CertID = "0000-0000-0010-*"
	msg2 := mustSign(t, ring2, p2)

	ring3, err := LoadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		msg  []byte
		want Payload
		kid  string
	}{{msg1, p1, kid1}, {msg2, p2, kid2}} {
		got, err := ring3.Verify(c.msg)
		if err != nil {
			t.Fatalf("stamp by %s after rotation: %v", c.kid, err)
		}
		assertPayload(t, got, c.want, c.kid)
	}
	if got := ring3.KIDs(); len(got) != 2 {
		t.Fatalf("KIDs = %v, want 2 keys", got)
	}
	if _, err := os.Stat(filepath.Join(dir, kid1+".key.pem")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("old private key file still there: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, kid1+".pub.pem")); err != nil {
		t.Fatalf("old public key file: %v", err)
	}
	if k := ring3.keys[kid1]; k == nil || k.CanSign() {
		t.Fatal("the retired key is missing or can still sign")
	}

	// Rotate interrupted before removing the old private key: it must stay retired.
	if err := writePrivate(dir, ring1.active); err != nil {
		t.Fatal(err)
	}
	ring4, err := LoadDir(dir)
	if err != nil {
		t.Fatalf("LoadDir after an interrupted Rotate: %v", err)
	}
	if ring4.ActiveKID() != kid2 || ring4.keys[kid1].CanSign() {
		t.Fatal("a leftover private key of a retired kid was loaded as a signing key")
	}
	os.Remove(filepath.Join(dir, kid1+".key.pem"))

	// Point active back at the retired key: it has no private key any more.
	if err := os.WriteFile(filepath.Join(dir, "active"), []byte(kid1+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadDir(dir); err == nil || !strings.Contains(err.Error(), kid1) {
		t.Fatalf("LoadDir with a retired key active = %v, want an error naming %s", err, kid1)
	}
}

func TestLoadDirErrors(t *testing.T) {
	t.Parallel()
	// setup returns a directory holding one valid active key, then breaks it.
	setup := func(t *testing.T) (dir, kid string) {
		dir = t.TempDir()
		ring, _, err := LoadOrCreateDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		return dir, ring.ActiveKID()
	}
	write := func(t *testing.T, path, data string) {
		if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name    string
		breakIt func(t *testing.T, dir, kid string)
		want    string
	}{
		{"missing directory", func(t *testing.T, dir, kid string) { os.RemoveAll(dir) }, "reading key directory"},
		{"no active file", func(t *testing.T, dir, kid string) { os.Remove(filepath.Join(dir, "active")) }, "active key id"},
		{"active is not a kid", func(t *testing.T, dir, kid string) { write(t, filepath.Join(dir, "active"), "../../etc/passwd") }, "not a key id"},
		{"active kid has no key", func(t *testing.T, dir, kid string) { write(t, filepath.Join(dir, "active"), "AAAAAAAAAAAA") }, "AAAAAAAAAAAA has no private key file"},
		{"file named after another kid", func(t *testing.T, dir, kid string) {
			os.Rename(filepath.Join(dir, kid+".key.pem"), filepath.Join(dir, "AAAAAAAAAAAA.key.pem"))
		}, "do not match"},
		{"garbage key file", func(t *testing.T, dir, kid string) { write(t, filepath.Join(dir, kid+".key.pem"), "not pem") }, "no key in PEM"},
		{"Ed25519 key", func(t *testing.T, dir, kid string) {
			write(t, filepath.Join(dir, kid+".key.pem"), string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: ed25519PKCS8(t)})))
		}, "not an ECDSA key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir, kid := setup(t)
			tt.breakIt(t, dir, kid)
			_, err := LoadDir(dir)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("LoadDir = %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

// ed25519PKCS8 returns a valid PKCS#8 private key that is not ECDSA.
func ed25519PKCS8(t *testing.T) []byte {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func TestLoadDirAcceptsOpenSSLAndSecretVolumes(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	k := deterministicKey(t, "openssl")
	der, err := x509.MarshalECPrivateKey(k.priv)
	if err != nil {
		t.Fatal(err)
	}
	// What "openssl ecparam -name prime256v1 -genkey" writes: parameters, then SEC 1.
	data := "-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n" +
		string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}))
	// A Kubernetes secret volume: files in a hidden timestamped directory, linked.
	hidden := filepath.Join(dir, "..2026_03_05_10_42_00.123")
	if err := os.Mkdir(hidden, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Base(hidden), filepath.Join(dir, "..data")); err != nil {
		t.Skip("no symbolic links here:", err)
	}
	files := map[string]string{k.KID() + ".key.pem": data, "active": k.KID() + "\n"}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(hidden, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(filepath.Join("..data", name), filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	ring, err := LoadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if ring.ActiveKID() != k.KID() {
		t.Fatalf("active kid %q, want %q", ring.ActiveKID(), k.KID())
	}
}

// TestKeyDirOwnerOnly: the key directory (even one that existed, empty, with a wide
// mode) and its private key files are created owner-only, and ExposedFiles names
// what group or others can read.
func TestKeyDirOwnerOnly(t *testing.T) {
	t.Parallel()
	if runtime.GOOS == "windows" {
		t.Skip("no POSIX modes")
	}
	dir := filepath.Join(t.TempDir(), "keys")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	os.Chmod(dir, 0o755) // whatever the umask
	ring, created, err := LoadOrCreateDir(dir)
	if err != nil || !created {
		t.Fatalf("LoadOrCreateDir: %v %v", created, err)
	}
	priv := filepath.Join(dir, ring.ActiveKID()+privSuffix)
	if m := fileMode(t, dir); m != 0o700 {
		t.Fatalf("key directory mode %04o, want 0700", m)
	}
	if m := fileMode(t, priv); m != 0o600 {
		t.Fatalf("private key mode %04o, want 0600", m)
	}
	if got, err := ExposedFiles(dir); err != nil || len(got) != 0 {
		t.Fatalf("ExposedFiles of an owner-only ring: %v %v", got, err)
	}
	kid, err := Rotate(dir)
	if err != nil {
		t.Fatal(err)
	}
	if m := fileMode(t, filepath.Join(dir, kid+privSuffix)); m != 0o600 {
		t.Fatalf("rotated private key mode %04o, want 0600", m)
	}
	os.Chmod(dir, 0o750)
	os.Chmod(filepath.Join(dir, kid+privSuffix), 0o644)
	got, err := ExposedFiles(dir)
	if err != nil || len(got) != 2 || !strings.Contains(got[0], "0750") || !strings.Contains(got[1], kid+privSuffix) {
		t.Fatalf("ExposedFiles = %q, %v; want the directory and the private key", got, err)
	}
}
