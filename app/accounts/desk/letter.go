package desk

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/comuni-italiani/sportello/app/accounts"
	"github.com/comuni-italiani/sportello/app/pdfdoc"
	"github.com/comuni-italiani/sportello/app/web"
	"github.com/comuni-italiani/sportello/config"
)

// LetterLang is the language of the credential letter: Italian, the language of the
// comune's acts.
const LetterLang = "it"

// letter serves the credential letter of an account of kind for the code posted with
// the form of the credentials page. Only the current, unexpired code prints.
func (h *handlers) letter(kind accounts.Kind) echo.HandlerFunc {
	return func(c echo.Context) error {
		a, err := h.load(c, kind)
		if err != nil {
			return err
		}
		a, cred, err := h.Accounts.CredentialsFor(ctx(c), a.ID, c.FormValue("code"))
		if errors.Is(err, accounts.ErrInvalidActivation) {
			return web.NewError(http.StatusConflict, "accounts.cred.letter_invalid")
		}
		if err != nil {
			return err
		}
		operator := actor(c)
		if v := web.CurrentViewer(c); v != nil && v.DisplayName != "" {
			operator = v.DisplayName
		}
		pdf, err := Letter(h.Render.I18n(), h.Comune, a, cred, h.Accounts.ActivationURL(), operator, h.Accounts.Now())
		if err != nil {
			return err
		}
		noStore(c)
		c.Response().Header().Set(echo.HeaderContentDisposition,
			fmt.Sprintf(`attachment; filename="credenziali-%s.pdf"`, strings.ReplaceAll(a.Username, `"`, "")))
		return c.Blob(http.StatusOK, "application/pdf", pdf)
	}
}

// Letter lays out the credential letter (in Italian) for account a: the comune's
// letterhead, the holder's name and tax code, username, activation code, expiry, the
// activation address and steps, the advice to keep the credentials private, and the
// URP's contacts. issued is the date printed at the bottom.
func Letter(msg *web.I18n, comune config.Comune, a *accounts.Account, cred accounts.Credentials, activationURL, operator string, issued time.Time) ([]byte, error) {
	t := func(key string, args ...any) string { return msg.T(LetterLang, key, args...) }
	title := t("accounts.letter.title")
	doc := pdfdoc.New(pdfdoc.Letterhead{Comune: comune.Name, Province: comune.Province, Office: t("accounts.letter.office"),
		Address: comune.Address, Phone: comune.Phone, Email: comune.Email, PEC: comune.PEC, Website: comune.Website}, title)
	doc.Title(title)
	doc.Paragraph(t("accounts.letter.intro", "Name", a.FullName(), "Comune", comune.Name))
	fields := []pdfdoc.Field{{Label: t("accounts.letter.holder"), Value: a.FullName()}}
	if a.FiscalCode != "" {
		fields = append(fields, pdfdoc.Field{Label: t("accounts.field.fiscal_code"), Value: a.FiscalCode})
	}
	fields = append(fields,
		pdfdoc.Field{Label: t("accounts.field.username"), Value: cred.Username},
		pdfdoc.Field{Label: t("accounts.letter.code"), Value: cred.ActivationCode},
		pdfdoc.Field{Label: t("accounts.letter.expires"), Value: cred.ExpiresAt.In(web.Rome).Format("02/01/2006")},
		pdfdoc.Field{Label: t("accounts.letter.url"), Value: activationURL},
	)
	doc.Fields(fields)
	doc.Heading(t("accounts.letter.how_title"))
	doc.ParagraphLeft(t("accounts.letter.step1", "URL", activationURL))
	doc.ParagraphLeft(t("accounts.letter.step2"))
	doc.ParagraphLeft(t("accounts.letter.step3"))
	if a.Kind == accounts.KindStaff {
		doc.ParagraphLeft(t("accounts.letter.step4_staff"))
	} else {
		doc.ParagraphLeft(t("accounts.letter.step4_citizen"))
	}
	doc.Paragraph(t("accounts.letter.expiry_note"))
	doc.Heading(t("accounts.letter.privacy_title"))
	doc.Paragraph(t("accounts.letter.privacy_text"))
	doc.Heading(t("accounts.letter.contacts_title"))
	doc.ParagraphLeft(t("accounts.letter.contacts_text", "Comune", comune.Name, "Address", comune.Address,
		"Phone", comune.Phone, "Email", comune.Email))
	doc.Spacer(4)
	doc.Note(t("accounts.letter.issued", "Date", issued.In(web.Rome).Format("02/01/2006"), "Operator", operator))
	return doc.Bytes()
}
