package e2e

import (
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
)

// Account is what a journey needs to log in with the comune's own credentials.
type Account struct {
	Username string
	Password string
	// Name is the holder's display name ("Giulia Bianchi"), when known.
	Name string
	// FiscalCode is the citizen's codice fiscale, when known.
	FiscalCode string
	// Role is the staff role printed by `sportello demo` (such as urp_operator); empty
	// for citizens.
	Role string
	// TOTPSecret is the base32 secret of the account's authenticator app; empty when
	// the account logs in without a second factor.
	TOTPSecret string
}

// Staff reports whether the account is a staff member's (it has a role).
func (a Account) Staff() bool { return a.Role != "" }

// Lines of `sportello demo` that describe the demo accounts.
var (
	demoPasswordLine = regexp.MustCompile(`Demo accounts \(password "([^"]+)"`)
	demoCitizenLine  = regexp.MustCompile(`(?m)^\s*citizen\s+(\S+)\s+(.+?), codice fiscale ([A-Z0-9]{16})\s*$`)
	demoStaffLine    = regexp.MustCompile(`(?m)^\s*staff\s+(\S+)\s+role\s+(\S+)\s+TOTP secret ([A-Z2-7]+)\s*$`)
)

// DemoAccounts returns the demo accounts that `sportello demo` printed (Portal.
// DemoOutput), by username. It fails t when the output lists none. (The Portal
// methods that take a t may be called from subtests sharing the portal.)
func (p *Portal) DemoAccounts(t testing.TB) map[string]Account {
	t.Helper()
	m := demoPasswordLine.FindStringSubmatch(p.DemoOutput)
	if m == nil {
		t.Fatalf("e2e: `sportello demo` printed no demo accounts:\n%s", p.DemoOutput)
	}
	password := m[1]
	out := map[string]Account{}
	for _, c := range demoCitizenLine.FindAllStringSubmatch(p.DemoOutput, -1) {
		out[c[1]] = Account{Username: c[1], Password: password, Name: c[2], FiscalCode: c[3]}
	}
	for _, s := range demoStaffLine.FindAllStringSubmatch(p.DemoOutput, -1) {
		out[s[1]] = Account{Username: s[1], Password: password, Role: s[2], TOTPSecret: s[3]}
	}
	return out
}

// DemoAccount returns the demo account username, failing t when `sportello demo`
// did not print it.
func (p *Portal) DemoAccount(t testing.TB, username string) Account {
	t.Helper()
	a, ok := p.DemoAccounts(t)[username]
	if !ok {
		t.Fatalf("e2e: `sportello demo` printed no account %q:\n%s", username, p.DemoOutput)
	}
	return a
}

// TOTP parameters of the portal (RFC 6238 defaults) and the skew its server accepts
// (one step either side).
const (
	totpPeriod = 30
	totpSkew   = 1
)

// totpState remembers, per secret, the last time step whose code was handed out: the
// portal accepts each step once per account, and only a later one after it.
type totpState struct {
	mu    sync.Mutex
	floor int64            // steps up to this one may have been used by `sportello demo`
	used  map[string]int64 // secret → last step handed out
}

// TOTPCode returns a code of the secret that the portal will accept now: for a time
// step later than any used before with this secret, through this Portal or by
// `sportello demo` (which enrols the demo staff with the code of the then current
// step). That is normally the current step or the next one (the server accepts one step
// of skew); when both are spent it waits for the next step. Ask for the code just
// before typing it. Failures and waits are reported on t.
func (p *Portal) TOTPCode(t testing.TB, secret string) string {
	t.Helper()
	p.totp.mu.Lock()
	defer p.totp.mu.Unlock()
	if p.totp.used == nil {
		p.totp.used = map[string]int64{}
	}
	last, ok := p.totp.used[secret]
	if !ok {
		last = p.totp.floor
	}
	now := time.Now().Unix() / totpPeriod
	step := max(last+1, now)
	if step > now+totpSkew {
		wait := time.Until(time.Unix((step-totpSkew)*totpPeriod, 0))
		t.Logf("e2e: TOTP steps up to %d are used: waiting %s for the next one", last, wait.Round(time.Second))
		time.Sleep(wait)
	}
	code, err := totp.GenerateCodeCustom(secret, time.Unix(step*totpPeriod, 0), totp.ValidateOpts{
		Period: totpPeriod, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		t.Fatalf("e2e: TOTP code of secret %q: %v", secret, err)
	}
	p.totp.used[secret] = step
	return code
}
