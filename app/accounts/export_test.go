package accounts

// SetEvalHook makes s call f each time it evaluates a secret ("hash": an argon2id
// check; "totp": a TOTP comparison), so tests can count what a burst got evaluated.
func SetEvalHook(s *Service, f func(kind string)) { s.evalHook = f }
