package accounts_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/comuni-italiani/sportello/app/accounts"
	"github.com/comuni-italiani/sportello/app/notify"
	"github.com/comuni-italiani/sportello/app/roles"
	"github.com/comuni-italiani/sportello/app/store/storetest"
)

// burstSize is how many attempts each race test sends at once.
const burstSize = 50

// gatedEvals counts the secrets the service evaluates and holds every evaluation at a
// gate until open is called, so that a whole burst is in flight at the same time:
// every attempt is either refused or waiting inside the evaluation.
type gatedEvals struct {
	n    atomic.Int32
	gate chan struct{}
	once sync.Once
}

func gateEvals(svc *accounts.Service, kind string) *gatedEvals {
	g := &gatedEvals{gate: make(chan struct{})}
	accounts.SetEvalHook(svc, func(k string) {
		if k == kind {
			g.n.Add(1)
			<-g.gate
		}
	})
	return g
}

func (g *gatedEvals) open() { g.once.Do(func() { close(g.gate) }) }

// burst runs attempt(i) for i in [0, n) at once. It waits until every attempt has
// either returned or is held in an evaluation, opens the gate and returns the errors.
func burst(t *testing.T, g *gatedEvals, n int, attempt func(i int) error) []error {
	t.Helper()
	defer g.open()
	errs := make([]error, n)
	var returned atomic.Int32
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			errs[i] = attempt(i)
			returned.Add(1)
		})
	}
	close(start)
	deadline := time.Now().Add(30 * time.Second)
	for int(returned.Load()+g.n.Load()) < n {
		if time.Now().After(deadline) {
			t.Fatalf("burst stuck: %d returned, %d evaluating", returned.Load(), g.n.Load())
		}
		time.Sleep(2 * time.Millisecond)
	}
	g.open()
	wg.Wait()
	return errs
}

// tally counts errs by the sentinel they match ("nil" for success).
func tally(errs []error, sentinels ...error) map[string]int {
	out := map[string]int{}
	for _, err := range errs {
		name := "other: "
		if err == nil {
			name = "nil"
		} else {
			name += err.Error()
		}
		for _, s := range sentinels {
			if errors.Is(err, s) {
				name = s.Error()
				break
			}
		}
		out[name]++
	}
	return out
}

// within runs f and fails the test if it does not return in time (an evaluation held
// at a closed gate would never return).
func within(t *testing.T, f func() error) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- f() }()
	select {
	case err := <-done:
		return err
	case <-time.After(20 * time.Second):
		t.Fatal("the attempt was evaluated while the account was reserved up to its threshold")
		return nil
	}
}

