package accounts

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/subtle"
	_ "embed"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"
)

// HashParams are argon2id parameters. Hashes are stored in the PHC string format
// ("$argon2id$v=19$m=47104,t=2,p=1$<salt>$<key>"), which records the parameters, so
// they can change at any time: old hashes still verify and are replaced at the next
// successful login.
type HashParams struct {
	// Memory in KiB.
	Memory uint32
	// Time is the number of passes.
	Time uint32
	// Threads is the parallelism.
	Threads uint8
	// SaltLen and KeyLen in bytes.
	SaltLen, KeyLen uint32
}

// DefaultHashParams suit the reference server of 2 cores: 46 MiB of memory, 2 passes,
// 1 lane (the OWASP recommendation is at least 46 MiB with 1 pass, or 19 MiB with 2).
// Measured on the project's machine (AMD EPYC, 2 cores, Go 1.26): about 57 ms per hash
// (BenchmarkHashDefault). At most one hash per CPU runs at a time (the rest queue), so
// a burst of logins costs at most 92 MiB of memory.
var DefaultHashParams = HashParams{Memory: 46 * 1024, Time: 2, Threads: 1, SaltLen: 16, KeyLen: 32}

// MaxPasswordBytes bounds the work an attacker can ask for with a huge password.
const MaxPasswordBytes = 256

var b64 = base64.RawStdEncoding

// hash returns the PHC string of secret under the service's parameters.
func (s *Service) hash(secret string) (string, error) {
	return s.hashWith(s.o.Hash, secret)
}

func (s *Service) hashWith(p HashParams, secret string) (string, error) {
	salt := make([]byte, p.SaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	s.hashSem <- struct{}{}
	key := argon2.IDKey([]byte(secret), salt, p.Time, p.Memory, p.Threads, p.KeyLen)
	<-s.hashSem
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.Memory, p.Time, p.Threads,
		b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

var errBadHash = errors.New("accounts: malformed password hash")

// parsePHC reads an argon2id PHC string.
func parsePHC(phc string) (p HashParams, salt, key []byte, err error) {
	parts := strings.Split(phc, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return p, nil, nil, errBadHash
	}
	var version int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return p, nil, nil, errBadHash
	}
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.Memory, &p.Time, &p.Threads); err != nil {
		return p, nil, nil, errBadHash
	}
	if p.Memory == 0 || p.Time == 0 || p.Threads == 0 || p.Memory > 1<<22 || p.Time > 64 {
		return p, nil, nil, errBadHash
	}
	if salt, err = b64.DecodeString(parts[4]); err != nil || len(salt) < 8 {
		return p, nil, nil, errBadHash
	}
	if key, err = b64.DecodeString(parts[5]); err != nil || len(key) < 16 {
		return p, nil, nil, errBadHash
	}
	p.SaltLen, p.KeyLen = uint32(len(salt)), uint32(len(key))
	return p, salt, key, nil
}

// verify reports whether secret matches the PHC string, and whether the hash should be
// remade because it was made with other parameters.
func (s *Service) verify(phc, secret string) (ok, stale bool) {
	p, salt, key, err := parsePHC(phc)
	if err != nil {
		s.log.Error("unreadable password hash")
		return false, false
	}
	tooLong := len(secret) > MaxPasswordBytes
	if tooLong {
		// Same work as any other attempt, and never a match.
		secret = secret[:MaxPasswordBytes]
	}
	if s.evalHook != nil {
		s.evalHook("hash")
	}
	s.hashSem <- struct{}{}
	got := argon2.IDKey([]byte(secret), salt, p.Time, p.Memory, p.Threads, p.KeyLen)
	<-s.hashSem
	return subtle.ConstantTimeCompare(got, key) == 1 && !tooLong, p != s.o.Hash
}

// dummyHash is a hash of a random secret under the current parameters: verifying
// against it spends the same time as a real check, for unknown usernames.
func (s *Service) dummyHash() string {
	s.dummyOnce.Do(func() {
		b := make([]byte, 18)
		_, _ = rand.Read(b)
		h, err := s.hash(b64.EncodeToString(b))
		if err != nil {
			h = "$argon2id$v=19$m=1024,t=1,p=1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
		}
		s.dummy = h
	})
	return s.dummy
}

// MinPasswordLen is the shortest password accepted, in characters.
const MinPasswordLen = 10

// Password policy message keys.
const (
	PwTooShort         = "accounts.password.too_short"
	PwTooLong          = "accounts.password.too_long"
	PwTooCommon        = "accounts.password.too_common"
	PwHasUsername      = "accounts.password.contains_username"
	PwHasFiscalCode    = "accounts.password.contains_fiscal_code"
	PwHasName          = "accounts.password.contains_name"
	PwInvalidCharacter = "accounts.password.invalid_character"
)

//go:embed common_passwords.txt
var commonPasswordsFile string

var (
	commonOnce sync.Once
	common     map[string]bool
)

