package cases

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"github.com/comuni-italiani/sportello/app/enti"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"gorm.io/gorm"

	"github.com/comuni-italiani/sportello/app/pdfdoc"
	"github.com/comuni-italiani/sportello/app/stamp"
	"github.com/comuni-italiani/sportello/app/store"
	"github.com/comuni-italiani/sportello/app/web"
)

// ReceiptType is the stamp payload's type of a submission receipt.
const ReceiptType = "ricevuta_pratica"

// VerifyBase is the public verification page of receipts: VerifyBase + "/<code>".
const VerifyBase = "/verifica/pratica"

// Receipt is the stamped proof of a submission, issued in its transaction.
type Receipt struct {
	CaseID int64 `gorm:"primaryKey;autoIncrement:false"`
	// EnteID is the comune the case belongs to.
	EnteID string `gorm:"column:ente_id;size:40;not null"`
	// Code is the case's verification code (printed, typed at VerifyBase).
	Code string
	// Stamp is the COSE_Sign1 message, base64url (stamp.Encode).
	Stamp string
	// HistoryID is the submission step: the documents it carried are certified.
	HistoryID int64
	IssuedAt  time.Time
}

// TableName fixes the table name.
func (Receipt) TableName() string { return "case_receipts" }

func receiptMigrations() []*store.Migration {
	// Frozen copy as of cases/0002: never edit, add a new step instead.
	type caseReceipt struct {
		CaseID    int64     `gorm:"primaryKey;autoIncrement:false"`
		Code      string    `gorm:"size:32;not null;uniqueIndex:case_receipts_code"`
		Stamp     string    `gorm:"type:text;not null"`
		HistoryID int64     `gorm:"not null"`
		IssuedAt  time.Time `gorm:"not null"`
	}
	return []*store.Migration{{
		ID: "cases/0002_receipts",
		Migrate: func(tx *gorm.DB) error {
			return tx.Table("case_receipts").AutoMigrate(&caseReceipt{})
		},
	}}
}

// receiptData is what a receipt certifies (hashed into the stamp). Renaming a field
// breaks every receipt issued: add fields only with a new payload type.
type receiptData struct {
	Protocol    string
	Module      string
	Type        string
	ApplicantCF string
	SubmittedAt time.Time
	FormData    string
	Documents   []receiptDoc
}

type receiptDoc struct {
	Name   string
	SHA256 string
}

func (s *Service) receiptHash(ctx context.Context, db *gorm.DB, c *Case, historyID int64) ([]byte, []Attachment, error) {
	var docs []Attachment
	if err := enti.For(ctx, db).Where("case_id = ? AND history_id = ?", c.ID, historyID).Order("id").Find(&docs).Error; err != nil {
		return nil, nil, fmt.Errorf("cases: receipt documents: %w", err)
	}
	d := receiptData{Protocol: c.Protocol, Module: c.Module, Type: c.Type, ApplicantCF: c.ApplicantCF,
		FormData: c.FormData}
	if c.SubmittedAt != nil {
		d.SubmittedAt = *c.SubmittedAt
	}
	for _, a := range docs {
		d.Documents = append(d.Documents, receiptDoc{Name: a.Name, SHA256: a.SHA256})
	}
	return stamp.DataHash(d), docs, nil
}

// issueReceipt signs and stores the receipt of c's submission (step historyID) in tx.
func (s *Service) issueReceipt(ctx context.Context, tx *gorm.DB, c *Case, historyID int64, now time.Time) error {
	if s.local(ctx).Stamp == nil {
		return nil
	}
	hash, _, err := s.receiptHash(ctx, tx, c, historyID)
	if err != nil {
		return err
	}
	day := now.In(s.rome)
	msg, err := s.local(ctx).Stamp.Sign(stamp.Payload{Issuer: s.local(ctx).Issuer, CertID: c.Code, Type: ReceiptType,
		Holder: c.ApplicantCF, IssuedAt: day, ExpiresAt: day, DataHash: hash})
	if err != nil {
		return fmt.Errorf("cases: sign receipt: %w", err)
	}
	r := Receipt{CaseID: c.ID, Code: c.Code, Stamp: stamp.Encode(msg), HistoryID: historyID, IssuedAt: now}
	if err := enti.For(ctx, tx).Create(&r).Error; err != nil {
		return fmt.Errorf("cases: store receipt: %w", err)
	}
	return nil
}

// ReceiptOf returns the receipt of case id, ErrNotFound when it has none.
func (s *Service) ReceiptOf(ctx context.Context, id int64) (*Receipt, error) {
	var r Receipt
	err := enti.For(ctx, s.db).Where("case_id = ?", id).Take(&r).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, ErrNotFound
	}
	return &r, err
}

// Verdict is the outcome of checking a receipt.
type Verdict struct {
	Authentic bool
	Case      *Case
	TitleKey  string
	Documents []Attachment
}

