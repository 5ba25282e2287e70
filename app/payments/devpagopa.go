package payments

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"html/template"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"gorm.io/gorm"

	"github.com/comuni-italiani/sportello/app/store"
	"github.com/comuni-italiani/sportello/app/web"
)

// DevPrefix is where the development pagoPA answers on the portal's own server.
const DevPrefix = "/_pagopa-dev"

// Dev is the embedded development pagoPA: an in-process stand-in that speaks the same
// API subset as pagoPA's GPD and Checkout (see client.go), so that `make run` and the
// tests run the production client code against it. Its Checkout page lets whoever
// plays the payer pay or make the payment fail; it also pays by notice number, as a
// tobacconist or a banking app would. The portal refuses to serve it in production.
//
// It keeps its positions and carts in the portal's database (tables
// payment_dev_positions and payment_dev_carts, see devMigration), so a restart of the
// portal forgets nothing: a position published before it can still be paid, read
// and deleted after it. These tables are installation-wide, not ente-owned: the
// stand-in plays the national platform, which all creditor institutions share and
// which keys a position by the creditor's fiscal code and the IUPD, as pagoPA's GPD
// does. The portal's own record of a position (payment_positions) stays ente-owned.
type Dev struct {
	db  *gorm.DB
	now func() time.Time
}

// devPositionRow is one debt position known to the development pagoPA; Body is the
// position as GPD would return it (JSON of gpdPosition). NAV is the notice number
// of its first installment (the portal's client sends one).
type devPositionRow struct {
	Org       string `gorm:"primaryKey;size:16"`
	IUPD      string `gorm:"column:iupd;primaryKey;size:64"`
	IUV       string `gorm:"column:iuv;size:35;not null"`
	NAV       string `gorm:"column:nav;size:18;not null"`
	Paid      bool   `gorm:"not null;default:false"`
	Body      string `gorm:"type:text;not null"`
	CreatedAt time.Time
}

func (devPositionRow) TableName() string { return "payment_dev_positions" }

// devCartRow is one Checkout cart (JSON of cartRequest) and whether it was closed.
type devCartRow struct {
	ID        string `gorm:"primaryKey;size:32"`
	Body      string `gorm:"type:text;not null"`
	Done      bool   `gorm:"not null;default:false"`
	CreatedAt time.Time
}

func (devCartRow) TableName() string { return "payment_dev_carts" }

// devMigration creates the development pagoPA's tables. They are created in every
// installation (a migration list does not depend on the configuration) and stay
// empty where the development pagoPA is not served, as in production.
func devMigration() *store.Migration {
	return &store.Migration{
		ID: "payments/0003_dev_pagopa",
		Migrate: func(tx *gorm.DB) error {
			type paymentDevPosition struct {
				Org       string `gorm:"primaryKey;size:16"`
				IUPD      string `gorm:"column:iupd;primaryKey;size:64"`
				IUV       string `gorm:"column:iuv;size:35;not null"`
				NAV       string `gorm:"column:nav;size:18;not null"`
				Paid      bool   `gorm:"not null;default:false"`
				Body      string `gorm:"type:text;not null"`
				CreatedAt time.Time
			}
			type paymentDevCart struct {
				ID        string `gorm:"primaryKey;size:32"`
				Body      string `gorm:"type:text;not null"`
				Done      bool   `gorm:"not null;default:false"`
				CreatedAt time.Time
			}
			if err := tx.Table("payment_dev_positions").AutoMigrate(&paymentDevPosition{}); err != nil {
				return err
			}
			if err := tx.Table("payment_dev_carts").AutoMigrate(&paymentDevCart{}); err != nil {
				return err
			}
			for _, s := range []string{
				`CREATE UNIQUE INDEX payment_dev_positions_iuv ON payment_dev_positions (org, iuv)`,
				`CREATE INDEX payment_dev_positions_nav ON payment_dev_positions (org, nav)`,
			} {
				if err := tx.Exec(s).Error; err != nil {
					return err
				}
			}
			return nil
		},
	}
}

// NewDev returns the development pagoPA over db, which must carry the payments
// migrations (Migrations).
func NewDev(db *gorm.DB) *Dev {
	return &Dev{db: db, now: time.Now}
}