func TestLoginBurstPerAccount(t *testing.T) {
	storetest.Each(t, migrations(), func(t *testing.T, db *gorm.DB) {
		e := newEnv(t, db)
		a := e.activeCitizen()
		g := gateEvals(e.svc, "hash")
		var rightErr error
		errs := burst(t, g, burstSize, func(i int) error {
			if i == burstSize-1 {
				// The right password, sent while the wrong ones hold every evaluation
				// the threshold allows: it must not be evaluated, nor log in.
				for g.n.Load() < accounts.UserLockThreshold {
					time.Sleep(time.Millisecond)
				}
				rightErr = within(t, func() error {
					_, err := e.svc.Authenticate(e.ctx, "mario.rossi", goodPassword, "203.0.113.200")
					return err
				})
				return rightErr
			}
			_, err := e.svc.Authenticate(e.ctx, "mario.rossi", fmt.Sprintf("sbagliata %d", i), fmt.Sprintf("203.0.113.%d", i))
			return err
		})
		if got := int(g.n.Load()); got != accounts.UserLockThreshold {
			t.Fatalf("%d passwords evaluated in a burst of %d, want %d", got, burstSize, accounts.UserLockThreshold)
		}
		wantErr(t, rightErr, accounts.ErrLocked)
		c := tally(errs, accounts.ErrInvalidCredentials, accounts.ErrLocked)
		if c[accounts.ErrInvalidCredentials.Error()] != accounts.UserLockThreshold || c[accounts.ErrLocked.Error()] != burstSize-accounts.UserLockThreshold {
			t.Fatalf("answers: %v", c)
		}
		// The right password after the burst is still refused: the lock stands.
		_, err := e.svc.Authenticate(e.ctx, "mario.rossi", goodPassword, "203.0.113.201")
		wantErr(t, err, accounts.ErrLocked)
		if n := len(e.events(accounts.ActLoginFailed)); n != accounts.UserLockThreshold {
			t.Fatalf("failures audited: %d", n)
		}
		if n := len(e.events(accounts.ActLockout)); n != 1 {
			t.Fatalf("lockouts audited: %d", n)
		}
		if n := len(e.events(accounts.ActLogin)); n != 0 {
			t.Fatalf("logins audited: %d", n)
		}
		got, _ := e.svc.Get(e.ctx, a.ID)
		if got.FailedLogins != accounts.UserLockThreshold || !got.Locked(e.clk.Now()) {
			t.Fatalf("account after the burst: %d failures, locked until %v", got.FailedLogins, got.LockedUntil)
		}
		// After the lock the right password logs in and clears the count.
		e.clk.Advance(accounts.UserLockBase)
		accounts.SetEvalHook(e.svc, nil)
		if _, err := e.svc.Authenticate(e.ctx, "mario.rossi", goodPassword, "203.0.113.201"); err != nil {
			t.Fatalf("after the lock: %v", err)
		}
		if got, _ := e.svc.Get(e.ctx, a.ID); got.FailedLogins != 0 {
			t.Fatalf("count after success: %d", got.FailedLogins)
		}
	})
}

func TestLoginBurstPerAddress(t *testing.T) {
	storetest.Each(t, migrations(), func(t *testing.T, db *gorm.DB) {
		e := newEnv(t, db)
		e.activeCitizen()
		g := gateEvals(e.svc, "hash")
		errs := burst(t, g, burstSize, func(i int) error {
			user, pw := fmt.Sprintf("spray.%02d", i), "password qualsiasi"
			if i == burstSize-1 {
				user, pw = "mario.rossi", goodPassword
			}
			_, err := e.svc.Authenticate(e.ctx, user, pw, "198.51.100.77")
			return err
		})
		if got := int(g.n.Load()); got > accounts.IPLockThreshold {
			t.Fatalf("%d passwords evaluated from one address in a burst of %d, want at most %d", got, burstSize, accounts.IPLockThreshold)
		}
		c := tally(errs, accounts.ErrInvalidCredentials, accounts.ErrLocked)
		// Every attempt is either evaluated or refused as locked; the right password,
		// if it was among the first twenty, logged in (and gave its reservation back).
		if c[accounts.ErrInvalidCredentials.Error()]+c["nil"] != int(g.n.Load()) ||
			c[accounts.ErrLocked.Error()] != burstSize-int(g.n.Load()) || c["nil"] > 1 {
			t.Fatalf("answers: %v (%d evaluated)", c, g.n.Load())
		}
		if c["nil"] == 0 && int(g.n.Load()) != accounts.IPLockThreshold {
			t.Fatalf("%d evaluated, want exactly %d", g.n.Load(), accounts.IPLockThreshold)
		}
		// The address is locked now, for every username.
		accounts.SetEvalHook(e.svc, nil)
		_, err := e.svc.Authenticate(e.ctx, "altro.utente", "password qualsiasi", "198.51.100.77")
		if c["nil"] == 0 {
			wantErr(t, err, accounts.ErrLocked)
		}
		found := false
		for _, ev := range e.events(accounts.ActLockout) {
			found = found || ev.IP == "198.51.100.77"
		}
		if !found {
			t.Fatal("address lockout not audited")
		}
	})
}