func commonPasswords() map[string]bool {
	commonOnce.Do(func() {
		common = map[string]bool{}
		sc := bufio.NewScanner(strings.NewReader(commonPasswordsFile))
		for sc.Scan() {
			line := strings.TrimSpace(sc.Text())
			if line != "" && !strings.HasPrefix(line, "#") {
				common[strings.ToLower(line)] = true
			}
		}
	})
	return common
}

// isCommon reports whether pw is in the common list, as it is or once the digits and
// symbols around it are stripped ("juventus1897", "!!forzainter!!"), or once spaces
// are removed ("ti amo tanto").
func isCommon(pw string) bool {
	list := commonPasswords()
	lower := strings.ToLower(pw)
	if list[lower] || list[strings.ReplaceAll(lower, " ", "")] {
		return true
	}
	core := strings.TrimFunc(lower, func(r rune) bool { return !unicode.IsLetter(r) })
	if utf8.RuneCountInString(core) >= 4 && list[strings.ReplaceAll(core, " ", "")] {
		return true
	}
	// Few distinct characters ("aaaaaaaaaa", "1212121212") or a keyboard or
	// alphabet run ("12345678901", "qwertyuiopa").
	distinct := map[rune]bool{}
	for _, r := range lower {
		distinct[r] = true
	}
	if len(distinct) < 4 {
		return true
	}
	for _, run := range keyboardRuns {
		if strings.Contains(run, lower) {
			return true
		}
	}
	return false
}

var keyboardRuns = []string{
	"01234567890123456789", "98765432109876543210", "abcdefghijklmnopqrstuvwxyz",
	"zyxwvutsrqponmlkjihgfedcba", "qwertyuiopasdfghjklzxcvbnm", "qwertzuiopasdfghjklyxcvbnm",
	"azertyuiopqsdfghjklmwxcvbn", "1qaz2wsx3edc4rfv5tgb6yhn", "qazwsxedcrfvtgbyhnujmikolp",
}

// CheckPassword applies the password policy for an account with username, tax code cf
// and name (given and family name; any may be empty). It returns nil or a
// *PasswordError.
func CheckPassword(pw, username, cf string, names ...string) error {
	if !utf8.ValidString(pw) || strings.ContainsFunc(pw, unicode.IsControl) {
		return &PasswordError{Key: PwInvalidCharacter}
	}
	if utf8.RuneCountInString(pw) < MinPasswordLen {
		return &PasswordError{Key: PwTooShort}
	}
	if len(pw) > MaxPasswordBytes {
		return &PasswordError{Key: PwTooLong}
	}
	lower := strings.ToLower(pw)
	squashed := strings.Map(func(r rune) rune {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			return r
		}
		return -1
	}, lower)
	if u := strings.ToLower(username); u != "" && (strings.Contains(lower, u) || strings.Contains(squashed, strings.ReplaceAll(u, ".", ""))) {
		return &PasswordError{Key: PwHasUsername}
	}
	if c := strings.ToLower(cf); c != "" && strings.Contains(squashed, c) {
		return &PasswordError{Key: PwHasFiscalCode}
	}
	if isCommon(pw) {
		return &PasswordError{Key: PwTooCommon}
	}
	for _, n := range names {
		for part := range strings.FieldsSeq(strings.ToLower(n)) {
			if utf8.RuneCountInString(part) >= 4 && strings.Contains(lower, part) && utf8.RuneCountInString(pw)-utf8.RuneCountInString(part) < MinPasswordLen {
				// The name plus a few characters is guessable; a long passphrase that
				// happens to contain it is fine.
				return &PasswordError{Key: PwHasName}
			}
		}
	}
	return nil
}

// checkPasswordFor applies the policy for the account in r.
func checkPasswordFor(pw string, r *accountRow) error {
	return CheckPassword(pw, r.Username, r.cf(), r.GivenName, r.FamilyName)
}

// SetPassword lets a logged-in user change their password: the current one must be
// right. Used by the provider's "change password" page.
func (s *Service) SetPassword(ctx context.Context, accountID int64, current, next, ip string) error {
	r, err := s.row(ctx, s.db, "id = ?", accountID)
	if err != nil {
		return err
	}
	if r.Status != string(StatusActive) || r.PasswordHash == "" {
		return ErrNotActive
	}
	if ok, _ := s.verify(r.PasswordHash, current); !ok {
		return ErrInvalidCredentials
	}
	if err := checkPasswordFor(next, r); err != nil {
		return err
	}
	h, err := s.hash(next)
	if err != nil {
		return internal("hash password", err)
	}
	now := s.now()
	return s.tx(ctx, func(tx *txn) error {
		res := tx.db.Model(&accountRow{}).Where("id = ? AND password_hash = ?", r.ID, r.PasswordHash).
			Updates(map[string]any{"password_hash": h, "password_changed_at": now, "updated_at": now})
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected != 1 {
			return ErrInvalidCredentials
		}
		return tx.audit(selfActor(r), "password.change", r, ip, nil)
	})
}