// DevSettings returns the settings that point an ente at the development pagoPA of a
// portal served at baseURL.
func DevSettings(baseURL, companyName, fiscalCode, iban string, segregation int) Settings {
	base := strings.TrimSuffix(baseURL, "/") + DevPrefix
	return Settings{Dev: true, CompanyName: companyName, FiscalCode: fiscalCode, Segregation: segregation, IBAN: iban,
		SubscriptionKey: "dev-subscription-key", GPDURL: base + "/gpd/debt-positions-service/v3",
		CheckoutURL: base + "/checkout/ec/v1"}
}

func problem(w http.ResponseWriter, status int, title, detail string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"title": title, "status": status, "detail": detail})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// ServeHTTP serves the API and the payer's pages under DevPrefix.
func (d *Dev) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p := strings.TrimPrefix(r.URL.Path, DevPrefix)
	if r.Method == http.MethodDelete && r.Body != nil {
		// deletePosition has no body; one that is not even valid text is refused
		// like every malformed input of the portal (the portal's own check reads
		// the bodies of POST forms only).
		b, _ := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<16))
		ok := web.ValidText(string(b))
		if vals, err := url.ParseQuery(string(b)); ok && err == nil {
			for _, vs := range vals {
				for _, v := range vs {
					ok = ok && web.ValidText(v)
				}
			}
		}
		if !ok {
			problem(w, http.StatusBadRequest, "Bad Request", "malformed body")
			return
		}
	}
	const gpd = "/gpd/debt-positions-service/v3/organizations/"
	switch {
	case strings.HasPrefix(p, gpd):
		if r.Header.Get(subscriptionHeader) == "" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		rest := strings.Split(strings.TrimPrefix(p, gpd), "/")
		switch {
		case len(rest) == 2 && rest[1] == "debtpositions" && r.Method == http.MethodPost:
			d.create(w, r, rest[0])
		case len(rest) == 3 && rest[1] == "debtpositions" && r.Method == http.MethodGet:
			d.get(w, r, rest[0], rest[2])
		case len(rest) == 3 && rest[1] == "debtpositions" && r.Method == http.MethodDelete:
			d.delete(w, r, rest[0], rest[2])
		default:
			problem(w, http.StatusNotFound, "Not Found", "no such operation in the development pagoPA")
		}
	case p == "/checkout/ec/v1/carts" && r.Method == http.MethodPost:
		if r.Header.Get(subscriptionHeader) == "" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		d.cart(w, r)
	case strings.HasPrefix(p, "/pay/"):
		d.page(w, r, strings.TrimPrefix(p, "/pay/"))
	default:
		http.NotFound(w, r)
	}
}

func (d *Dev) create(w http.ResponseWriter, r *http.Request, org string) {
	var gp gpdPosition
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20))
	if err := dec.Decode(&gp); err != nil || gp.IUPD == "" || len(gp.IUPD) > 64 || len(org) > 16 ||
		len(gp.PaymentOption) == 0 || len(gp.PaymentOption[0].Installments) == 0 {
		problem(w, http.StatusBadRequest, "Bad Request", "malformed debt position")
		return
	}
	if r.URL.Query().Get("toPublish") == "true" {
		gp.Status = "VALID"
	} else {
		gp.Status = "DRAFT"
	}
	for i := range gp.PaymentOption[0].Installments {
		gp.PaymentOption[0].Installments[i].Status = "UNPAID"
	}
	first := gp.PaymentOption[0].Installments[0]
	body, err := json.Marshal(gp)
	if err != nil {
		problem(w, http.StatusBadRequest, "Bad Request", "malformed debt position")
		return
	}
	row := devPositionRow{Org: org, IUPD: gp.IUPD, IUV: first.IUV, NAV: first.NAV, Body: string(body), CreatedAt: d.now().UTC()}
	db := d.db.WithContext(r.Context())
	if err := db.Create(&row).Error; err != nil {
		// Refused by the primary key (the IUPD) or the unique IUV of this creditor.
		var n int64
		if db.Model(&devPositionRow{}).Where("org = ? AND (iupd = ? OR iuv = ?)", org, gp.IUPD, first.IUV).Count(&n); n > 0 {
			problem(w, http.StatusConflict, "Conflict", "duplicate debt position "+gp.IUPD+" or IUV")
			return
		}
		problem(w, http.StatusInternalServerError, "Internal Server Error", "debt position not stored")
		return
	}
	// The answer is the request as stored (PaymentPositionModelV3).
	writeJSON(w, http.StatusCreated, gp)
}

