package accounts

import (
	"context"
	"errors"
	"github.com/comuni-italiani/sportello/app/enti"
	"net/mail"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/comuni-italiani/sportello/app/roles"
	"github.com/comuni-italiani/sportello/app/store"
)

// CitizenInput is what the desk records when it registers a citizen.
type CitizenInput struct {
	FiscalCode            string
	GivenName, FamilyName string
	// BirthDate is the calendar date of birth (its time of day is ignored); it must
	// agree with the date written in the tax code.
	BirthDate time.Time
	// Email and Phone are optional; without an email the citizen cannot reset the
	// password online (the desk can).
	Email, Phone string
	// IDDocType (one of DocTypes) and IDDocNumber identify the document checked.
	IDDocType, IDDocNumber string
	// IDDocIssuer is the issuing authority and IDDocExpires the expiry date of the
	// document (its time of day is ignored). Both are optional here (the desk form
	// requires them); an expiry date in the past is refused: an expired document does
	// not identify anyone.
	IDDocIssuer  string
	IDDocExpires time.Time
	// DocumentSeen is the operator's statement that the document was shown in person.
	DocumentSeen bool
}

// StaffInput is what an administrator records for a new staff member.
type StaffInput struct {
	// Username is chosen by the administrator (see ValidStaffUsername).
	Username              string
	GivenName, FamilyName string
	Email                 string
	Phone                 string
	// FiscalCode is optional for staff.
	FiscalCode string
	// Roles are among the service's Roles; at least one.
	Roles []string
}

// ReasonDeactivated is the BlockedReason of staff deactivated by an administrator.
const ReasonDeactivated = "deactivated"

// Input limits.
const (
	MaxNameLen      = 100
	MaxDocNumberLen = 40
	MaxDocIssuerLen = 100
	MaxReasonLen    = 300
)

