package desk

import (
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/comuni-italiani/sportello/app/accounts"
	"github.com/comuni-italiani/sportello/app/enti"
	"github.com/comuni-italiani/sportello/app/pdfdoc"
	"github.com/comuni-italiani/sportello/app/web"
	"github.com/comuni-italiani/sportello/config"
	"github.com/comuni-italiani/sportello/static"
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
		comune := h.Comune
		if e := enti.Current(c); e != nil {
			comune = e.Comune()
		}
		pdf, err := Letter(h.Render.I18n(), comune, a, cred, h.Accounts.ActivationURL(), operator, h.Accounts.Now())
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
// letterhead with its coat of arms (ArmsFor), the holder's name and tax code,
// username, activation code, expiry, the activation address, a QR code that opens it
// with the username filled in (never the code), the steps, the advice to keep the
// credentials private, and the URP's contacts. issued is the date printed at the
// bottom.
func Letter(msg *web.I18n, comune config.Comune, a *accounts.Account, cred accounts.Credentials, activationURL, operator string, issued time.Time) ([]byte, error) {
	t := func(key string, args ...any) string { return msg.T(LetterLang, key, args...) }
	title := t("accounts.letter.title")
	doc := pdfdoc.New(pdfdoc.Letterhead{Comune: comune.Name, Province: comune.Province, Office: t("accounts.letter.office"),
		Address: comune.Address, Phone: comune.Phone, Email: comune.Email, PEC: comune.PEC, Website: comune.Website}, title,
		pdfdoc.WithArms(ArmsFor(comune)))
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
	doc.Spacer(2)
	doc.ParagraphLeft(t("accounts.letter.qr"))
	if err := doc.QRBlock(QRContent(activationURL, cred.Username), pdfdoc.MinQRSizeMM); err != nil {
		return nil, err
	}
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

// QRContent is what the letter's QR code holds: the activation address with the
// username filled in (the activation page reads ?utente=).
func QRContent(activationURL, username string) string {
	return activationURL + "?utente=" + url.QueryEscape(username)
}

// DefaultArms is the coat of arms used when the comune's is not a local SVG file.
const DefaultArms = "/static/img/stemma.svg"

var armsCache sync.Map // path → *pdfdoc.Arms

// ArmsFor returns the comune's coat of arms for the letterhead: its CoatOfArms when it
// is an SVG file among the portal's static files (/static/....svg) that pdfdoc can draw,
// otherwise the portal's default emblem. Files are parsed once.
func ArmsFor(comune config.Comune) *pdfdoc.Arms {
	for _, p := range []string{comune.CoatOfArms, DefaultArms} {
		if !strings.HasPrefix(p, "/static/") || !strings.HasSuffix(p, ".svg") {
			continue
		}
		if a, ok := armsCache.Load(p); ok {
			return a.(*pdfdoc.Arms)
		}
		b, err := fs.ReadFile(static.FS, strings.TrimPrefix(p, "/static/"))
		if err != nil {
			continue
		}
		a, err := pdfdoc.ParseArms(b)
		if err != nil {
			continue
		}
		armsCache.Store(p, a)
		return a
	}
	return nil
}
