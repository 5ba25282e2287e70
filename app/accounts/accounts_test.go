package accounts_test

import (
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/comuni-italiani/sportello/app/accounts"
	"github.com/comuni-italiani/sportello/app/notify"
	"github.com/comuni-italiani/sportello/app/roles"
	"github.com/comuni-italiani/sportello/app/store/storetest"
)

func TestRegisterCitizenAndUsernames(t *testing.T) {
	storetest.Each(t, migrations(), func(t *testing.T, db *gorm.DB) {
		e := newEnv(t, db)
		a := e.register(mario())
		if a.Username != "mario.rossi" || a.Status != accounts.StatusPending || a.Kind != accounts.KindCitizen {
			t.Fatalf("first Mario Rossi: %+v", a)
		}
		in := mario()
		in.FiscalCode, in.BirthDate = strings.ToLower(cfMario2), date(1985, 12, 10)
		b := e.register(in)
		if b.Username != "mario.rossi2" || b.FiscalCode != cfMario2 {
			t.Fatalf("second Mario Rossi: username %q cf %q", b.Username, b.FiscalCode)
		}
		n := e.register(accounts.CitizenInput{FiscalCode: cfNicolo, GivenName: "Nicolò", FamilyName: "D'Angelo",
			BirthDate: date(1975, 3, 12), IDDocType: accounts.DocPassport, IDDocNumber: "YA1234567", DocumentSeen: true})
		if n.Username != "nicolo.dangelo" {
			t.Fatalf("accented name: username %q", n.Username)
		}
		got, err := e.svc.ByFiscalCode(e.ctx, " rssmra80a01h501u ")
		if err != nil || got.ID != a.ID || !got.BirthDate.Equal(date(1980, 1, 1)) || got.IDDocNumber != "CA12345AB" {
			t.Fatalf("ByFiscalCode: %+v, %v", got, err)
		}
		if _, err := e.svc.RegisterCitizen(e.ctx, "op1", mario()); !errors.Is(err, accounts.ErrAccountExists) {
			t.Fatalf("duplicate tax code: %v", err)
		}
		if ev := e.events(accounts.ActRegister); len(ev) != 3 || ev[2].ActorID != "op1" || ev[2].SubjectCF != cfMario {
			t.Fatalf("register audit: %+v", ev)
		}
	})
}

func TestUsernameBase(t *testing.T) {
	for _, tc := range []struct{ given, family, want string }{
		{"Mario", "Rossi", "mario.rossi"},
		{"Maria Grazia", "De Luca", "maria.deluca"},
		{"Nicolò", "D'Angelo", "nicolo.dangelo"},
		{"Ünal", "Çelik", "unal.celik"},
		{"", "Rossi", "rossi"},
		{"Bartolomeo", "Pietrangeli Santacroce Valsecchi", "bartolomeo.pietrangelisantacrocevals"},
	} {
		if got := accounts.UsernameBase(tc.given, tc.family); got != tc.want || len(got) > accounts.MaxUsernameLen-4 {
			t.Errorf("UsernameBase(%q, %q) = %q, want %q", tc.given, tc.family, got, tc.want)
		}
	}
}

func TestCitizenInputErrors(t *testing.T) {
	storetest.Each(t, migrations(), func(t *testing.T, db *gorm.DB) {
		e := newEnv(t, db)
		for _, tc := range []struct {
			name   string
			change func(*accounts.CitizenInput)
			field  string
			key    string
		}{
			{"check character", func(in *accounts.CitizenInput) { in.FiscalCode = "RSSMRA80A01H501X" }, "fiscal_code", accounts.CFCheckChar},
			{"short", func(in *accounts.CitizenInput) { in.FiscalCode = "RSSMRA80A01H501" }, "fiscal_code", accounts.CFLength},
			{"symbols", func(in *accounts.CitizenInput) { in.FiscalCode = "RSSMRA80A01H50_U" }, "fiscal_code", accounts.CFCharacters},
			{"digit for letter", func(in *accounts.CitizenInput) { in.FiscalCode = "RSSMR080A01H501U" }, "fiscal_code", accounts.CFPattern},
			{"month", func(in *accounts.CitizenInput) { in.FiscalCode = "RSSMRA80F01H501U" }, "fiscal_code", accounts.CFMonth},
			{"day", func(in *accounts.CitizenInput) { in.FiscalCode = "RSSMRA80A32H501U" }, "fiscal_code", accounts.CFDay},
			{"birth date differs", func(in *accounts.CitizenInput) { in.BirthDate = date(1980, 1, 2) }, "birth_date", accounts.CFDateMismatch},
			{"birth in future", func(in *accounts.CitizenInput) { in.BirthDate = date(2030, 1, 1) }, "birth_date", "accounts.desk.birth_future"},
			{"document not seen", func(in *accounts.CitizenInput) { in.DocumentSeen = false }, "document_seen", "accounts.desk.document_seen_required"},
			{"document type", func(in *accounts.CitizenInput) { in.IDDocType = "tessera" }, "id_doc_type", "accounts.desk.doc_type_required"},
			{"document number", func(in *accounts.CitizenInput) { in.IDDocNumber = "" }, "id_doc_number", "validation.required"},
			{"email", func(in *accounts.CitizenInput) { in.Email = "mario@" }, "email", "validation.email"},
			{"phone", func(in *accounts.CitizenInput) { in.Phone = "chiamami" }, "phone", "accounts.desk.phone_invalid"},
			{"given name", func(in *accounts.CitizenInput) { in.GivenName = "  " }, "given_name", "validation.required"},
		} {
			in := mario()
			tc.change(&in)
			_, err := e.svc.RegisterCitizen(e.ctx, "op1", in)
			var ie *accounts.InputError
			if !errors.As(err, &ie) || ie.Fields[tc.field] != tc.key {
				t.Errorf("%s: error %v, want %s=%s", tc.name, err, tc.field, tc.key)
			}
		}
		if _, _, err := e.svc.Search(e.ctx, accounts.SearchFilter{}); err != nil {
			t.Fatal(err)
		}
		if _, n, _ := e.svc.Search(e.ctx, accounts.SearchFilter{}); n != 0 {
			t.Fatalf("refused input created %d accounts", n)
		}
	})
}

