package accounts

import (
	"context"
	"slices"
	"time"

	"gorm.io/gorm/clause"

	"github.com/comuni-italiani/sportello/app/audit"
)

// Lockout policy.
const (
	// UserLockThreshold is the number of consecutive failures for one username after
	// which every further failure locks it.
	UserLockThreshold = 5
	// UserLockBase is the first lock; each further failure doubles it.
	UserLockBase = time.Minute
	// UserLockMax caps the lock.
	UserLockMax = time.Hour
	// UserFailureMemory: failures older than this (since the last one) are forgotten.
	UserFailureMemory = 24 * time.Hour
	// IPLockThreshold failures from one address within IPWindow lock it for IPLock.
	IPLockThreshold = 20
	// IPWindow is the window IP failures are counted in.
	IPWindow = 15 * time.Minute
	// IPLock is how long an address stays locked.
	IPLock = 15 * time.Minute
)

// UserLockDelay is how long a username is locked after its n-th consecutive failure
// (0 below the threshold): 1, 2, 4, ... minutes, at most an hour.
func UserLockDelay(n int) time.Duration {
	if n < UserLockThreshold {
		return 0
	}
	shift := n - UserLockThreshold
	if shift >= 6 { // 64 minutes already passes the cap
		return UserLockMax
	}
	return min(UserLockBase<<shift, UserLockMax)
}

type throttlePolicy struct {
	// staleColumn is compared with now-window to restart the count: "updated_at"
	// (forget after a quiet period) or "window_start" (fixed window).
	staleColumn string
	window      time.Duration
	lockFor     func(n int) time.Duration
}

var (
	userPolicy = throttlePolicy{staleColumn: "updated_at", window: UserFailureMemory, lockFor: UserLockDelay}
	ipPolicy   = throttlePolicy{staleColumn: "window_start", window: IPWindow, lockFor: func(n int) time.Duration {
		if n >= IPLockThreshold {
			return IPLock
		}
		return 0
	}}
)

func userKey(username string) string { return "user:" + normalizeUsername(username) }

func ipKey(ip string) string {
	if ip == "" {
		return ""
	}
	return "ip:" + ip
}

// lockedUntil returns the latest lock in force at now among keys (empty keys are
// ignored), or the zero time. RequestPasswordReset uses it directly: it evaluates no
// secret, so it needs no reservation.
func (s *Service) lockedUntil(ctx context.Context, keys ...string) (time.Time, error) {
	var ks []string
	for _, k := range keys {
		if k != "" {
			ks = append(ks, k)
		}
	}
	var rows []throttleRow
	if err := s.db.WithContext(ctx).Where("throttle_key IN ?", ks).Find(&rows).Error; err != nil {
		return time.Time{}, internal("read lockout", err)
	}
	now := s.now()
	var until time.Time
	for _, r := range rows {
		if r.LockedUntil != nil && r.LockedUntil.After(now) && r.LockedUntil.After(until) {
			until = r.LockedUntil.UTC()
		}
	}
	return until, nil
}

// lockSteps lists, from the highest, the counts at which the policy's lock changes
// and the lock from that count on (lockFor is non-decreasing and constant past its
// last step).
func (p throttlePolicy) lockSteps() []struct {
	n int
	d time.Duration
} {
	var steps []struct {
		n int
		d time.Duration
	}
	prev := time.Duration(0)
	for n := 1; n <= 1000; n++ {
		if d := p.lockFor(n); d != prev {
			steps = append(steps, struct {
				n int
				d time.Duration
			}{n, d})
			prev = d
		}
	}
	slices.Reverse(steps)
	return steps
}

// reservation is one counter an attempt took before its secret was checked.
type reservation struct {
	key string
	// n is the count including this attempt; until the lock it imposed (zero if none).
	n     int
	until time.Time
}

// attempt is an authentication attempt admitted by reserve: every counter it took
// already counts it as a failure, so no burst of parallel guesses gets more attempts
// evaluated than the thresholds allow. A success gives the reservations back
// (release) or clears the username's count (succeed); a failure only audits (fail).
type attempt struct {
	s    *Service
	ip   string
	user *reservation
	addr *reservation
}

// reserveKey counts one attempt against key, atomically and only while no lock is in
// force, and imposes in the same statement the lock the new count calls for. The
// boolean is false when a lock is in force: the attempt must not be evaluated.
//
// This is the admission check and the failure count in one conditional UPDATE ...
// RETURNING: the check-then-hash-then-count order it replaces let a burst of parallel
// guesses all pass the check before any failure was recorded.
func (s *Service) reserveKey(ctx context.Context, key string, p throttlePolicy) (*reservation, bool, error) {
	// A success elsewhere may delete the row between our INSERT and UPDATE: that is no
	// lock, so count again (a few times: each retry needs another concurrent success).
	for range 3 {
		res, ok, err := s.reserveKeyOnce(ctx, key, p)
		if err != nil || ok {
			return res, ok, err
		}
		until, err := s.lockedUntil(ctx, key)
		if err != nil {
			return nil, false, err
		}
		if !until.IsZero() {
			return nil, false, nil
		}
	}
	return nil, false, nil
}

