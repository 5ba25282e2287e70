package accounts

import (
	"context"
	"regexp"
	"strconv"
	"strings"
	"unicode"

	"golang.org/x/text/unicode/norm"
	"gorm.io/gorm"
)

// MaxUsernameLen is the longest username.
const MaxUsernameLen = 40

// staffUsername is the shape of a username chosen by an administrator.
var staffUsername = regexp.MustCompile(`^[a-z][a-z0-9._-]{2,39}$`)

// ValidStaffUsername reports whether u (already lower-case) is an acceptable staff
// username: 3-40 characters, a letter first, then letters, digits, '.', '_' or '-'.
func ValidStaffUsername(u string) bool { return staffUsername.MatchString(u) }

// normalizeUsername is how usernames are compared: trimmed, lower case.
func normalizeUsername(u string) string { return strings.ToLower(strings.TrimSpace(u)) }

// slug turns a name into plain lower-case ASCII letters: accents are dropped
// ("Nicolò" -> "nicolo"), spaces, apostrophes and anything else removed
// ("D'Angelo" -> "dangelo", "De Luca" -> "deluca").
func slug(name string) string {
	var b strings.Builder
	for _, r := range norm.NFD.String(strings.ToLower(name)) {
		switch {
		case r >= 'a' && r <= 'z':
			b.WriteRune(r)
		case unicode.Is(unicode.Mn, r):
			// combining accent: dropped
		case r == 'ß':
			b.WriteString("ss")
		case r == 'æ':
			b.WriteString("ae")
		case r == 'ø':
			b.WriteRune('o')
		}
	}
	return b.String()
}

// UsernameBase is the readable username for a person: "given.family" in plain
// lower-case letters, shortened to leave room for a number. Only the first given name
// is used ("Maria Grazia" -> "maria").
func UsernameBase(given, family string) string {
	first, _, _ := strings.Cut(strings.TrimSpace(given), " ")
	g, f := slug(first), slug(family)
	const room = MaxUsernameLen - 4 // digits for clashes
	switch {
	case g == "" && f == "":
		return "utente"
	case g == "":
		return truncate(f, room)
	case f == "":
		return truncate(g, room)
	}
	g = truncate(g, 15)
	f = truncate(f, room-1-len(g))
	return g + "." + f
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// freeUsername returns base, or base followed by the smallest number from 2 that no
// account uses. The unique index still decides races: callers retry on a clash.
func freeUsername(ctx context.Context, db *gorm.DB, base string) (string, error) {
	var taken []string
	err := db.WithContext(ctx).Model(&accountRow{}).
		Where("username = ? OR username LIKE ? ESCAPE '\\'", base, escapeLike(base)+"%").
		Pluck("username", &taken).Error
	if err != nil {
		return "", err
	}
	used := map[string]bool{}
	for _, u := range taken {
		used[u] = true
	}
	if !used[base] {
		return base, nil
	}
	for n := 2; ; n++ {
		if c := base + strconv.Itoa(n); !used[c] {
			return c, nil
		}
	}
}