var codeShape = regexp.MustCompile(`^[` + accounts.CodeAlphabet + `]{4}-[` + accounts.CodeAlphabet + `]{4}-[` + accounts.CodeAlphabet + `]{4}$`)

func TestActivationLifecycle(t *testing.T) {
	storetest.Each(t, migrations(), func(t *testing.T, db *gorm.DB) {
		e := newEnv(t, db)
		a := e.register(mario())
		c := e.issue(a.ID)
		if !codeShape.MatchString(c.ActivationCode) || c.Username != "mario.rossi" ||
			!c.ExpiresAt.Equal(e.clk.Now().Add(accounts.DefaultActivationTTL)) {
			t.Fatalf("credentials: %+v", c)
		}
		// Only a hash is stored.
		var stored string
		db.Raw("SELECT activation_hash FROM accounts WHERE id = ?", a.ID).Scan(&stored)
		if !strings.HasPrefix(stored, "$argon2id$") || strings.Contains(stored, accounts.NormalizeCode(c.ActivationCode)) {
			t.Fatalf("stored activation code: %q", stored)
		}
		if _, err := e.svc.Authenticate(e.ctx, "mario.rossi", "anything at all", "10.0.0.1"); !errors.Is(err, accounts.ErrInvalidCredentials) {
			t.Fatalf("pending login: %v", err)
		}
		// Typed in lower case without dashes, it is the same code.
		typed := strings.ToLower(strings.ReplaceAll(c.ActivationCode, "-", " "))
		if got, err := e.svc.CheckActivation(e.ctx, "Mario.Rossi", typed, "10.0.0.1"); err != nil || got.ID != a.ID {
			t.Fatalf("CheckActivation: %v", err)
		}
		_, err := e.svc.CheckActivation(e.ctx, "mario.rossi", "AAAA-AAAA-AAAA", "10.0.0.1")
		wantErr(t, err, accounts.ErrInvalidActivation)
		_, err = e.svc.CheckActivation(e.ctx, "nessuno.qui", c.ActivationCode, "10.0.0.1")
		wantErr(t, err, accounts.ErrInvalidActivation)
		// A refused password leaves the code usable.
		_, err = e.svc.Activate(e.ctx, c.Username, c.ActivationCode, "juventus1897", "10.0.0.1")
		var pe *accounts.PasswordError
		if !errors.As(err, &pe) || pe.Key != accounts.PwTooCommon {
			t.Fatalf("weak password: %v", err)
		}
		got, err := e.svc.Activate(e.ctx, c.Username, c.ActivationCode, goodPassword, "10.0.0.1")
		if err != nil || got.Status != accounts.StatusActive || got.ActivationExpiresAt != nil {
			t.Fatalf("Activate: %+v, %v", got, err)
		}
		// Single use.
		_, err = e.svc.Activate(e.ctx, c.Username, c.ActivationCode, goodPassword+"!", "10.0.0.1")
		wantErr(t, err, accounts.ErrInvalidActivation)
		if got, err := e.svc.Authenticate(e.ctx, "MARIO.ROSSI ", goodPassword, "10.0.0.1"); err != nil || got.ID != a.ID {
			t.Fatalf("login after activation: %v", err)
		}
		if e.svc.NeedsTOTP(got) {
			t.Fatal("a citizen without TOTP needs TOTP")
		}
		if len(e.events(accounts.ActActivate)) != 1 || len(e.events(accounts.ActActivationFail)) != 3 {
			t.Fatalf("audit: activate %d, failures %d", len(e.events(accounts.ActActivate)), len(e.events(accounts.ActActivationFail)))
		}
		if _, err := e.svc.IssueCredentials(e.ctx, "op1", a.ID); !errors.Is(err, accounts.ErrWrongState) {
			t.Fatalf("issue to an active account: %v", err)
		}
	})
}

