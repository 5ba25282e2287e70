package payments

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// The client speaks the subset of two pagoPA APIs for creditor institutions that this
// package needs; their published OpenAPI documents, cut to that subset, are in
// openapi/ with their sources, and the contract tests check every request and answer
// against them:
//   - GPD, Gestione Posizioni Debitorie, v3 (createPosition, getOrganizationDebtPositionByIUPD,
//     deletePosition);
//   - Checkout EC API (POST /carts: redirect of the payer to Checkout).
// pagoPA publishes no Go SDK; the subset is four calls, so a generated client would
// be more code to review than this file.

// Errors of the GPD API.
var (
	ErrGPDConflict = errors.New("payments: GPD: conflict (position exists or is paid)")
	ErrGPDNotFound = errors.New("payments: GPD: position not found")
)

// Client calls pagoPA's APIs with an ente's Settings.
type Client struct {
	HTTP *http.Client
}

// subscriptionHeader is the API key header of pagoPA's API management (securitySchemes.ApiKey).
const subscriptionHeader = "Ocp-Apim-Subscription-Key"

// Wire types of GPD v3 (PaymentPositionModelV3 and the response models).
type (
	gpdPosition struct {
		IUPD          string          `json:"iupd"`
		PayStandIn    bool            `json:"payStandIn"`
		CompanyName   string          `json:"companyName"`
		Status        string          `json:"status,omitempty"`
		PaymentDate   string          `json:"paymentDate,omitempty"`
		PaymentOption []gpdPaymentOpt `json:"paymentOption"`
		OrgFiscalCode string          `json:"organizationFiscalCode,omitempty"`
	}
	gpdPaymentOpt struct {
		Description     string           `json:"description,omitempty"`
		SwitchToExpired bool             `json:"switchToExpired"`
		Debtor          gpdDebtor        `json:"debtor"`
		Installments    []gpdInstallment `json:"installments"`
	}
	gpdDebtor struct {
		Type       string `json:"type"`
		FiscalCode string `json:"fiscalCode"`
		FullName   string `json:"fullName"`
	}
	gpdInstallment struct {
		NAV         string        `json:"nav,omitempty"`
		IUV         string        `json:"iuv"`
		Amount      int64         `json:"amount"`
		Description string        `json:"description"`
		DueDate     string        `json:"dueDate"`
		Transfer    []gpdTransfer `json:"transfer"`
		// Response-only fields.
		Status      string `json:"status,omitempty"`
		PaymentDate string `json:"paymentDate,omitempty"`
		PSPCompany  string `json:"pspCompany,omitempty"`
		IDReceipt   string `json:"idReceipt,omitempty"`
	}
	gpdTransfer struct {
		IDTransfer            string    `json:"idTransfer"`
		Amount                int64     `json:"amount"`
		RemittanceInformation string    `json:"remittanceInformation"`
		Category              string    `json:"category"`
		IBAN                  string    `json:"iban,omitempty"`
		Stamp                 *gpdStamp `json:"stamp,omitempty"`
	}
	gpdStamp struct {
		HashDocument        string `json:"hashDocument"`
		StampType           string `json:"stampType"`
		ProvincialResidence string `json:"provincialResidence"`
	}
)

// stampType "01" is the marca da bollo digitale of 16.00 EUR (pagoPA MBD service).
const stampType = "01"

func toGPD(st Settings, p *Position) gpdPosition {
	tr := gpdTransfer{IDTransfer: "1", Amount: p.AmountCents, RemittanceInformation: p.Causale, Category: p.Category}
	if p.StampHash != "" {
		tr.Stamp = &gpdStamp{HashDocument: p.StampHash, StampType: stampType, ProvincialResidence: p.StampProvince}
	} else {
		tr.IBAN = p.IBAN
	}
	debtorType := "F"
	if len(p.PayerCF) == 11 {
		debtorType = "G"
	}
	return gpdPosition{
		IUPD: p.ID, CompanyName: st.CompanyName,
		PaymentOption: []gpdPaymentOpt{{
			SwitchToExpired: true,
			Debtor:          gpdDebtor{Type: debtorType, FiscalCode: p.PayerCF, FullName: p.PayerName},
			Installments: []gpdInstallment{{
				NAV: p.NoticeNumber, IUV: p.IUV, Amount: p.AmountCents, Description: p.Causale,
				DueDate: p.DueDate.UTC().Format(time.RFC3339), Transfer: []gpdTransfer{tr},
			}},
		}},
	}
}

