package stamp

import (
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Key directory layout:
//
//	active          the kid of the signing key, one line
//	<kid>.key.pem   PKCS#8 private key ("PRIVATE KEY"), mode 0600: the active key
//	<kid>.pub.pem   PKIX public key ("PUBLIC KEY"): a retired key, verifies only
//
// Other names are ignored, so the directory can be a Kubernetes secret volume (whose
// entries are symbolic links into a hidden ..data directory).
const (
	activeFile = "active"
	privSuffix = ".key.pem"
	pubSuffix  = ".pub.pem"
)

// LoadDir reads the key ring kept in dir. The kid in the active file must have a
// private key file; every other key verifies only, including a private key file left
// for a retired kid by an interrupted Rotate. Each file name must match the thumbprint
// of the key inside it.
func LoadDir(dir string) (*KeyRing, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("stamp: reading key directory: %w", err)
	}
	b, err := os.ReadFile(filepath.Join(dir, activeFile))
	if err != nil {
		return nil, fmt.Errorf("stamp: reading active key id: %w", err)
	}
	activeKID := strings.TrimSpace(string(b))
	if !validKID(activeKID) {
		return nil, fmt.Errorf("stamp: %s: %q is not a key id", filepath.Join(dir, activeFile), activeKID)
	}
	var active *Key
	var others []*Key
	for _, e := range entries {
		name := e.Name()
		var kid string
		var private bool
		switch {
		case strings.HasSuffix(name, privSuffix):
			kid, private = strings.TrimSuffix(name, privSuffix), true
		case strings.HasSuffix(name, pubSuffix):
			kid = strings.TrimSuffix(name, pubSuffix)
		default:
			continue
		}
		if e.IsDir() || strings.HasPrefix(name, ".") {
			continue
		}
		path := filepath.Join(dir, name)
		k, err := readKeyFile(path, private)
		if err != nil {
			return nil, err
		}
		if k.kid != kid {
			return nil, fmt.Errorf("stamp: %s holds key %s: file name and key do not match", path, k.kid)
		}
		if private && kid == activeKID {
			active = k
		} else {
			others = append(others, k)
		}
	}
	if active == nil {
		return nil, fmt.Errorf("stamp: active key %s has no private key file %s in %s", activeKID, activeKID+privSuffix, dir)
	}
	return NewKeyRing(active, others...)
}

// LoadOrCreateDir loads the key ring in dir like LoadDir. If dir does not exist, or
// holds neither an active file nor any key file, it creates dir (mode 0700) with a new
// active key and reports created. This is for a developer's first run; in production
// the directory is provisioned ("sportello keys") and mounted, and LoadDir is enough.
func LoadOrCreateDir(dir string) (ring *KeyRing, created bool, err error) {
	entries, err := os.ReadDir(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return nil, false, fmt.Errorf("stamp: reading key directory: %w", err)
	default:
		for _, e := range entries {
			if n := e.Name(); n == activeFile || strings.HasSuffix(n, privSuffix) || strings.HasSuffix(n, pubSuffix) {
				ring, err := LoadDir(dir)
				return ring, false, err
			}
		}
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, false, fmt.Errorf("stamp: creating key directory: %w", err)
	}
	// MkdirAll leaves an existing (empty) directory as it was: the ring about to be
	// written there holds a private key, so make it owner-only.
	if err := os.Chmod(dir, 0o700); err != nil {
		return nil, false, fmt.Errorf("stamp: key directory: %w", err)
	}
	k, err := GenerateKey()
	if err != nil {
		return nil, false, err
	}
	if err := writePrivate(dir, k); err != nil {
		return nil, false, err
	}
	if err := writeAtomic(filepath.Join(dir, activeFile), []byte(k.kid+"\n"), 0o644); err != nil {
		return nil, false, err
	}
	ring, err = NewKeyRing(k)
	return ring, true, err
}

// Rotate makes a new key the active key of the ring in dir and returns its kid. The
// previous active key is retired: its public key is written to <kid>.pub.pem and its
// private key file is removed, so it still verifies the stamps it made but can no
// longer sign. Each step leaves a directory that LoadDir accepts. Processes that
// loaded the ring before keep signing with the old key until they load it again.
// Do not run two Rotate on one directory at once.
func Rotate(dir string) (newKID string, err error) {
	ring, err := LoadDir(dir)
	if err != nil {
		return "", err
	}
	old := ring.active
	k, err := GenerateKey()
	if err != nil {
		return "", err
	}
	if err := writePrivate(dir, k); err != nil {
		return "", err
	}
	if err := writePublic(dir, old); err != nil {
		return "", err
	}
	if err := writeAtomic(filepath.Join(dir, activeFile), []byte(k.kid+"\n"), 0o644); err != nil {
		return "", err
	}
	if err := os.Remove(filepath.Join(dir, old.kid+privSuffix)); err != nil {
		return "", fmt.Errorf("stamp: removing retired private key: %w", err)
	}
	syncDir(dir)
	return k.kid, nil
}