func TestReissueAndExpiry(t *testing.T) {
	storetest.Each(t, migrations(), func(t *testing.T, db *gorm.DB) {
		e := newEnv(t, db)
		a := e.register(mario())
		first := e.issue(a.ID)
		second := e.issue(a.ID)
		if first.ActivationCode == second.ActivationCode {
			t.Fatal("reissue returned the same code")
		}
		_, err := e.svc.CheckActivation(e.ctx, "mario.rossi", first.ActivationCode, "10.0.0.1")
		wantErr(t, err, accounts.ErrInvalidActivation)
		if _, err := e.svc.CheckActivation(e.ctx, "mario.rossi", second.ActivationCode, "10.0.0.1"); err != nil {
			t.Fatalf("reissued code: %v", err)
		}
		if len(e.events(accounts.ActIssue)) != 1 || len(e.events(accounts.ActReissue)) != 1 {
			t.Fatal("issue and reissue are not both audited")
		}
		// The desk can reprint the letter with the current code only.
		if _, _, err := e.svc.CredentialsFor(e.ctx, a.ID, second.ActivationCode); err != nil {
			t.Fatalf("CredentialsFor current code: %v", err)
		}
		if _, _, err := e.svc.CredentialsFor(e.ctx, a.ID, first.ActivationCode); !errors.Is(err, accounts.ErrInvalidActivation) {
			t.Fatalf("CredentialsFor replaced code: %v", err)
		}
		e.clk.Advance(accounts.DefaultActivationTTL - time.Second)
		if _, err := e.svc.CheckActivation(e.ctx, "mario.rossi", second.ActivationCode, "10.0.0.1"); err != nil {
			t.Fatalf("code one second before expiry: %v", err)
		}
		e.clk.Advance(2 * time.Second)
		_, err = e.svc.Activate(e.ctx, "mario.rossi", second.ActivationCode, goodPassword, "10.0.0.1")
		wantErr(t, err, accounts.ErrInvalidActivation)
		ev := e.events(accounts.ActActivationFail)
		if len(ev) == 0 || !strings.Contains(ev[0].Details, `"reason":"expired"`) || ev[0].SubjectCF != cfMario {
			t.Fatalf("expiry audit: %+v", ev)
		}
		// A fresh issue works again.
		third := e.issue(a.ID)
		if _, err := e.svc.Activate(e.ctx, "mario.rossi", third.ActivationCode, goodPassword, "10.0.0.1"); err != nil {
			t.Fatalf("activation after reissue: %v", err)
		}
	})
}

func TestLockoutTimeline(t *testing.T) {
	storetest.Each(t, migrations(), func(t *testing.T, db *gorm.DB) {
		e := newEnv(t, db)
		a := e.activeCitizen()
		login := func(pw string) error {
			_, err := e.svc.Authenticate(e.ctx, "mario.rossi", pw, "192.0.2.7")
			return err
		}
		for i := 1; i <= 4; i++ {
			wantErr(t, login("sbagliata sbagliata"), accounts.ErrInvalidCredentials)
		}
		if err := login(goodPassword); err != nil {
			t.Fatalf("right password after 4 failures: %v", err)
		}
		// The success reset the count: five more failures are needed.
		for i := 1; i <= 5; i++ {
			wantErr(t, login("sbagliata sbagliata"), accounts.ErrInvalidCredentials)
		}
		// Locked for 1, then 2, 4, ... minutes: even the right password is refused.
		for _, delay := range []time.Duration{1, 2, 4, 8, 16, 32, 60, 60} {
			delay *= time.Minute
			wantErr(t, login(goodPassword), accounts.ErrLocked)
			got, _ := e.svc.Get(e.ctx, a.ID)
			if got.LockedUntil == nil || !got.LockedUntil.Equal(e.clk.Now().Add(delay)) {
				t.Fatalf("lock of %v: locked until %v (now %v)", delay, got.LockedUntil, e.clk.Now())
			}
			e.clk.Advance(delay - time.Second)
			wantErr(t, login(goodPassword), accounts.ErrLocked)
			e.clk.Advance(time.Second)
			wantErr(t, login("ancora sbagliata"), accounts.ErrInvalidCredentials) // the next failure doubles the lock
		}
		if n := len(e.events(accounts.ActLockout)); n < 8 {
			t.Fatalf("lockouts audited: %d", n)
		}
		// The desk unlocks.
		if err := e.svc.Unlock(e.ctx, "op1", a.ID); err != nil {
			t.Fatal(err)
		}
		if err := login(goodPassword); err != nil {
			t.Fatalf("login after unlock: %v", err)
		}
		if ev := e.events(accounts.ActUnlock); len(ev) != 1 || !strings.Contains(ev[0].Details, `"was_locked":true`) {
			t.Fatalf("unlock audit: %+v", ev)
		}
	})
}

func TestLockDelay(t *testing.T) {
	for n, want := range map[int]time.Duration{1: 0, 4: 0, 5: time.Minute, 6: 2 * time.Minute, 10: 32 * time.Minute,
		11: time.Hour, 12: time.Hour, 1000: time.Hour} {
		if got := accounts.UserLockDelay(n); got != want {
			t.Errorf("UserLockDelay(%d) = %v, want %v", n, got, want)
		}
	}
}