// reserveKeyOnce is one try of reserveKey: false also when the row was deleted.
func (s *Service) reserveKeyOnce(ctx context.Context, key string, p throttlePolicy) (res *reservation, ok bool, err error) {
	now := s.now()
	db := s.db.WithContext(ctx)
	if err := db.Clauses(clause.OnConflict{DoNothing: true}).
		Create(&throttleRow{Key: key, WindowStart: now, UpdatedAt: now}).Error; err != nil {
		return nil, false, internal("count attempt", err)
	}
	stale := now.Add(-p.window)
	// staleColumn is one of two constants, never input.
	newN := `(CASE WHEN ` + p.staleColumn + ` < ? THEN 1 ELSE failures + 1 END)`
	lock := "CASE"
	var lockArgs []any
	for _, st := range p.lockSteps() {
		lock += " WHEN " + newN + " >= ? THEN ?"
		lockArgs = append(lockArgs, stale, st.n, now.Add(st.d))
	}
	// ELSE keeps the old value, which is not in force (the WHERE says so): a NULL
	// here would leave PostgreSQL no type to infer for the CASE.
	lock += " ELSE locked_until END"
	args := []any{stale, stale, now}
	args = append(args, lockArgs...)
	args = append(args, now, key, now)
	var ns []int
	err = db.Raw(`UPDATE auth_throttle
SET failures = `+newN+`,
    window_start = CASE WHEN `+p.staleColumn+` < ? THEN ? ELSE window_start END,
    locked_until = `+lock+`,
    updated_at = ?
WHERE throttle_key = ? AND (locked_until IS NULL OR locked_until <= ?)
RETURNING failures`, args...).Scan(&ns).Error
	if err != nil {
		return nil, false, internal("count attempt", err)
	}
	if len(ns) == 0 {
		return nil, false, nil
	}
	res = &reservation{key: key, n: ns[0]}
	if d := p.lockFor(res.n); d > 0 {
		res.until = now.Add(d)
	}
	return res, true, nil
}

// unreserve gives one reservation back: the attempt it counted turned out not to be a
// failure. A lock the reservation imposed is lifted with it (while it is in force no
// other attempt can have been counted, hence the condition on the count).
func (s *Service) unreserve(ctx context.Context, r *reservation) error {
	if r == nil {
		return nil
	}
	db := s.db.WithContext(context.WithoutCancel(ctx))
	var err error
	if !r.until.IsZero() {
		err = db.Exec(`UPDATE auth_throttle SET failures = failures - 1, locked_until = NULL
WHERE throttle_key = ? AND failures = ?`, r.key, r.n).Error
	} else {
		err = db.Exec(`UPDATE auth_throttle SET failures = failures - 1
WHERE throttle_key = ? AND failures > 0`, r.key).Error
	}
	if err != nil {
		return internal("release attempt", err)
	}
	return nil
}

// reserve admits an attempt for username (if not empty) from ip (if not empty), or
// returns ErrLocked while either is locked. The username is reserved first, so a
// locked account costs the address nothing; an address found locked gives the
// username's reservation back.
func (s *Service) reserve(ctx context.Context, username, ip string) (*attempt, error) {
	at := &attempt{s: s, ip: ip}
	if username != "" {
		r, ok, err := s.reserveKey(ctx, userKey(username), userPolicy)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, ErrLocked
		}
		at.user = r
	}
	if k := ipKey(ip); k != "" {
		r, ok, err := s.reserveKey(ctx, k, ipPolicy)
		if err == nil && !ok {
			err = ErrLocked
		}
		if err != nil {
			if uerr := s.unreserve(ctx, at.user); uerr != nil {
				return nil, uerr
			}
			return nil, err
		}
		at.addr = r
	}
	return at, nil
}

// release gives every reservation of the attempt back: it was not a failure (the
// right secret, with a step still to come).
func (at *attempt) release(ctx context.Context) error {
	if err := at.s.unreserve(ctx, at.user); err != nil {
		return err
	}
	return at.s.unreserve(ctx, at.addr)
}

// succeed ends a successful attempt: the username's count is cleared (the growing
// delay starts again) and the address's reservation given back.
func (at *attempt) succeed(ctx context.Context) error {
	if at.user != nil {
		if err := at.s.clearThrottle(context.WithoutCancel(ctx), at.user.key); err != nil {
			return err
		}
	}
	return at.s.unreserve(ctx, at.addr)
}

// fail records a failed attempt (password, TOTP, activation code, reset token): its
// reservations already counted it, so only the audit log is written, with any lockout
// the attempt caused. r is the account, nil if the username is unknown.
func (at *attempt) fail(ctx context.Context, action string, r *accountRow, details map[string]any) {
	s := at.s
	if details == nil {
		details = map[string]any{}
	}
	if at.user != nil {
		details["failures"] = at.user.n
		if r == nil {
			details["account"] = "unknown"
		}
	}
	s.auditNow(ctx, anonymous, action, r, at.ip, "denied", details)
	if at.user != nil && !at.user.until.IsZero() {
		s.auditNow(ctx, actor{audit.ActorSystem, "accounts"}, ActLockout, r, at.ip, "denied", map[string]any{
			"scope": "account", "failures": at.user.n, "until": at.user.until.Format(time.RFC3339)})
		s.log.WarnContext(ctx, "account locked after repeated failures", "failures", at.user.n, "until", at.user.until)
	}
	if at.addr != nil && !at.addr.until.IsZero() {
		s.auditNow(ctx, actor{audit.ActorSystem, "accounts"}, ActLockout, nil, at.ip, "denied", map[string]any{
			"scope": "ip", "until": at.addr.until.Format(time.RFC3339)})
		s.log.WarnContext(ctx, "client address locked after repeated failures", "ip", at.ip, "until", at.addr.until)
	}
}

// clearThrottle forgets the failures of key.
func (s *Service) clearThrottle(ctx context.Context, key string) error {
	if err := s.db.WithContext(ctx).Where("throttle_key = ?", key).Delete(&throttleRow{}).Error; err != nil {
		return internal("clear lockout", err)
	}
	return nil
}
