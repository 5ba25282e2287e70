package accounts

import (
	"context"
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
// ignored), or the zero time.
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

// failure counts one failure against key and locks it if the policy says so. It
// returns how many failures the key has and the lock imposed (zero if none).
func (s *Service) failure(ctx context.Context, key string, p throttlePolicy) (int, time.Time, error) {
	if key == "" {
		return 0, time.Time{}, nil
	}
	now := s.now()
	db := s.db.WithContext(ctx)
	if err := db.Clauses(clause.OnConflict{DoNothing: true}).
		Create(&throttleRow{Key: key, WindowStart: now, UpdatedAt: now}).Error; err != nil {
		return 0, time.Time{}, internal("count failure", err)
	}
	stale := now.Add(-p.window)
	var n int
	// staleColumn is one of two constants, never input.
	err := db.Raw(`UPDATE auth_throttle
SET failures = CASE WHEN `+p.staleColumn+` < ? THEN 1 ELSE failures + 1 END,
    window_start = CASE WHEN `+p.staleColumn+` < ? THEN ? ELSE window_start END,
    updated_at = ?
WHERE throttle_key = ?
RETURNING failures`, stale, stale, now, now, key).Scan(&n).Error
	if err != nil {
		return 0, time.Time{}, internal("count failure", err)
	}
	d := p.lockFor(n)
	if d <= 0 {
		return n, time.Time{}, nil
	}
	until := now.Add(d)
	// Conditional on the count just read: of two racing failures the later one's lock
	// (the longer) stands.
	if err := db.Model(&throttleRow{}).Where("throttle_key = ? AND failures = ?", key, n).
		Update("locked_until", until).Error; err != nil {
		return n, time.Time{}, internal("lock", err)
	}
	return n, until, nil
}

// clearThrottle forgets the failures of key.
func (s *Service) clearThrottle(ctx context.Context, key string) error {
	if err := s.db.WithContext(ctx).Where("throttle_key = ?", key).Delete(&throttleRow{}).Error; err != nil {
		return internal("clear lockout", err)
	}
	return nil
}

// authFailure counts a failed authentication (password, TOTP, activation code, reset
// token) against the username (if any) and the IP, and audits the failure and any
// lockout it caused. r is the account, nil if the username is unknown.
func (s *Service) authFailure(ctx context.Context, action, username string, r *accountRow, ip string, details map[string]any) error {
	var userLock time.Time
	var n int
	if username != "" {
		var err error
		if n, userLock, err = s.failure(ctx, userKey(username), userPolicy); err != nil {
			return err
		}
	}
	_, ipLock, err := s.failure(ctx, ipKey(ip), ipPolicy)
	if err != nil {
		return err
	}
	if details == nil {
		details = map[string]any{}
	}
	if username != "" {
		details["failures"] = n
	}
	if r == nil && username != "" {
		details["account"] = "unknown"
	}
	s.auditNow(ctx, anonymous, action, r, ip, "denied", details)
	if !userLock.IsZero() {
		s.auditNow(ctx, actor{audit.ActorSystem, "accounts"}, ActLockout, r, ip, "denied", map[string]any{
			"scope": "account", "failures": n, "until": userLock.Format(time.RFC3339)})
		s.log.WarnContext(ctx, "account locked after repeated failures", "failures", n, "until", userLock)
	}
	if !ipLock.IsZero() {
		s.auditNow(ctx, actor{audit.ActorSystem, "accounts"}, ActLockout, nil, ip, "denied", map[string]any{
			"scope": "ip", "until": ipLock.Format(time.RFC3339)})
		s.log.WarnContext(ctx, "client address locked after repeated failures", "ip", ip, "until", ipLock)
	}
	return nil
}