func TestUnknownUserLooksLikeWrongPassword(t *testing.T) {
	storetest.Each(t, migrations(), func(t *testing.T, db *gorm.DB) {
		e := newEnv(t, db)
		e.activeCitizen()
		pending := mario()
		pending.FiscalCode, pending.GivenName, pending.FamilyName, pending.BirthDate = cfAnna, "Anna", "Bianchi", date(1992, 5, 5)
		e.register(pending)
		for _, user := range []string{"mario.rossi", "nessuno.qui", "anna.bianchi", ""} {
			_, err := e.svc.Authenticate(e.ctx, user, "non è questa", "192.0.2.8")
			wantErr(t, err, accounts.ErrInvalidCredentials)
		}
		// An unknown username locks exactly like a real one, so the lock tells nothing.
		for range 5 {
			_, _ = e.svc.Authenticate(e.ctx, "mario.rossi", "x", "192.0.2.9")
			_, _ = e.svc.Authenticate(e.ctx, "nessuno.qui", "x", "192.0.2.9")
		}
		_, errReal := e.svc.Authenticate(e.ctx, "mario.rossi", "x", "192.0.2.9")
		_, errNone := e.svc.Authenticate(e.ctx, "nessuno.qui", "x", "192.0.2.9")
		wantErr(t, errReal, accounts.ErrLocked)
		wantErr(t, errNone, accounts.ErrLocked)
		// Password reset requests answer the same.
		if err := e.svc.RequestPasswordReset(e.ctx, "nessuno.qui", "192.0.2.8"); err != nil {
			t.Fatal(err)
		}
		if err := e.svc.RequestPasswordReset(e.ctx, "mario.rossi@example.it", "192.0.2.8"); err != nil {
			t.Fatal(err)
		}
		for _, ev := range e.events(accounts.ActLoginFailed) {
			if strings.Contains(ev.Details, "non è questa") {
				t.Fatal("a typed password reached the audit log")
			}
		}
	})
}

// TestUnknownUserTiming checks with the production hash parameters that an unknown
// username costs the same hashing work as a wrong password.
func TestUnknownUserTiming(t *testing.T) {
	if testing.Short() {
		t.Skip("slow")
	}
	db := storetest.Open(t, "sqlite", migrations())
	e := newEnv(t, db)
	e.svc = accounts.New(db, accounts.Options{Now: e.clk.Now}) // default hash parameters
	e.activeCitizen()
	measure := func(user string) time.Duration {
		var best time.Duration
		for i := range 3 {
			start := time.Now()
			_, _ = e.svc.Authenticate(e.ctx, user, "non è questa", "192.0.2.10")
			if d := time.Since(start); i == 0 || d < best {
				best = d
			}
		}
		return best
	}
	known, unknown := measure("mario.rossi"), measure("nessuno.qui")
	t.Logf("wrong password %v, unknown user %v", known, unknown)
	if unknown < known/2 || known < unknown/2 {
		t.Fatalf("timing differs: wrong password %v, unknown user %v", known, unknown)
	}
}

func TestIPLockout(t *testing.T) {
	storetest.Each(t, migrations(), func(t *testing.T, db *gorm.DB) {
		e := newEnv(t, db)
		e.activeCitizen()
		// Spraying: one attempt per username, all from one address.
		for i := range accounts.IPLockThreshold {
			_, err := e.svc.Authenticate(e.ctx, "utente"+string(rune('a'+i)), "password qualsiasi", "198.51.100.1")
			wantErr(t, err, accounts.ErrInvalidCredentials)
		}
		_, err := e.svc.Authenticate(e.ctx, "mario.rossi", goodPassword, "198.51.100.1")
		wantErr(t, err, accounts.ErrLocked)
		if _, err := e.svc.Authenticate(e.ctx, "mario.rossi", goodPassword, "198.51.100.2"); err != nil {
			t.Fatalf("another address: %v", err)
		}
		e.clk.Advance(accounts.IPLock)
		if _, err := e.svc.Authenticate(e.ctx, "mario.rossi", goodPassword, "198.51.100.1"); err != nil {
			t.Fatalf("after the IP lock: %v", err)
		}
		found := false
		for _, ev := range e.events(accounts.ActLockout) {
			found = found || (ev.IP == "198.51.100.1" && strings.Contains(ev.Details, `"scope":"ip"`))
		}
		if !found {
			t.Fatal("IP lockout not audited")
		}
		// The same number of failures spread over more than the window does not lock.
		for i := range accounts.IPLockThreshold + 5 {
			_, err := e.svc.Authenticate(e.ctx, "spray"+string(rune('a'+i)), "password qualsiasi", "198.51.100.3")
			wantErr(t, err, accounts.ErrInvalidCredentials)
			e.clk.Advance(accounts.IPWindow / 10)
		}
	})
}