// load returns the stored position org/iupd, false when there is none.
func (d *Dev) load(ctx context.Context, org, iupd string) (devPositionRow, gpdPosition, bool, error) {
	var row devPositionRow
	var gp gpdPosition
	err := d.db.WithContext(ctx).Where("org = ? AND iupd = ?", org, iupd).Take(&row).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return row, gp, false, nil
	}
	if err != nil {
		return row, gp, false, err
	}
	if err := json.Unmarshal([]byte(row.Body), &gp); err != nil {
		return row, gp, false, err
	}
	return row, gp, true, nil
}

func (d *Dev) get(w http.ResponseWriter, r *http.Request, org, iupd string) {
	_, gp, ok, err := d.load(r.Context(), org, iupd)
	if err != nil {
		problem(w, http.StatusInternalServerError, "Internal Server Error", "debt position not read")
		return
	}
	if !ok {
		problem(w, http.StatusNotFound, "Not Found", "no debt position "+iupd)
		return
	}
	gp.OrgFiscalCode = org
	writeJSON(w, http.StatusOK, gp)
}

func (d *Dev) delete(w http.ResponseWriter, r *http.Request, org, iupd string) {
	db := d.db.WithContext(r.Context())
	res := db.Where("org = ? AND iupd = ? AND paid = ?", org, iupd, false).Delete(&devPositionRow{})
	if res.Error != nil {
		problem(w, http.StatusInternalServerError, "Internal Server Error", "debt position not deleted")
		return
	}
	if res.RowsAffected == 0 {
		var n int64
		db.Model(&devPositionRow{}).Where("org = ? AND iupd = ?", org, iupd).Count(&n)
		if n > 0 {
			problem(w, http.StatusConflict, "Conflict", "the debt position is paid")
			return
		}
		problem(w, http.StatusNotFound, "Not Found", "no debt position "+iupd)
		return
	}
	writeJSON(w, http.StatusOK, "OK")
}

func (d *Dev) cart(w http.ResponseWriter, r *http.Request) {
	var cr cartRequest
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&cr); err != nil ||
		len(cr.PaymentNotices) == 0 || len(cr.PaymentNotices) > 5 || cr.ReturnURLs.ReturnOkURL == "" {
		problem(w, http.StatusBadRequest, "Bad Request", "malformed cart")
		return
	}
	var b [16]byte
	_, _ = rand.Read(b[:])
	id := hex.EncodeToString(b[:])
	body, _ := json.Marshal(cr)
	if err := d.db.WithContext(r.Context()).Create(&devCartRow{ID: id, Body: string(body), CreatedAt: d.now().UTC()}).Error; err != nil {
		problem(w, http.StatusInternalServerError, "Internal Server Error", "cart not stored")
		return
	}
	base := strings.TrimSuffix(r.URL.Path, "/checkout/ec/v1/carts")
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	w.Header().Set("Location", scheme+"://"+r.Host+base+"/pay/"+id)
	w.WriteHeader(http.StatusFound)
}

// Pay pays the notice of creditor org as a payment service provider would and
// returns the receipt's identifier; false when the notice is unknown, expired or paid.
// Of two simultaneous payments of one notice one wins (a conditional UPDATE).
func (d *Dev) Pay(org, notice string) (string, bool) {
	ctx := context.Background()
	var rows []devPositionRow
	if err := d.db.WithContext(ctx).Where("org = ? AND nav = ? AND paid = ?", org, notice, false).Find(&rows).Error; err != nil || len(rows) == 0 {
		return "", false
	}
	row := rows[0]
	var gp gpdPosition
	if err := json.Unmarshal([]byte(row.Body), &gp); err != nil || gp.Status != "VALID" {
		return "", false
	}
	var in *gpdInstallment
	for i := range gp.PaymentOption {
		for j := range gp.PaymentOption[i].Installments {
			if gp.PaymentOption[i].Installments[j].NAV == notice {
				in = &gp.PaymentOption[i].Installments[j]
			}
		}
	}
	if in == nil || in.Status != "UNPAID" {
		return "", false
	}
	if due, err := time.Parse(time.RFC3339, in.DueDate); err == nil && gp.PaymentOption[0].SwitchToExpired && d.now().After(due) {
		return "", false
	}
	var b [10]byte
	_, _ = rand.Read(b[:])
	in.Status = "PAID"
	in.IDReceipt = "DEV" + strings.ToUpper(hex.EncodeToString(b[:]))
	in.PaymentDate = d.now().UTC().Format(time.RFC3339)
	in.PSPCompany = "PSP di sviluppo (nessun addebito)"
	gp.Status = "PAID"
	gp.PaymentDate = in.PaymentDate
	body, err := json.Marshal(gp)
	if err != nil {
		return "", false
	}
	res := d.db.WithContext(ctx).Model(&devPositionRow{}).Where("org = ? AND iupd = ? AND paid = ?", row.Org, row.IUPD, false).
		Updates(map[string]any{"paid": true, "body": string(body)})
	if res.Error != nil || res.RowsAffected != 1 {
		return "", false
	}
	return in.IDReceipt, true
}