// readKeyFile parses a PEM key file. Private key files may be PKCS#8 ("PRIVATE KEY",
// what this package writes) or SEC 1 ("EC PRIVATE KEY", what openssl ecparam writes).
func readKeyFile(path string, private bool) (*Key, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("stamp: reading key: %w", err)
	}
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			return nil, fmt.Errorf("stamp: %s: no key in PEM file", path)
		}
		var k *Key
		switch {
		case private && block.Type == "PRIVATE KEY":
			var raw any
			if raw, err = x509.ParsePKCS8PrivateKey(block.Bytes); err == nil {
				priv, ok := raw.(*ecdsa.PrivateKey)
				if !ok {
					return nil, fmt.Errorf("stamp: %s: %T is not an ECDSA key", path, raw)
				}
				k, err = NewSigningKey(priv)
			}
		case private && block.Type == "EC PRIVATE KEY":
			var priv *ecdsa.PrivateKey
			if priv, err = x509.ParseECPrivateKey(block.Bytes); err == nil {
				k, err = NewSigningKey(priv)
			}
		case !private && block.Type == "PUBLIC KEY":
			var raw any
			if raw, err = x509.ParsePKIXPublicKey(block.Bytes); err == nil {
				pub, ok := raw.(*ecdsa.PublicKey)
				if !ok {
					return nil, fmt.Errorf("stamp: %s: %T is not an ECDSA key", path, raw)
				}
				k, err = NewVerifyKey(pub)
			}
		default:
			continue // e.g. "EC PARAMETERS" before the key
		}
		if err != nil {
			return nil, fmt.Errorf("stamp: %s: %w", path, err)
		}
		return k, nil
	}
}

func writePrivate(dir string, k *Key) error {
	der, err := x509.MarshalPKCS8PrivateKey(k.priv)
	if err != nil {
		return fmt.Errorf("stamp: encoding private key: %w", err)
	}
	data := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	return writeAtomic(filepath.Join(dir, k.kid+privSuffix), data, 0o600)
}

func writePublic(dir string, k *Key) error {
	der, err := x509.MarshalPKIXPublicKey(k.pub)
	if err != nil {
		return fmt.Errorf("stamp: encoding public key: %w", err)
	}
	data := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	return writeAtomic(filepath.Join(dir, k.kid+pubSuffix), data, 0o644)
}

// writeAtomic writes a file through a temporary file in the same directory, synced and
// renamed into place, so that a crash leaves the old content or the new, never half.
// The temporary name starts with a dot, which LoadDir ignores.
func writeAtomic(path string, data []byte, perm os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".tmp-"+filepath.Base(path)+"-*")
	if err != nil {
		return fmt.Errorf("stamp: writing %s: %w", path, err)
	}
	tmp := f.Name()
	err = f.Chmod(perm)
	if err == nil {
		_, err = f.Write(data)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("stamp: writing %s: %w", path, err)
	}
	syncDir(filepath.Dir(path))
	return nil
}

// syncDir flushes directory entries (renames, removals) to disk, where the platform
// allows it; failure only weakens durability, so it is ignored.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}

// ExposedFiles lists what in the key directory anyone but its owner can reach: the
// directory itself when group or others may list or enter it, and each private key
// file (*.key.pem) that group or others may read. Public key files and the active
// file are public by nature and not listed. The portal logs a warning for each at
// start; `sportello keys init` creates the directory 0700 and private keys 0600.
func ExposedFiles(dir string) ([]string, error) {
	st, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("stamp: key directory: %w", err)
	}
	var out []string
	if st.Mode().Perm()&0o077 != 0 {
		out = append(out, fmt.Sprintf("%s (mode %04o, want 0700)", dir, st.Mode().Perm()))
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("stamp: reading key directory: %w", err)
	}
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), privSuffix) || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		path := filepath.Join(dir, e.Name())
		fi, err := os.Stat(path) // follows the links of a Kubernetes secret volume
		if err != nil {
			return nil, fmt.Errorf("stamp: %w", err)
		}
		if fi.Mode().Perm()&0o077 != 0 {
			out = append(out, fmt.Sprintf("%s (mode %04o, want 0600)", path, fi.Mode().Perm()))
		}
	}
	return out, nil
}