func TestStaffTOTPActivationAndReplay(t *testing.T) {
	storetest.Each(t, migrations(), func(t *testing.T, db *gorm.DB) {
		e := newEnv(t, db)
		a, cred, err := e.svc.CreateStaff(e.ctx, "admin1", accounts.StaffInput{Username: "L.Verdi", GivenName: "Lucia",
			FamilyName: "Verdi", Email: "l.verdi@comune.example", Roles: []string{roleAnagrafe, roles.URP}})
		if err != nil {
			t.Fatal(err)
		}
		if a.Username != "l.verdi" || a.Kind != accounts.KindStaff || strings.Join(a.Roles, ",") != "urp_operator,anagrafe_officer" {
			t.Fatalf("staff: %+v", a)
		}
		if _, err := e.svc.CheckActivation(e.ctx, "l.verdi", cred.ActivationCode, "10.0.0.2"); err != nil {
			t.Fatal(err)
		}
		_, err = e.svc.Activate(e.ctx, "l.verdi", cred.ActivationCode, goodPassword, "10.0.0.2")
		wantErr(t, err, accounts.ErrTOTPRequired)
		secret, url, err := e.svc.BeginTOTP(e.ctx, a.ID)
		if err != nil || !strings.HasPrefix(url, "otpauth://totp/") || !strings.Contains(url, "issuer=Comune") {
			t.Fatalf("BeginTOTP: %q %v", url, err)
		}
		wantErr(t, e.svc.ConfirmTOTP(e.ctx, a.ID, "000000"), accounts.ErrInvalidTOTP)
		if err := e.svc.ConfirmTOTP(e.ctx, a.ID, e.code(secret)); err != nil {
			t.Fatalf("ConfirmTOTP: %v", err)
		}
		if _, err := e.svc.Activate(e.ctx, "l.verdi", cred.ActivationCode, goodPassword, "10.0.0.2"); err != nil {
			t.Fatalf("Activate after TOTP: %v", err)
		}
		e.clk.Advance(30 * time.Second)
		got, err := e.svc.Authenticate(e.ctx, "l.verdi", goodPassword, "10.0.0.2")
		if err != nil || !e.svc.NeedsTOTP(got) {
			t.Fatalf("staff login: %v (needs TOTP %v)", err, e.svc.NeedsTOTP(got))
		}
		code := e.code(secret)
		if err := e.svc.VerifyTOTP(e.ctx, a.ID, code, "10.0.0.2"); err != nil {
			t.Fatalf("VerifyTOTP: %v", err)
		}
		// The same code, within its validity, is refused: it was used.
		wantErr(t, e.svc.VerifyTOTP(e.ctx, a.ID, code, "10.0.0.2"), accounts.ErrInvalidTOTP)
		e.clk.Advance(30 * time.Second)
		wantErr(t, e.svc.VerifyTOTP(e.ctx, a.ID, code, "10.0.0.2"), accounts.ErrInvalidTOTP) // previous step, in the skew
		if err := e.svc.VerifyTOTP(e.ctx, a.ID, e.code(secret), "10.0.0.2"); err != nil {
			t.Fatalf("next step: %v", err)
		}
		if err := e.svc.RecordLogin(e.ctx, a.ID, "10.0.0.2"); err != nil {
			t.Fatal(err)
		}
		if got, _ := e.svc.Get(e.ctx, a.ID); got.LastLoginAt == nil || !got.LastLoginAt.Equal(e.clk.Now()) {
			t.Fatalf("last login: %v", got.LastLoginAt)
		}
		// Guessing TOTP codes locks like guessing passwords.
		e.clk.Advance(time.Minute)
		for range accounts.UserLockThreshold {
			wantErr(t, e.svc.VerifyTOTP(e.ctx, a.ID, "123456", "10.0.0.2"), accounts.ErrInvalidTOTP)
		}
		wantErr(t, e.svc.VerifyTOTP(e.ctx, a.ID, e.code(secret), "10.0.0.2"), accounts.ErrLocked)
		if len(e.events(accounts.ActTOTPFailed)) != accounts.UserLockThreshold+2 || len(e.events(accounts.ActTOTPEnable)) != 1 {
			t.Fatal("TOTP events not audited")
		}
	})
}