// VerifyReceipt checks the receipt with verification code code: the stored stamp's
// signature against the key ring, its code, and its data hash against the case as
// stored now. A code with no receipt is ErrNotFound.
func (s *Service) VerifyReceipt(ctx context.Context, code string) (*Verdict, error) {
	code, err := stamp.NormalizeCode(code)
	if err != nil {
		return nil, ErrNotFound
	}
	var r Receipt
	err = enti.For(ctx, s.db).Where("code = ?", code).Take(&r).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	c, err := s.Get(ctx, r.CaseID)
	if err != nil {
		return nil, err
	}
	v := &Verdict{Case: c}
	if t, ok := s.Type(c.Module, c.Type); ok {
		v.TitleKey = t.Title
	}
	hash, docs, err := s.receiptHash(ctx, s.db, c, r.HistoryID)
	if err != nil {
		return nil, err
	}
	v.Documents = docs
	msg, err := stamp.Decode(r.Stamp)
	if err != nil || s.local(ctx).Stamp == nil {
		return v, nil
	}
	p, err := s.local(ctx).Stamp.Verify(msg)
	v.Authentic = err == nil && p.CertID == code && p.Type == ReceiptType && p.Holder == c.ApplicantCF &&
		subtle.ConstantTimeCompare(p.DataHash, hash) == 1
	return v, nil
}

// receiptPDF lays out the receipt of c, in Italian.
func (s *Service) receiptPDF(ctx context.Context, c *Case, t *Type, r *Receipt) ([]byte, error) {
	T := func(key string, args ...any) string { return s.o.I18n.T("it", key, args...) }
	_, docs, err := s.receiptHash(ctx, s.db, c, r.HistoryID)
	if err != nil {
		return nil, err
	}
	msg, err := stamp.Decode(r.Stamp)
	if err != nil {
		return nil, err
	}
	base := strings.TrimSuffix(s.local(ctx).BaseURL, "/")
	url := base + VerifyBase + "/" + r.Code + "#" + stamp.Encode(msg)
	doc := pdfdoc.New(s.local(ctx).Letterhead, T("cases.receipt.title")+" "+c.Protocol, pdfdoc.WithCreationDate(r.IssuedAt),
		pdfdoc.WithPageMark(T("cases.receipt.page_mark", "Protocol", c.Protocol, "URL", base+VerifyBase)))
	doc.Title(strings.ToUpper(T("cases.receipt.title")))
	doc.Paragraph(T("cases.receipt.intro", "Title", T(t.Title)))
	fields := []pdfdoc.Field{
		{Label: T("cases.field.protocol"), Value: c.Protocol},
		{Label: T("cases.field.type"), Value: T(t.Title)},
		{Label: T("cases.field.applicant"), Value: strings.TrimSpace(c.ApplicantName + " " + c.ApplicantCF)},
		{Label: T("cases.field.submitted"), Value: c.SubmittedAt.In(s.rome).Format("02/01/2006 15:04")},
	}
	if c.Deadline != nil {
		fields = append(fields, pdfdoc.Field{Label: T("cases.form.answer_by"), Value: c.Deadline.In(s.rome).Format("02/01/2006")})
	}
	doc.Fields(fields)
	if len(docs) > 0 {
		doc.Heading(T("cases.documents.title"))
		var df []pdfdoc.Field
		for _, a := range docs {
			df = append(df, pdfdoc.Field{Label: a.Name, Value: "SHA-256 " + a.SHA256})
		}
		doc.Fields(df)
	}
	st := pdfdoc.Stamp{URL: url, Code: r.Code, Lines: []string{T("cases.receipt.stamp_line", "Protocol", c.Protocol)}}
	h, err := doc.StampHeight(st)
	if err != nil {
		return nil, err
	}
	doc.KeepTogether(h)
	if err := doc.StampBlock(st); err != nil {
		return nil, err
	}
	return doc.Bytes()
}

func (p *Pages) citizenReceipt(c echo.Context) error {
	cs, t, _, err := p.citizenCase(c)
	if err != nil {
		return err
	}
	r, err := p.s.ReceiptOf(c.Request().Context(), cs.ID)
	if errors.Is(err, ErrNotFound) {
		return web.ErrNotFound
	}
	if err != nil {
		return err
	}
	b, err := p.s.receiptPDF(c.Request().Context(), cs, t, r)
	if err != nil {
		return err
	}
	name := "ricevuta-" + strings.ReplaceAll(cs.Protocol, "/", "-") + ".pdf"
	c.Response().Header().Set("Content-Disposition", `attachment; filename="`+name+`"`)
	c.Response().Header().Set("Cache-Control", "private, no-store")
	return c.Blob(http.StatusOK, "application/pdf", b)
}

// MountPublic registers the receipt verification page on r (the site root, no login).
func (p *Pages) MountPublic(r *web.Routes) {
	r.GET(VerifyBase+"/:code", p.verifyReceipt)
}

func (p *Pages) verifyReceipt(c echo.Context) error {
	v, err := p.s.VerifyReceipt(c.Request().Context(), c.Param("code"))
	if errors.Is(err, ErrNotFound) {
		return p.render.Render(c, http.StatusNotFound, "cases/verify.html", map[string]any{"Unknown": true})
	}
	if err != nil {
		return err
	}
	return p.render.Render(c, http.StatusOK, "cases/verify.html", map[string]any{"V": v})
}