// activeStaff creates l.verdi with TOTP confirmed and activated; it returns the
// account and the TOTP secret.
func (e *env) activeStaff() (*accounts.Account, string) {
	e.t.Helper()
	a, cred, err := e.svc.CreateStaff(e.ctx, "admin1", accounts.StaffInput{Username: "L.Verdi", GivenName: "Lucia",
		FamilyName: "Verdi", Email: "l.verdi@comune.example", Roles: []string{roles.URP}})
	if err != nil {
		e.t.Fatal(err)
	}
	secret, _, err := e.svc.BeginTOTP(e.ctx, a.ID)
	if err != nil {
		e.t.Fatal(err)
	}
	if err := e.svc.ConfirmTOTP(e.ctx, a.ID, e.code(secret)); err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.svc.Activate(e.ctx, "l.verdi", cred.ActivationCode, goodPassword, "10.0.0.2"); err != nil {
		e.t.Fatal(err)
	}
	e.clk.Advance(TOTPStep)
	return a, secret
}

// TOTPStep is one TOTP period.
const TOTPStep = accounts.TOTPPeriod * time.Second

func TestTOTPBurst(t *testing.T) {
	storetest.Each(t, migrations(), func(t *testing.T, db *gorm.DB) {
		e := newEnv(t, db)
		a, secret := e.activeStaff()
		if _, err := e.svc.Authenticate(e.ctx, "l.verdi", goodPassword, "10.0.0.2"); err != nil {
			t.Fatal(err)
		}
		right := e.code(secret)
		wrong := fmt.Sprintf("%06d", (atoiCode(right)+1)%1000000)
		g := gateEvals(e.svc, "totp")
		var rightErr error
		errs := burst(t, g, burstSize, func(i int) error {
			if i == burstSize-1 {
				for g.n.Load() < accounts.UserLockThreshold {
					time.Sleep(time.Millisecond)
				}
				rightErr = within(t, func() error { return e.svc.VerifyTOTP(e.ctx, a.ID, right, "10.0.0.2") })
				return rightErr
			}
			return e.svc.VerifyTOTP(e.ctx, a.ID, wrong, fmt.Sprintf("10.9.0.%d", i))
		})
		if got := int(g.n.Load()); got != accounts.UserLockThreshold {
			t.Fatalf("%d TOTP codes compared in a burst of %d, want %d", got, burstSize, accounts.UserLockThreshold)
		}
		wantErr(t, rightErr, accounts.ErrLocked)
		c := tally(errs, accounts.ErrInvalidTOTP, accounts.ErrLocked)
		if c[accounts.ErrInvalidTOTP.Error()] != accounts.UserLockThreshold || c[accounts.ErrLocked.Error()] != burstSize-accounts.UserLockThreshold {
			t.Fatalf("answers: %v", c)
		}
		if n := len(e.events(accounts.ActTOTPFailed)); n != accounts.UserLockThreshold {
			t.Fatalf("TOTP failures audited: %d", n)
		}

		// A code works once, however many send it at the same time.
		accounts.SetEvalHook(e.svc, nil)
		if err := e.svc.Unlock(e.ctx, "op1", a.ID); err != nil {
			t.Fatal(err)
		}
		e.clk.Advance(TOTPStep)
		code := e.code(secret)
		results := make([]error, 20)
		var wg sync.WaitGroup
		for i := range results {
			wg.Go(func() { results[i] = e.svc.VerifyTOTP(context.Background(), a.ID, code, fmt.Sprintf("10.9.1.%d", i)) })
		}
		wg.Wait()
		if c := tally(results, accounts.ErrInvalidTOTP, accounts.ErrLocked); c["nil"] != 1 ||
			c["nil"]+c[accounts.ErrInvalidTOTP.Error()]+c[accounts.ErrLocked.Error()] != len(results) {
			t.Fatalf("one TOTP code sent 20 times at once: %v", c)
		}
	})
}

func atoiCode(s string) int {
	n := 0
	for _, r := range s {
		n = n*10 + int(r-'0')
	}
	return n
}

