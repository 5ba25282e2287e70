package secretbox

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// DevFileName is the file, in the data directory, that holds the system secret
// generated for development.
const DevFileName = "system-secret"

// LoadOrCreateFile reads the system secret kept in the file at path, creating the
// file (mode 0600, and its directory with mode 0700 when missing) with a new random
// secret when it does not exist. This is for development only: in production the
// secret is configured (secrets.system) and kept apart from the database.
func LoadOrCreateFile(path string) (secret string, created bool, err error) {
	b, err := os.ReadFile(path)
	if err == nil {
		s := strings.TrimSpace(string(b))
		if len(s) < MinSecretLen {
			return "", false, fmt.Errorf("secretbox: %s does not hold a system secret of at least %d characters", path, MinSecretLen)
		}
		return s, false, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return "", false, fmt.Errorf("secretbox: reading %s: %w", path, err)
	}
	dir := filepath.Dir(path)
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return "", false, fmt.Errorf("secretbox: creating %s: %w", dir, err)
		}
	}
	secret = Generate()
	// Written to a temporary file, then linked into place: os.Link fails when path
	// exists, so two processes starting at once on one data directory never each
	// keep their own secret (the loser reads the winner's), and nobody ever reads a
	// half-written file.
	f, err := os.CreateTemp(dir, ".tmp-"+filepath.Base(path)+"-*")
	if err != nil {
		return "", false, fmt.Errorf("secretbox: creating %s: %w", path, err)
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	// CreateTemp makes the file 0600; set it anyway in case a file system or a
	// future change thinks otherwise.
	err = f.Chmod(0o600)
	if err == nil {
		_, err = f.WriteString(secret + "\n")
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Link(tmp, path)
		if errors.Is(err, fs.ErrExist) {
			s, _, err := LoadOrCreateFile(path)
			return s, false, err
		}
	}
	if err != nil {
		return "", false, fmt.Errorf("secretbox: writing %s: %w", path, err)
	}
	return secret, true, nil
}

// ExposedTo returns "group", "others" or "group and others" when the file or
// directory at path can be read (or, for a directory, listed) by anyone but its
// owner, and "" when it is owner-only. Start-up uses it to warn about key files.
func ExposedTo(path string) (string, error) {
	st, err := os.Stat(path)
	if err != nil {
		return "", err
	}
	m := st.Mode().Perm()
	g, o := m&0o070 != 0, m&0o007 != 0
	switch {
	case g && o:
		return "group and others", nil
	case g:
		return "group", nil
	case o:
		return "others", nil
	}
	return "", nil
}