func (c *Client) do(ctx context.Context, st Settings, method, u string, body any, noRedirect bool) (*http.Response, []byte, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return nil, nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set(subscriptionHeader, st.SubscriptionKey)
	hc := c.HTTP
	if noRedirect {
		cp := *hc
		cp.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
		hc = &cp
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, nil, fmt.Errorf("payments: %s %s: %w", method, u, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp, b, err
}

func (c *Client) positionURL(st Settings, iupd string) string {
	u := strings.TrimSuffix(st.GPDURL, "/") + "/organizations/" + url.PathEscape(st.FiscalCode) + "/debtpositions"
	if iupd != "" {
		u += "/" + url.PathEscape(iupd)
	}
	return u
}

func statusErr(op string, resp *http.Response, body []byte) error {
	switch resp.StatusCode {
	case http.StatusConflict:
		return ErrGPDConflict
	case http.StatusNotFound:
		return ErrGPDNotFound
	}
	var pj struct {
		Title, Detail string
	}
	_ = json.Unmarshal(body, &pj)
	return fmt.Errorf("payments: %s: pagoPA answered %d %s %s", op, resp.StatusCode, pj.Title, pj.Detail)
}

// CreatePosition creates and publishes p on GPD (createPosition, toPublish=true).
func (c *Client) CreatePosition(ctx context.Context, st Settings, p *Position) error {
	resp, body, err := c.do(ctx, st, http.MethodPost, c.positionURL(st, "")+"?toPublish=true", toGPD(st, p), false)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusCreated {
		return statusErr("createPosition", resp, body)
	}
	return nil
}

// DeletePosition removes an unpaid position from GPD (deletePosition).
func (c *Client) DeletePosition(ctx context.Context, st Settings, p *Position) error {
	resp, body, err := c.do(ctx, st, http.MethodDelete, c.positionURL(st, p.ID), nil, false)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return statusErr("deletePosition", resp, body)
	}
	return nil
}

// Status reads p on GPD (getOrganizationDebtPositionByIUPD) and returns its receipt
// when its installment is paid (status PAID, or REPORTED once the PSP's flow arrived).
func (c *Client) Status(ctx context.Context, st Settings, p *Position) (Receipt, bool, error) {
	resp, body, err := c.do(ctx, st, http.MethodGet, c.positionURL(st, p.ID), nil, false)
	if err != nil {
		return Receipt{}, false, err
	}
	if resp.StatusCode != http.StatusOK {
		return Receipt{}, false, statusErr("getOrganizationDebtPositionByIUPD", resp, body)
	}
	var gp gpdPosition
	if err := json.Unmarshal(body, &gp); err != nil {
		return Receipt{}, false, fmt.Errorf("payments: GPD answer: %w", err)
	}
	for _, po := range gp.PaymentOption {
		for _, in := range po.Installments {
			if in.NAV != p.NoticeNumber && in.IUV != p.IUV {
				continue
			}
			switch in.Status {
			case "PAID", "PARTIALLY_REPORTED", "REPORTED":
			default:
				return Receipt{}, false, nil
			}
			rc := Receipt{ID: in.IDReceipt, AmountCents: in.Amount, PSP: in.PSPCompany, Raw: string(body)}
			if in.PaymentDate != "" {
				t, err := parseGPDTime(in.PaymentDate)
				if err != nil {
					return Receipt{}, false, fmt.Errorf("payments: GPD paymentDate %q: %w", in.PaymentDate, err)
				}
				rc.PaidAt = t
			}
			if rc.ID == "" {
				return Receipt{}, false, fmt.Errorf("payments: GPD reports %s paid without a receipt id", p.ID)
			}
			return rc, true, nil
		}
	}
	return Receipt{}, false, fmt.Errorf("payments: GPD position %s has no installment %s", p.ID, p.NoticeNumber)
}

// parseGPDTime reads GPD's date-times, with or without a zone (GPD writes local
// Italian time without one).
func parseGPDTime(s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	rome, err := time.LoadLocation("Europe/Rome")
	if err != nil {
		return time.Time{}, err
	}
	return time.ParseInLocation("2006-01-02T15:04:05.999999999", s, rome)
}

// Checkout EC API wire types (POST /carts).
type (
	cartRequest struct {
		PaymentNotices []cartNotice `json:"paymentNotices"`
		ReturnURLs     cartReturn   `json:"returnUrls"`
		IDCart         string       `json:"idCart,omitempty"`
		EmailNotice    string       `json:"emailNotice,omitempty"`
	}
	cartNotice struct {
		NoticeNumber string `json:"noticeNumber"`
		FiscalCode   string `json:"fiscalCode"`
		Amount       int64  `json:"amount"`
		CompanyName  string `json:"companyName"`
		Description  string `json:"description"`
	}
	cartReturn struct {
		ReturnOkURL     string `json:"returnOkUrl"`
		ReturnCancelURL string `json:"returnCancelUrl"`
		ReturnErrorURL  string `json:"returnErrorUrl"`
	}
)

// Cart opens a Checkout cart for p and returns the address Checkout redirects to.
func (c *Client) Cart(ctx context.Context, st Settings, p *Position, email, okURL, cancelURL, errorURL string) (string, error) {
	req := cartRequest{
		PaymentNotices: []cartNotice{{NoticeNumber: p.NoticeNumber, FiscalCode: st.FiscalCode, Amount: p.AmountCents,
			CompanyName: st.CompanyName, Description: p.Causale}},
		ReturnURLs:  cartReturn{ReturnOkURL: okURL, ReturnCancelURL: cancelURL, ReturnErrorURL: errorURL},
		IDCart:      p.ID,
		EmailNotice: email,
	}
	resp, body, err := c.do(ctx, st, http.MethodPost, strings.TrimSuffix(st.CheckoutURL, "/")+"/carts", req, true)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusFound {
		return "", statusErr("postCarts", resp, body)
	}
	loc := resp.Header.Get("Location")
	if u, err := url.Parse(loc); err != nil || (u.Scheme != "https" && u.Scheme != "http") {
		return "", fmt.Errorf("payments: Checkout answered an invalid Location %q", loc)
	}
	return loc, nil
}