func TestActivationBurst(t *testing.T) {
	storetest.Each(t, migrations(), func(t *testing.T, db *gorm.DB) {
		e := newEnv(t, db)
		a := e.register(mario())
		cred := e.issue(a.ID)
		g := gateEvals(e.svc, "hash")
		errs := burst(t, g, burstSize, func(i int) error {
			_, err := e.svc.CheckActivation(e.ctx, "mario.rossi", "ACDE-FGHJ-KLMN", fmt.Sprintf("10.8.0.%d", i))
			return err
		})
		if got := int(g.n.Load()); got != accounts.UserLockThreshold {
			t.Fatalf("%d activation codes evaluated in a burst of %d, want %d", got, burstSize, accounts.UserLockThreshold)
		}
		c := tally(errs, accounts.ErrInvalidActivation, accounts.ErrLocked)
		if c[accounts.ErrInvalidActivation.Error()] != accounts.UserLockThreshold || c[accounts.ErrLocked.Error()] != burstSize-accounts.UserLockThreshold {
			t.Fatalf("answers: %v", c)
		}
		_, err := e.svc.Activate(e.ctx, "mario.rossi", cred.ActivationCode, goodPassword, "10.8.1.1")
		wantErr(t, err, accounts.ErrLocked)

		// A code activates once, however many use it at the same time.
		e.clk.Advance(accounts.UserLockBase)
		accounts.SetEvalHook(e.svc, nil)
		var wg sync.WaitGroup
		results := make([]error, 20)
		for i := range results {
			wg.Go(func() {
				_, results[i] = e.svc.Activate(context.Background(), "mario.rossi", cred.ActivationCode, goodPassword,
					fmt.Sprintf("10.8.2.%d", i))
			})
		}
		wg.Wait()
		if c := tally(results, accounts.ErrInvalidActivation, accounts.ErrLocked); c["nil"] != 1 ||
			c["nil"]+c[accounts.ErrInvalidActivation.Error()]+c[accounts.ErrLocked.Error()] != len(results) {
			t.Fatalf("concurrent activations with one code: %v", c)
		}
		if n := len(e.events(accounts.ActActivate)); n != 1 {
			t.Fatalf("activations audited: %d", n)
		}
	})
}

func TestResetTokenBurst(t *testing.T) {
	storetest.Each(t, migrations(), func(t *testing.T, db *gorm.DB) {
		e := newEnv(t, db)
		e.activeCitizen()
		var bad [burstSize]error
		var wg sync.WaitGroup
		for i := range burstSize {
			wg.Go(func() {
				bad[i] = e.svc.ResetPassword(e.ctx, fmt.Sprintf("token-inventato-%02d", i), "Nuova Password Lunga 8", "198.51.100.90")
			})
		}
		wg.Wait()
		c := tally(bad[:], accounts.ErrInvalidResetToken, accounts.ErrLocked)
		if c[accounts.ErrInvalidResetToken.Error()] != accounts.IPLockThreshold || c[accounts.ErrLocked.Error()] != burstSize-accounts.IPLockThreshold {
			t.Fatalf("answers: %v", c)
		}
		if n := len(e.events(accounts.ActResetFail)); n != accounts.IPLockThreshold {
			t.Fatalf("reset tokens looked up: %d audited failures, want %d", n, accounts.IPLockThreshold)
		}

		// A link works once, however many use it at the same time.
		if err := e.svc.RequestPasswordReset(e.ctx, "mario.rossi", "10.0.0.3"); err != nil {
			t.Fatal(err)
		}
		recs, _, err := notify.List(e.ctx, db, notify.ListFilter{})
		if err != nil || len(recs) != 1 {
			t.Fatalf("mails: %d %v", len(recs), err)
		}
		token := tokenInMail.FindStringSubmatch(recs[0].Text)[1]
		results := make([]error, 20)
		for i := range results {
			wg.Go(func() {
				results[i] = e.svc.ResetPassword(context.Background(), token, fmt.Sprintf("Nuova Password Lunga %d", i),
					fmt.Sprintf("10.7.0.%d", i))
			})
		}
		wg.Wait()
		if c := tally(results, accounts.ErrInvalidResetToken); c["nil"] != 1 || c[accounts.ErrInvalidResetToken.Error()] != len(results)-1 {
			t.Fatalf("concurrent resets with one link: %v", c)
		}
		if n := len(e.events(accounts.ActReset)); n != 1 {
			t.Fatalf("resets audited: %d", n)
		}
	})
}