func TestPasswordPolicy(t *testing.T) {
	for _, tc := range []struct{ pw, key string }{
		{"corta", accounts.PwTooShort},
		{"123456789", accounts.PwTooShort},
		{"password123", accounts.PwTooCommon},
		{"Password1234", accounts.PwTooCommon},
		{"forzainter", accounts.PwTooCommon},
		{"juventus1897", accounts.PwTooCommon},
		{"!!ForzaNapoli2024!!", accounts.PwTooCommon},
		{"ti amo tanto", accounts.PwTooCommon},
		{"1234567890", accounts.PwTooCommon},
		{"12345678901", accounts.PwTooCommon},
		{"aaaaaaaaaaaa", accounts.PwTooCommon},
		{"qwertyuiopas", accounts.PwTooCommon},
		{"mario.rossi!!", accounts.PwHasUsername},
		{"io sono mariorossi", accounts.PwHasUsername},
		{"RSSMRA80A01H501U", accounts.PwHasFiscalCode},
		{"x-rssmra80a01h501u", accounts.PwHasFiscalCode},
		{strings.Repeat("abcdefgh", 40), accounts.PwTooLong},
		{"tab\there ok 123", accounts.PwInvalidCharacter},
		{"", accounts.PwHasName}, // "Scarpantibus7!" for Eva Scarpantibus, see below
		{goodPassword, ""},
		{"La Rossi di via Roma ha tre gatti", ""},
		{"8fT#q2Lm!zR0", ""},
	} {
		err := accounts.CheckPassword(tc.pw, "mario.rossi", cfMario, "Mario", "Rossi")
		if tc.pw == "" {
			err = accounts.CheckPassword("Scarpantibus7!", "e.s", "", "Eva", "Scarpantibus")
		}
		var pe *accounts.PasswordError
		switch {
		case tc.key == "" && err != nil:
			t.Errorf("%q refused: %v", tc.pw, err)
		case tc.key != "" && (!errors.As(err, &pe) || pe.Key != tc.key):
			t.Errorf("%q: error %v, want %s", tc.pw, err, tc.key)
		}
	}
}

var tokenInMail = regexp.MustCompile(`/idp/password/nuova\?token=([A-Za-z0-9_-]+)`)

func TestPasswordReset(t *testing.T) {
	storetest.Each(t, migrations(), func(t *testing.T, db *gorm.DB) {
		e := newEnv(t, db)
		a := e.activeCitizen()
		mails := func() []notify.Record {
			recs, _, err := notify.List(e.ctx, db, notify.ListFilter{})
			if err != nil {
				t.Fatal(err)
			}
			return recs
		}
		if err := e.svc.RequestPasswordReset(e.ctx, "nessuno@example.it", "10.0.0.3"); err != nil || len(mails()) != 0 {
			t.Fatalf("unknown address: %v, %d mails", err, len(mails()))
		}
		if err := e.svc.RequestPasswordReset(e.ctx, "Mario.Rossi@Example.it", "10.0.0.3"); err != nil {
			t.Fatal(err)
		}
		m := mails()
		if len(m) != 1 || m[0].To != "mario.rossi@example.it" || m[0].CitizenCF != cfMario || m[0].Kind != "accounts.password_reset" {
			t.Fatalf("reset mail: %+v", m)
		}
		match := tokenInMail.FindStringSubmatch(m[0].Text)
		if match == nil || !strings.Contains(m[0].Text, "https://servizi.comune.example/idp/password/nuova?token=") ||
			!strings.Contains(m[0].Text, "60 minuti") {
			t.Fatalf("reset mail text: %s", m[0].Text)
		}
		token := match[1]
		var stored int64
		db.Raw("SELECT COUNT(*) FROM account_reset_tokens WHERE token_hash = ?", token).Scan(&stored)
		if stored != 0 {
			t.Fatal("the reset token is stored in clear")
		}
		var pe *accounts.PasswordError
		if err := e.svc.ResetPassword(e.ctx, token, "forzainter", "10.0.0.3"); !errors.As(err, &pe) {
			t.Fatalf("weak new password: %v", err)
		}
		const newPassword = "Un'altra frase lunga 42"
		if err := e.svc.ResetPassword(e.ctx, token, newPassword, "10.0.0.3"); err != nil {
			t.Fatalf("ResetPassword: %v", err)
		}
		wantErr(t, e.svc.ResetPassword(e.ctx, token, newPassword+"x", "10.0.0.3"), accounts.ErrInvalidResetToken)
		if _, err := e.svc.Authenticate(e.ctx, "mario.rossi", goodPassword, "10.0.0.3"); !errors.Is(err, accounts.ErrInvalidCredentials) {
			t.Fatalf("old password still works: %v", err)
		}
		if _, err := e.svc.Authenticate(e.ctx, "mario.rossi", newPassword, "10.0.0.3"); err != nil {
			t.Fatalf("new password: %v", err)
		}
		// Expiry after one hour.
		if err := e.svc.RequestPasswordReset(e.ctx, "mario.rossi", "10.0.0.3"); err != nil {
			t.Fatal(err)
		}
		late := tokenInMail.FindStringSubmatch(mails()[0].Text)[1]
		e.clk.Advance(time.Hour + time.Second)
		wantErr(t, e.svc.ResetPassword(e.ctx, late, "Ancora un'altra frase 7", "10.0.0.3"), accounts.ErrInvalidResetToken)
		wantErr(t, e.svc.ResetPassword(e.ctx, "inventato", "Ancora un'altra frase 7", "10.0.0.3"), accounts.ErrInvalidResetToken)
		// At most three mails an hour per account, whatever is asked.
		for range 5 {
			_ = e.svc.RequestPasswordReset(e.ctx, "mario.rossi", "10.0.0.4")
		}
		if n := len(mails()); n != 2+accounts.MaxResetMailsPerHour {
			t.Fatalf("mails after flooding: %d", n)
		}
		if len(e.events(accounts.ActReset)) != 1 || len(e.events(accounts.ActResetFail)) != 3 {
			t.Fatal("reset not audited")
		}
		_ = a
	})
}