var devPage = template.Must(template.New("dev").Parse(`<!doctype html>
<html lang="it"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>pagoPA di sviluppo</title><link rel="icon" href="/static/img/stemma.svg" type="image/svg+xml"></head>
<body><main>
<h1>pagoPA di sviluppo</h1>
<p><strong>Ambiente di prova:</strong> nessun pagamento reale viene eseguito. Questa pagina sostituisce pagoPA Checkout.</p>
{{if .Done}}<p role="alert">Questo carrello è già stato chiuso.</p>{{else}}
<h2>Avvisi nel carrello</h2>
<ul>{{range .Cart.PaymentNotices}}
<li>{{.CompanyName}} — {{.Description}}: <strong>{{.Euro}} €</strong> (avviso {{.NoticeNumber}})</li>{{end}}
</ul>
<form method="post" action="{{.Action}}">
<fieldset><legend>Esito da simulare</legend>
<p><input type="radio" id="esito-ok" name="action" value="pay" checked> <label for="esito-ok">Pagamento riuscito</label></p>
<p><input type="radio" id="esito-ko" name="action" value="fail"> <label for="esito-ko">Pagamento non riuscito</label></p>
<p><input type="radio" id="esito-annulla" name="action" value="cancel"> <label for="esito-annulla">Annulla e torna al portale</label></p>
</fieldset>
<p><button type="submit">Conferma</button></p>
</form>{{end}}
</main></body></html>`))

type devNoticeView struct {
	cartNotice
	Euro string
}

func (d *Dev) page(w http.ResponseWriter, r *http.Request, id string) {
	var row devCartRow
	err := d.db.WithContext(r.Context()).Where("id = ?", id).Take(&row).Error
	if errors.Is(err, gorm.ErrRecordNotFound) || len(id) > 32 {
		http.NotFound(w, r)
		return
	}
	var cr cartRequest
	if err == nil {
		err = json.Unmarshal([]byte(row.Body), &cr)
	}
	if err != nil {
		http.Error(w, "carrello illeggibile", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	if r.Method == http.MethodGet {
		var view struct {
			Action string
			Done   bool
			Cart   struct{ PaymentNotices []devNoticeView }
		}
		view.Done, view.Action = row.Done, r.URL.Path
		for _, n := range cr.PaymentNotices {
			view.Cart.PaymentNotices = append(view.Cart.PaymentNotices, devNoticeView{n, FormatEuro(n.Amount)})
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_ = devPage.Execute(w, view)
		return
	}
	if r.Method != http.MethodPost {
		w.WriteHeader(http.StatusMethodNotAllowed)
		return
	}
	// The cart is closed first, conditionally: of two submissions one goes on.
	res := d.db.WithContext(r.Context()).Model(&devCartRow{}).Where("id = ? AND done = ?", id, false).Update("done", true)
	if res.Error != nil || res.RowsAffected != 1 {
		http.Error(w, "carrello già chiuso", http.StatusConflict)
		return
	}
	target := cr.ReturnURLs.ReturnCancelURL
	switch r.FormValue("action") {
	case "pay":
		target = cr.ReturnURLs.ReturnOkURL
		for _, n := range cr.PaymentNotices {
			if _, ok := d.Pay(n.FiscalCode, n.NoticeNumber); !ok {
				target = cr.ReturnURLs.ReturnErrorURL
			}
		}
	case "fail":
		target = cr.ReturnURLs.ReturnErrorURL
	}
	if _, err := url.Parse(target); err != nil || target == "" {
		http.Error(w, "indirizzo di ritorno non valido", http.StatusBadRequest)
		return
	}
	http.Redirect(w, r, target, http.StatusSeeOther)
}
