package payments

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"html/template"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/comuni-italiani/sportello/app/web"
)

// DevPrefix is where the development pagoPA answers on the portal's own server.
const DevPrefix = "/_pagopa-dev"

// Dev is the embedded development pagoPA: an in-process stand-in that speaks the same
// API subset as pagoPA's GPD and Checkout (see client.go), so that `make run` and the
// tests run the production client code against it. Its Checkout page lets whoever
// plays the payer pay or make the payment fail; it also pays by notice number, as a
// tobacconist or a banking app would. It keeps its positions in memory (lost at
// restart: positions published before a restart then fail to refresh until they are
// requested again). The portal refuses to serve it in production.
type Dev struct {
	mu        sync.Mutex
	positions map[string]*devPosition // key: creditor fiscal code + "/" + iupd
	carts     map[string]*devCart
	now       func() time.Time
}

type devPosition struct {
	org  string
	pos  gpdPosition
	at   time.Time
	paid bool
}

type devCart struct {
	req  cartRequest
	done bool
}

// NewDev returns an empty development pagoPA.
func NewDev() *Dev {
	return &Dev{positions: map[string]*devPosition{}, carts: map[string]*devCart{}, now: time.Now}
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
			d.get(w, rest[0], rest[2])
		case len(rest) == 3 && rest[1] == "debtpositions" && r.Method == http.MethodDelete:
			d.delete(w, rest[0], rest[2])
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
	if err := dec.Decode(&gp); err != nil || gp.IUPD == "" || len(gp.PaymentOption) == 0 ||
		len(gp.PaymentOption[0].Installments) == 0 {
		problem(w, http.StatusBadRequest, "Bad Request", "malformed debt position")
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	key := org + "/" + gp.IUPD
	if _, ok := d.positions[key]; ok {
		problem(w, http.StatusConflict, "Conflict", "duplicate debt position "+gp.IUPD)
		return
	}
	for _, dp := range d.positions {
		if dp.org == org && dp.pos.PaymentOption[0].Installments[0].IUV == gp.PaymentOption[0].Installments[0].IUV {
			problem(w, http.StatusConflict, "Conflict", "duplicate IUV")
			return
		}
	}
	if r.URL.Query().Get("toPublish") == "true" {
		gp.Status = "VALID"
	} else {
		gp.Status = "DRAFT"
	}
	for i := range gp.PaymentOption[0].Installments {
		gp.PaymentOption[0].Installments[i].Status = "UNPAID"
	}
	d.positions[key] = &devPosition{org: org, pos: clonePosition(gp), at: d.now()}
	// The answer is the request as stored (PaymentPositionModelV3); the stored copy
	// is marshalled now, before a payment can change it.
	writeJSON(w, http.StatusCreated, gp)
}

func (d *Dev) get(w http.ResponseWriter, org, iupd string) {
	d.mu.Lock()
	dp, ok := d.positions[org+"/"+iupd]
	var out gpdPosition
	if ok {
		out = clonePosition(dp.pos)
		out.OrgFiscalCode = org
	}
	d.mu.Unlock()
	if !ok {
		problem(w, http.StatusNotFound, "Not Found", "no debt position "+iupd)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

func (d *Dev) delete(w http.ResponseWriter, org, iupd string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	dp, ok := d.positions[org+"/"+iupd]
	if !ok {
		problem(w, http.StatusNotFound, "Not Found", "no debt position "+iupd)
		return
	}
	if dp.paid {
		problem(w, http.StatusConflict, "Conflict", "the debt position is paid")
		return
	}
	delete(d.positions, org+"/"+iupd)
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
	d.mu.Lock()
	d.carts[id] = &devCart{req: cr}
	d.mu.Unlock()
	base := strings.TrimSuffix(r.URL.Path, "/checkout/ec/v1/carts")
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	w.Header().Set("Location", scheme+"://"+r.Host+base+"/pay/"+id)
	w.WriteHeader(http.StatusFound)
}

// find returns the installment with this notice number of creditor org (lock held).
func (d *Dev) find(org, notice string) (*devPosition, *gpdInstallment) {
	for _, dp := range d.positions {
		if dp.org != org {
			continue
		}
		for i := range dp.pos.PaymentOption {
			for j := range dp.pos.PaymentOption[i].Installments {
				in := &dp.pos.PaymentOption[i].Installments[j]
				if in.NAV == notice {
					return dp, in
				}
			}
		}
	}
	return nil, nil
}

// Pay pays the notice of creditor org as a payment service provider would and
// returns the receipt's identifier; false when the notice is unknown, expired or paid.
func (d *Dev) Pay(org, notice string) (string, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	dp, in := d.find(org, notice)
	if dp == nil || in.Status != "UNPAID" || dp.pos.Status != "VALID" {
		return "", false
	}
	if due, err := time.Parse(time.RFC3339, in.DueDate); err == nil && dp.pos.PaymentOption[0].SwitchToExpired && d.now().After(due) {
		return "", false
	}
	var b [10]byte
	_, _ = rand.Read(b[:])
	in.Status = "PAID"
	in.IDReceipt = "DEV" + strings.ToUpper(hex.EncodeToString(b[:]))
	in.PaymentDate = d.now().UTC().Format(time.RFC3339)
	in.PSPCompany = "PSP di sviluppo (nessun addebito)"
	dp.pos.Status = "PAID"
	dp.pos.PaymentDate = in.PaymentDate
	dp.paid = true
	return in.IDReceipt, true
}

var devPage = template.Must(template.New("dev").Parse(`<!doctype html>
<html lang="it"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>pagoPA di sviluppo</title></head>
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
	d.mu.Lock()
	c, ok := d.carts[id]
	var cr cartRequest
	done := false
	if ok {
		cr, done = c.req, c.done
	}
	d.mu.Unlock()
	if !ok {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	if r.Method == http.MethodGet {
		var view struct {
			Action string
			Done   bool
			Cart   struct{ PaymentNotices []devNoticeView }
		}
		view.Done, view.Action = done, r.URL.Path
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
	if done {
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
	d.mu.Lock()
	c.done = true
	d.mu.Unlock()
	if _, err := url.Parse(target); err != nil || target == "" {
		http.Error(w, "indirizzo di ritorno non valido", http.StatusBadRequest)
		return
	}
	http.Redirect(w, r, target, http.StatusSeeOther)
}

// clonePosition copies a position deeply (its slices are not shared).
func clonePosition(p gpdPosition) gpdPosition {
	out := p
	out.PaymentOption = make([]gpdPaymentOpt, len(p.PaymentOption))
	for i, po := range p.PaymentOption {
		out.PaymentOption[i] = po
		out.PaymentOption[i].Installments = make([]gpdInstallment, len(po.Installments))
		for j, in := range po.Installments {
			in.Transfer = append([]gpdTransfer(nil), in.Transfer...)
			out.PaymentOption[i].Installments[j] = in
		}
	}
	return out
}