func TestBlockUnlockDeskReset(t *testing.T) {
	storetest.Each(t, migrations(), func(t *testing.T, db *gorm.DB) {
		e := newEnv(t, db)
		a := e.activeCitizen()
		var ie *accounts.InputError
		if err := e.svc.Block(e.ctx, "op1", a.ID, "  "); !errors.As(err, &ie) || ie.Fields["reason"] == "" {
			t.Fatalf("block without reason: %v", err)
		}
		if err := e.svc.Block(e.ctx, "op1", a.ID, "Segnalato smarrimento del documento"); err != nil {
			t.Fatal(err)
		}
		wantErr(t, e.svc.Block(e.ctx, "op1", a.ID, "di nuovo"), accounts.ErrWrongState)
		_, err := e.svc.Authenticate(e.ctx, "mario.rossi", goodPassword, "10.0.0.5")
		wantErr(t, err, accounts.ErrNotActive)
		_, err = e.svc.Authenticate(e.ctx, "mario.rossi", "sbagliata!!", "10.0.0.5")
		wantErr(t, err, accounts.ErrInvalidCredentials)
		_, err = e.svc.DeskResetPassword(e.ctx, "op1", a.ID)
		wantErr(t, err, accounts.ErrWrongState)
		if err := e.svc.Unlock(e.ctx, "op1", a.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := e.svc.Authenticate(e.ctx, "mario.rossi", goodPassword, "10.0.0.5"); err != nil {
			t.Fatalf("login after unblock: %v", err)
		}
		// The citizen enables TOTP, then loses the phone and forgets the password.
		secret, _, _ := e.svc.BeginTOTP(e.ctx, a.ID)
		if err := e.svc.ConfirmTOTP(e.ctx, a.ID, e.code(secret)); err != nil {
			t.Fatal(err)
		}
		cred, err := e.svc.DeskResetPassword(e.ctx, "op2", a.ID)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := e.svc.Get(e.ctx, a.ID)
		if got.Status != accounts.StatusPending || got.TOTPEnabled {
			t.Fatalf("after desk reset: %+v", got)
		}
		_, err = e.svc.Authenticate(e.ctx, "mario.rossi", goodPassword, "10.0.0.5")
		wantErr(t, err, accounts.ErrInvalidCredentials)
		if _, err := e.svc.Activate(e.ctx, "mario.rossi", cred.ActivationCode, "Nuova frase segreta 2026", "10.0.0.5"); err != nil {
			t.Fatal(err)
		}
		for _, action := range []string{accounts.ActBlock, accounts.ActUnlock, accounts.ActDeskReset, accounts.ActLoginRefused} {
			ev := e.events(action)
			if len(ev) != 1 || ev[0].SubjectCF != cfMario {
				t.Errorf("%s audited %d times", action, len(ev))
			}
		}
		if ev := e.events(accounts.ActBlock); ev[0].ActorID != "op1" || !strings.Contains(ev[0].Details, "smarrimento") {
			t.Fatalf("block audit: %+v", ev[0])
		}
	})
}

func TestStaffAdministration(t *testing.T) {
	storetest.Each(t, migrations(), func(t *testing.T, db *gorm.DB) {
		e := newEnv(t, db)
		admin, _, err := e.svc.CreateStaff(e.ctx, "system:cli", accounts.StaffInput{Username: "admin1", GivenName: "Ada",
			FamilyName: "Neri", Email: "ada@comune.example", Roles: []string{roles.Admin}})
		if err != nil {
			t.Fatal(err)
		}
		if ev := e.events(accounts.ActStaffCreate); len(ev) != 1 || ev[0].ActorKind != "system" || ev[0].ActorID != "cli" {
			t.Fatalf("CLI creation audit: %+v", ev)
		}
		var ie *accounts.InputError
		_, _, err = e.svc.CreateStaff(e.ctx, "admin1", accounts.StaffInput{Username: "admin1", GivenName: "A", FamilyName: "B",
			Email: "b@comune.example", Roles: []string{roles.URP}})
		if !errors.As(err, &ie) || ie.Fields["username"] != "accounts.staff.username_taken" {
			t.Fatalf("duplicate username: %v", err)
		}
		_, _, err = e.svc.CreateStaff(e.ctx, "admin1", accounts.StaffInput{Username: "1x", Email: "no", Roles: []string{"boss"}})
		if !errors.As(err, &ie) || len(ie.Fields) != 5 {
			t.Fatalf("bad staff input: %v", err)
		}
		op, _, err := e.svc.CreateStaff(e.ctx, "admin1", accounts.StaffInput{Username: "op1", GivenName: "Olga",
			FamilyName: "Pace", Email: "op1@comune.example", Roles: []string{roles.URP}})
		if err != nil {
			t.Fatal(err)
		}
		wantErr(t, e.svc.UpdateStaff(e.ctx, "admin1", admin.ID, []string{roles.URP}, true), accounts.ErrSelfChange)
		wantErr(t, e.svc.UpdateStaff(e.ctx, "admin1", admin.ID, []string{roles.Admin}, false), accounts.ErrSelfChange)
		if err := e.svc.UpdateStaff(e.ctx, "admin1", op.ID, []string{roleSocial, roles.URP}, false); err != nil {
			t.Fatal(err)
		}
		got, _ := e.svc.Get(e.ctx, op.ID)
		if got.Status != accounts.StatusBlocked || got.BlockedReason != accounts.ReasonDeactivated ||
			strings.Join(got.Roles, ",") != "urp_operator,social_officer" {
			t.Fatalf("deactivated: %+v", got)
		}
		if err := e.svc.UpdateStaff(e.ctx, "admin1", op.ID, got.Roles, true); err != nil {
			t.Fatal(err)
		}
		if got, _ := e.svc.Get(e.ctx, op.ID); got.Status != accounts.StatusPending {
			t.Fatalf("reactivated without a password: %s", got.Status)
		}
		citizen := e.register(mario())
		wantErr(t, e.svc.UpdateStaff(e.ctx, "admin1", citizen.ID, []string{roles.Admin}, true), accounts.ErrNotFound)
		if len(e.events(accounts.ActStaffUpdate)) != 2 {
			t.Fatal("staff updates not audited")
		}
		list, n, err := e.svc.Search(e.ctx, accounts.SearchFilter{Kind: accounts.KindStaff})
		if err != nil || n != 2 || list[0].Username != "admin1" {
			t.Fatalf("staff list: %v %d %v", list, n, err)
		}
	})
}

func TestSearch(t *testing.T) {
	storetest.Each(t, migrations(), func(t *testing.T, db *gorm.DB) {
		e := newEnv(t, db)
		e.register(mario())
		e.register(accounts.CitizenInput{FiscalCode: cfVerdi, GivenName: "Giuseppe", FamilyName: "Verdi",
			BirthDate: date(1950, 7, 20), IDDocType: accounts.DocIdentityCard, IDDocNumber: "AX 1234567", DocumentSeen: true})
		for q, want := range map[string]int64{"vrdgpp50l20f205x": 1, "rossi": 1, "giuseppe verdi": 1, "verdi giuseppe": 1,
			"": 2, "mario.rossi": 1, "nessuno": 0, "%": 0, "_": 0} {
			if _, n, err := e.svc.Search(e.ctx, accounts.SearchFilter{Query: q, Kind: accounts.KindCitizen}); err != nil || n != want {
				t.Errorf("Search(%q) = %d, %v; want %d", q, n, err, want)
			}
		}
	})
}

func TestRehashOnLogin(t *testing.T) {
	storetest.Each(t, migrations(), func(t *testing.T, db *gorm.DB) {
		e := newEnv(t, db)
		a := e.activeCitizen()
		stronger := fastHash
		stronger.Time = 2
		svc2 := accounts.New(db, accounts.Options{Now: e.clk.Now, Hash: stronger})
		if _, err := svc2.Authenticate(e.ctx, "mario.rossi", goodPassword, "10.0.0.6"); err != nil {
			t.Fatal(err)
		}
		var h string
		db.Raw("SELECT password_hash FROM accounts WHERE id = ?", a.ID).Scan(&h)
		if !strings.HasPrefix(h, "$argon2id$v=19$m=1024,t=2,p=1$") {
			t.Fatalf("hash not upgraded: %s", h)
		}
		if _, err := e.svc.Authenticate(e.ctx, "mario.rossi", goodPassword, "10.0.0.6"); err != nil {
			t.Fatalf("old service with the new hash: %v", err)
		}
	})
}

func TestConcurrentActivationUsesCodeOnce(t *testing.T) {
	storetest.Each(t, migrations(), func(t *testing.T, db *gorm.DB) {
		e := newEnv(t, db)
		a := e.register(mario())
		c := e.issue(a.ID)
		errs := make(chan error, 4)
		for i := range 4 {
			go func() {
				_, err := e.svc.Activate(e.ctx, c.Username, c.ActivationCode, goodPassword+strings.Repeat("!", i), "10.0.0.7")
				errs <- err
			}()
		}
		ok := 0
		for range 4 {
			if err := <-errs; err == nil {
				ok++
			} else if !errors.Is(err, accounts.ErrInvalidActivation) {
				t.Errorf("unexpected error: %v", err)
			}
		}
		if ok != 1 {
			t.Fatalf("%d activations succeeded with one code", ok)
		}
	})
}

func TestFiscalCodeHelpers(t *testing.T) {
	if accounts.NormalizeFiscalCode(" rss-mra 80a01h501u ") != cfMario {
		t.Fatal("normalize")
	}
	if !accounts.BirthDateMatches(cfMario, date(1980, 1, 1)) || accounts.BirthDateMatches(cfMario, date(1980, 2, 1)) {
		t.Fatal("birth date of Mario")
	}
	if accounts.BirthDateMatches(cfAnna, date(1992, 5, 6)) || !accounts.BirthDateMatches(cfAnna, date(1992, 5, 5)) {
		t.Fatal("birth date of Anna (female: day + 40)")
	}
}