var (
	phonePattern     = regexp.MustCompile(`^\+?[0-9][0-9 ./-]{5,30}$`)
	docNumberPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9 -]*$`)
)

func checkName(errs map[string]string, field, v string) {
	switch {
	case strings.TrimSpace(v) == "":
		errs[field] = "validation.required"
	case utf8.RuneCountInString(v) > MaxNameLen:
		errs[field] = "validation.max"
	}
}

// validEmail accepts a bare address such as "mario.rossi@example.it".
func validEmail(e string) bool {
	a, err := mail.ParseAddress(e)
	return err == nil && a.Address == e && strings.Contains(e[strings.LastIndexByte(e, '@')+1:], ".")
}

// normalizeCitizen trims the input and returns the problems found, by form field.
func (s *Service) normalizeCitizen(in *CitizenInput) map[string]string {
	errs := map[string]string{}
	in.FiscalCode = NormalizeFiscalCode(in.FiscalCode)
	in.GivenName, in.FamilyName = strings.Join(strings.Fields(in.GivenName), " "), strings.Join(strings.Fields(in.FamilyName), " ")
	in.Email, in.Phone = strings.TrimSpace(in.Email), strings.TrimSpace(in.Phone)
	in.IDDocType, in.IDDocNumber = strings.TrimSpace(in.IDDocType), strings.ToUpper(strings.TrimSpace(in.IDDocNumber))
	cfErr := ValidateFiscalCode(in.FiscalCode)
	var fe *FiscalCodeError
	if errors.As(cfErr, &fe) {
		errs["fiscal_code"] = fe.Key
	}
	checkName(errs, "given_name", in.GivenName)
	checkName(errs, "family_name", in.FamilyName)
	switch {
	case in.BirthDate.IsZero():
		errs["birth_date"] = "validation.required"
	case in.BirthDate.After(s.now()):
		errs["birth_date"] = "accounts.desk.birth_future"
	case in.BirthDate.Year() < 1900:
		errs["birth_date"] = "accounts.desk.birth_too_old"
	case cfErr == nil && !BirthDateMatches(in.FiscalCode, in.BirthDate):
		errs["birth_date"] = CFDateMismatch
	}
	if in.Email != "" && !validEmail(in.Email) {
		errs["email"] = "validation.email"
	}
	if in.Phone != "" && !phonePattern.MatchString(in.Phone) {
		errs["phone"] = "accounts.desk.phone_invalid"
	}
	if !slices.Contains(DocTypes, in.IDDocType) {
		errs["id_doc_type"] = "accounts.desk.doc_type_required"
	}
	switch {
	case in.IDDocNumber == "":
		errs["id_doc_number"] = "validation.required"
	case len(in.IDDocNumber) > MaxDocNumberLen:
		errs["id_doc_number"] = "validation.max"
	case !docNumberPattern.MatchString(in.IDDocNumber):
		errs["id_doc_number"] = "accounts.desk.doc_number_invalid"
	}
	in.IDDocIssuer = strings.Join(strings.Fields(in.IDDocIssuer), " ")
	if utf8.RuneCountInString(in.IDDocIssuer) > MaxDocIssuerLen {
		errs["id_doc_issuer"] = "validation.max"
	}
	if !in.IDDocExpires.IsZero() {
		y, m, d := s.now().In(time.UTC).Date()
		today := time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
		ey, em, ed := in.IDDocExpires.Date()
		if time.Date(ey, em, ed, 0, 0, 0, 0, time.UTC).Before(today) {
			errs["id_doc_expires"] = "accounts.desk.doc_expired"
		}
	}
	if !in.DocumentSeen {
		errs["document_seen"] = "accounts.desk.document_seen_required"
	}
	return errs
}

// ValidateCitizen normalizes in (trimmed, tax code in capitals) and returns an
// *InputError describing every problem, or nil. RegisterCitizen calls it too; the desk
// calls it first to show all problems at once.
func (s *Service) ValidateCitizen(in *CitizenInput) error {
	if errs := s.normalizeCitizen(in); len(errs) > 0 {
		return &InputError{Fields: errs}
	}
	return nil
}

// create inserts r with a free username derived from base (or exactly r.Username when
// base is ""), retrying when a concurrent registration takes the same one.
func (s *Service) create(ctx context.Context, r *accountRow, base string, then func(tx *txn) error) error {
	for attempt := 0; ; attempt++ {
		err := s.tx(ctx, func(tx *txn) error {
			if base != "" {
				u, err := freeUsername(ctx, tx.db, base)
				if err != nil {
					return err
				}
				r.Username = u
			}
			r.ID = 0
			if e := enti.FromContext(ctx); e != nil && r.EnteID == "" {
				r.EnteID = e.ID
			}
			if err := tx.db.Create(r).Error; err != nil {
				return err
			}
			return then(tx)
		})
		if !errors.Is(err, store.ErrDuplicate) {
			return err
		}
		if r.FiscalCode != nil {
			if _, e := s.row(ctx, s.db, "fiscal_code = ?", *r.FiscalCode); e == nil {
				return ErrAccountExists
			}
		}
		if base == "" || attempt >= 5 {
			return ErrAccountExists
		}
	}
}

// RegisterCitizen creates the pending account of a citizen whose identity document
// the desk checked, with a readable, unique username ("mario.rossi", "mario.rossi2").
// It returns an *InputError for bad input and ErrAccountExists if the tax code already
// has an account. Credentials are issued separately (IssueCredentials).
func (s *Service) RegisterCitizen(ctx context.Context, actor string, in CitizenInput) (*Account, error) {
	if err := s.ValidateCitizen(&in); err != nil {
		return nil, err
	}
	if _, err := s.row(ctx, s.db, "fiscal_code = ?", in.FiscalCode); err == nil {
		return nil, ErrAccountExists
	} else if !errors.Is(err, ErrNotFound) {
		return nil, err
	}
	now := s.now()
	cf := in.FiscalCode
	r := &accountRow{Kind: string(KindCitizen), FiscalCode: &cf, GivenName: in.GivenName, FamilyName: in.FamilyName,
		BirthDate: in.BirthDate.Format(dateLayout), Email: in.Email, Phone: in.Phone, IDDocType: in.IDDocType,
		IDDocNumber: in.IDDocNumber, IDDocIssuer: in.IDDocIssuer, Status: string(StatusPending), CreatedBy: actor,
		CreatedAt: now, UpdatedAt: now}
	if !in.IDDocExpires.IsZero() {
		r.IDDocExpires = in.IDDocExpires.Format(dateLayout)
	}
	err := s.create(ctx, r, UsernameBase(in.GivenName, in.FamilyName), func(tx *txn) error {
		return tx.audit(staffActor(actor), ActRegister, r, "", map[string]any{
			"id_doc_type": in.IDDocType, "document_seen": true, "username": r.Username})
	})
	if err != nil {
		return nil, err
	}
	return r.account(), nil
}

// Block blocks an account: it can no longer log in or activate (the activation code
// is withdrawn). reason is required and kept; ErrWrongState if already blocked.
func (s *Service) Block(ctx context.Context, actor string, accountID int64, reason string) error {
	reason = strings.Join(strings.Fields(reason), " ")
	switch {
	case reason == "":
		return inputErr("reason", "accounts.desk.reason_required")
	case utf8.RuneCountInString(reason) > MaxReasonLen:
		return inputErr("reason", "validation.max")
	}
	r, err := s.row(ctx, s.db, "id = ?", accountID)
	if err != nil {
		return err
	}
	return s.tx(ctx, func(tx *txn) error {
		res := tx.db.Model(&accountRow{}).Where("id = ? AND status <> ?", r.ID, string(StatusBlocked)).
			Updates(map[string]any{"status": string(StatusBlocked), "blocked_reason": reason, "activation_hash": "",
				"activation_expires_at": nil, "updated_at": s.now()})
		if res.Error != nil {
			return internal("block", res.Error)
		}
		if res.RowsAffected != 1 {
			return ErrWrongState
		}
		return tx.audit(staffActor(actor), ActBlock, r, "", map[string]any{"reason": reason, "previous_status": r.Status})
	})
}

// statusAfterUnblock is active for an account that has a password, pending otherwise.
func statusAfterUnblock(r *accountRow) Status {
	if r.PasswordHash != "" {
		return StatusActive
	}
	return StatusPending
}

// Unlock clears the failure count and lock of the account's username and, if the
// account is blocked, unblocks it (active again if it has a password, pending
// otherwise: issue credentials then).
func (s *Service) Unlock(ctx context.Context, actor string, accountID int64) error {
	a, err := s.Get(ctx, accountID)
	if err != nil {
		return err
	}
	r, err := s.row(ctx, s.db, "id = ?", accountID)
	if err != nil {
		return err
	}
	wasBlocked := r.Status == string(StatusBlocked)
	return s.tx(ctx, func(tx *txn) error {
		if wasBlocked {
			res := tx.db.Model(&accountRow{}).Where("id = ? AND status = ?", r.ID, string(StatusBlocked)).
				Updates(map[string]any{"status": string(statusAfterUnblock(r)), "blocked_reason": "", "updated_at": s.now()})
			if res.Error != nil {
				return internal("unlock", res.Error)
			}
		}
		if err := tx.db.Where("throttle_key = ?", userKey(r.Username)).Delete(&throttleRow{}).Error; err != nil {
			return internal("unlock", err)
		}
		return tx.audit(staffActor(actor), ActUnlock, r, "", map[string]any{
			"was_blocked": wasBlocked, "was_locked": a.Locked(s.now()), "failures": a.FailedLogins})
	})
}

// DeskResetPassword is the desk's answer to a forgotten password or a lost
// authenticator: after checking the holder's identity in person, the account goes back
// to pending with a new activation code; the old password and TOTP stop working (the
// holder enrols again on activation). A blocked account gets ErrWrongState.
func (s *Service) DeskResetPassword(ctx context.Context, actor string, accountID int64) (Credentials, error) {
	var cred Credentials
	err := s.tx(ctx, func(tx *txn) error {
		var err error
		cred, err = s.deskResetTx(tx, actor, accountID)
		return err
	})
	return cred, err
}

// deskResetTx is DeskResetPassword within tx.
func (s *Service) deskResetTx(tx *txn, actor string, accountID int64) (Credentials, error) {
	r, err := s.row(tx.ctx, tx.db, "id = ?", accountID)
	if err != nil {
		return Credentials{}, err
	}
	if r.Status == string(StatusBlocked) {
		return Credentials{}, ErrWrongState
	}
	now := s.now()
	res := tx.db.Model(&accountRow{}).Where("id = ? AND status <> ?", r.ID, string(StatusBlocked)).
		Updates(map[string]any{"status": string(StatusPending), "password_hash": "", "totp_secret": "",
			"totp_pending_secret": "", "totp_enabled": false, "totp_last_step": 0, "updated_at": now})
	if res.Error != nil {
		return Credentials{}, internal("desk reset", res.Error)
	}
	if res.RowsAffected != 1 {
		return Credentials{}, ErrWrongState
	}
	if err := tx.db.Model(&resetTokenRow{}).Where("account_id = ? AND used_at IS NULL", r.ID).
		Update("used_at", now).Error; err != nil {
		return Credentials{}, internal("desk reset", err)
	}
	if err := tx.db.Where("throttle_key = ?", userKey(r.Username)).Delete(&throttleRow{}).Error; err != nil {
		return Credentials{}, internal("desk reset", err)
	}
	cred, err := s.issue(tx, r)
	if err != nil {
		return Credentials{}, err
	}
	err = tx.audit(staffActor(actor), ActDeskReset, r, "", map[string]any{
		"previous_status": r.Status, "totp_cleared": r.TOTPEnabled, "expires_at": cred.ExpiresAt.Format(time.RFC3339)})
	return cred, err
}

// normalizeRoles keeps known roles, once each, in the order of Options.Roles, and
// reports false when in names a role the portal does not know.
func (s *Service) normalizeRoles(in []string) ([]string, bool) {
	var out []string
	for _, id := range s.o.Roles.IDs() {
		if slices.Contains(in, id) {
			out = append(out, id)
		}
	}
	for _, r := range in {
		if !s.o.Roles.Has(r) {
			return out, false
		}
	}
	return out, true
}

// CreateStaff creates a pending staff account with its first credentials (staff
// activate like citizens, and enrol TOTP while doing so). It returns an *InputError
// for bad input (including a username already taken).
func (s *Service) CreateStaff(ctx context.Context, actor string, in StaffInput) (*Account, Credentials, error) {
	r, roles, err := s.staffRow(actor, in)
	if err != nil {
		return nil, Credentials{}, err
	}
	var cred Credentials
	err = s.create(ctx, r, "", func(tx *txn) error {
		var err error
		cred, err = s.createStaffTx(tx, actor, r, roles)
		return err
	})
	if errors.Is(err, ErrAccountExists) {
		return nil, Credentials{}, s.staffTaken(ctx, r)
	}
	if err != nil {
		return nil, Credentials{}, err
	}
	return r.account(), cred, nil
}

// staffRow checks a new staff member's input and returns the row to insert and the
// roles, normalized.
func (s *Service) staffRow(actor string, in StaffInput) (*accountRow, []string, error) {
	errs := map[string]string{}
	in.Username = normalizeUsername(in.Username)
	if !ValidStaffUsername(in.Username) {
		errs["username"] = "accounts.staff.username_invalid"
	}
	in.GivenName, in.FamilyName = strings.Join(strings.Fields(in.GivenName), " "), strings.Join(strings.Fields(in.FamilyName), " ")
	checkName(errs, "given_name", in.GivenName)
	checkName(errs, "family_name", in.FamilyName)
	in.Email = strings.TrimSpace(in.Email)
	switch {
	case in.Email == "":
		errs["email"] = "validation.required"
	case !validEmail(in.Email):
		errs["email"] = "validation.email"
	}
	in.Phone = strings.TrimSpace(in.Phone)
	if in.Phone != "" && !phonePattern.MatchString(in.Phone) {
		errs["phone"] = "accounts.desk.phone_invalid"
	}
	var cf *string
	if c := NormalizeFiscalCode(in.FiscalCode); c != "" {
		var fe *FiscalCodeError
		if errors.As(ValidateFiscalCode(c), &fe) {
			errs["fiscal_code"] = fe.Key
		}
		cf = &c
	}
	roles, ok := s.normalizeRoles(in.Roles)
	switch {
	case !ok:
		errs["roles"] = "validation.oneof"
	case len(roles) == 0:
		errs["roles"] = "accounts.staff.roles_required"
	}
	if len(errs) > 0 {
		return nil, nil, &InputError{Fields: errs}
	}
	now := s.now()
	return &accountRow{Username: in.Username, Kind: string(KindStaff), FiscalCode: cf, GivenName: in.GivenName,
		FamilyName: in.FamilyName, Email: in.Email, Phone: in.Phone, Roles: strings.Join(roles, roleSeparator),
		Status: string(StatusPending), CreatedBy: actor, CreatedAt: now, UpdatedAt: now}, roles, nil
}

// createStaffTx audits the creation of r, inserted in tx, and issues its code.
func (s *Service) createStaffTx(tx *txn, actor string, r *accountRow, roles []string) (Credentials, error) {
	if err := tx.audit(staffActor(actor), ActStaffCreate, r, "", map[string]any{"roles": roles}); err != nil {
		return Credentials{}, err
	}
	cred, err := s.issue(tx, r)
	if err != nil {
		return Credentials{}, err
	}
	return cred, tx.audit(staffActor(actor), ActIssue, r, "", map[string]any{"expires_at": cred.ExpiresAt.Format(time.RFC3339)})
}

// staffTaken is the input error of a new staff member whose tax code or username
// another account has.
func (s *Service) staffTaken(ctx context.Context, r *accountRow) error {
	if r.FiscalCode != nil {
		if _, e := s.row(ctx, s.db, "fiscal_code = ?", *r.FiscalCode); e == nil {
			return inputErr("fiscal_code", "accounts.staff.fiscal_code_taken")
		}
	}
	return inputErr("username", "accounts.staff.username_taken")
}

// UpdateStaff changes a staff member's roles and whether the account may be used:
// active=false blocks it (reason ReasonDeactivated), active=true unblocks it. An
// administrator cannot deactivate themselves or drop their own admin role
// (ErrSelfChange). Accounts that are not staff get ErrNotFound.
func (s *Service) UpdateStaff(ctx context.Context, actor string, accountID int64, want []string, active bool) error {
	r, err := s.row(ctx, s.db, "id = ? AND kind = ?", accountID, string(KindStaff))
	if err != nil {
		return err
	}
	ids, ok := s.normalizeRoles(want)
	switch {
	case !ok:
		return inputErr("roles", "validation.oneof")
	case len(ids) == 0:
		return inputErr("roles", "accounts.staff.roles_required")
	}
	before := strings.Fields(r.Roles)
	if normalizeUsername(actor) == r.Username && (!active || (slices.Contains(before, roles.Admin) && !slices.Contains(ids, roles.Admin))) {
		return ErrSelfChange
	}
	upd := map[string]any{"roles": strings.Join(ids, roleSeparator), "updated_at": s.now()}
	blocked := r.Status == string(StatusBlocked)
	switch {
	case active && blocked:
		upd["status"], upd["blocked_reason"] = string(statusAfterUnblock(r)), ""
	case !active && !blocked:
		upd["status"], upd["blocked_reason"] = string(StatusBlocked), ReasonDeactivated
		upd["activation_hash"], upd["activation_expires_at"] = "", nil
	}
	return s.tx(ctx, func(tx *txn) error {
		res := tx.db.Model(&accountRow{}).Where("id = ? AND status = ? AND roles = ?", r.ID, r.Status, r.Roles).Updates(upd)
		if res.Error != nil {
			return internal("update staff", res.Error)
		}
		if res.RowsAffected != 1 {
			return ErrWrongState // changed meanwhile: reload and retry
		}
		return tx.audit(staffActor(actor), ActStaffUpdate, r, "", map[string]any{
			"roles_before": before, "roles": ids, "active": active, "was_active": !blocked})
	})
}
