package config

import (
	"fmt"
	"math/big"
	"net/url"
	"regexp"
	"strings"
)

// Payments connects the enti to pagoPA, the national platform every payment to an
// Italian administration goes through.
type Payments struct {
	// PagoPA is the account of the comune (the single-comune set-up) and the default
	// of every ente without its own entry in Enti.
	PagoPA PagoPA `yaml:"pagopa"`
	// Enti are the accounts of further enti, by ente id (YAML only).
	Enti map[string]PagoPA `yaml:"enti"`
}

// Payment modes.
const (
	// PayAuto ("" in the file) is the development pagoPA outside production and no
	// payments in production until an account is configured.
	PayAuto = ""
	// PayOff: no payments; services keep their behaviour for comuni without pagoPA.
	PayOff = "off"
	// PayDev: the embedded development pagoPA (refused in production).
	PayDev = "dev"
	// PayPagoPA: the ente's real account at pagoPA (GPD and Checkout).
	PayPagoPA = "pagopa"
)

// PagoPA is one ente's connection to pagoPA as a creditor institution (ente creditore).
type PagoPA struct {
	// Mode is off, dev or pagopa; empty means dev outside production, off in production.
	Mode string `yaml:"mode"`
	// FiscalCode is the creditor's fiscal code at pagoPA (11 digits; empty: the
	// ente's fiscal_code).
	FiscalCode string `yaml:"fiscal_code"`
	// SegregationCode is the two-digit code pagoPA assigned to this portal as a point
	// of generation of IUV codes (notice numbers with aux digit 3).
	SegregationCode string `yaml:"segregation_code"`
	// IBAN is the comune's account that receives the transfers (treasury account).
	IBAN string `yaml:"iban"`
	// SubscriptionKey is the API key of pagoPA's developer portal for the GPD and
	// Checkout products. Environment: SPORTELLO_PAYMENTS_PAGOPA_SUBSCRIPTION_KEY.
	SubscriptionKey string `yaml:"subscription_key"`
	// GPDURL is the base address of the GPD API, up to and including /v3.
	GPDURL string `yaml:"gpd_url"`
	// CheckoutURL is the base address of the Checkout EC API, up to and including /v1.
	CheckoutURL string `yaml:"checkout_url"`
}

// Production addresses of pagoPA's APIs, the defaults in mode pagopa.
const (
	DefaultGPDURL      = "https://api.platform.pagopa.it/gpd/debt-positions-service/v3"
	DefaultCheckoutURL = "https://api.platform.pagopa.it/checkout/ec/v1"
)

// Development defaults: fictional, for the embedded development pagoPA only.
const (
	devFiscalCode = "00000000000"
	// devIBAN is the example IBAN of Italian banking documentation (valid check digits).
	devIBAN        = "IT60X0542811101000000123456"
	devSegregation = "01"
)

// PagoPAFor returns the effective pagoPA connection of ente id, with the defaults
// filled in, and false when the ente has no payments.
func (c Config) PagoPAFor(id string) (PagoPA, bool) {
	p, ok := c.Payments.Enti[id]
	if !ok {
		p = c.Payments.PagoPA
	}
	var ente Comune
	for _, e := range c.AllEnti() {
		if e.ID == id {
			ente = e
		}
	}
	switch p.Mode {
	case PayAuto:
		if c.Production() {
			return PagoPA{}, false
		}
		p.Mode = PayDev
	case PayOff:
		return PagoPA{}, false
	}
	if p.FiscalCode == "" {
		p.FiscalCode = ente.FiscalCode
	}
	if p.Mode == PayDev {
		if p.FiscalCode == "" {
			p.FiscalCode = devFiscalCode
		}
		if p.IBAN == "" {
			p.IBAN = devIBAN
		}
		if p.SegregationCode == "" {
			p.SegregationCode = devSegregation
		}
	}
	if p.Mode == PayPagoPA {
		if p.GPDURL == "" {
			p.GPDURL = DefaultGPDURL
		}
		if p.CheckoutURL == "" {
			p.CheckoutURL = DefaultCheckoutURL
		}
	}
	return p, true
}

var (
	digits11 = regexp.MustCompile(`^[0-9]{11}$`)
	digits2  = regexp.MustCompile(`^[0-9]{2}$`)
	ibanRE   = regexp.MustCompile(`^IT[0-9]{2}[A-Z][0-9]{10}[0-9A-Z]{12}$`)
)

// ValidIBAN reports whether s is an Italian IBAN with valid check digits (ISO 13616,
// mod 97). Hand-written: ten lines against a dependency for one check.
func ValidIBAN(s string) bool {
	if !ibanRE.MatchString(s) {
		return false
	}
	r := s[4:] + s[:4]
	var num strings.Builder
	for _, ch := range r {
		if ch >= 'A' && ch <= 'Z' {
			fmt.Fprintf(&num, "%d", ch-'A'+10)
		} else {
			num.WriteRune(ch)
		}
	}
	n, ok := new(big.Int).SetString(num.String(), 10)
	return ok && new(big.Int).Mod(n, big.NewInt(97)).Int64() == 1
}

// validatePayments checks every ente's pagoPA connection.
func (c Config) validatePayments(bad func(key, format string, args ...any)) {
	check := func(key string, p PagoPA, enteID string) {
		switch p.Mode {
		case PayAuto, PayOff, PayDev, PayPagoPA:
		default:
			bad(key+".mode", "must be off, dev or pagopa, not %q", p.Mode)
			return
		}
		if p.Mode == PayDev && c.Production() {
			bad(key+".mode", "dev (the embedded development pagoPA) is refused in production: set pagopa with the ente's account, or off")
			return
		}
		eff, on := c.PagoPAFor(enteID)
		if !on || eff.Mode != PayPagoPA {
			if p.SegregationCode != "" && !digits2.MatchString(p.SegregationCode) {
				bad(key+".segregation_code", "must be two digits")
			}
			return
		}
		if !digits11.MatchString(eff.FiscalCode) {
			bad(key+".fiscal_code", "must be the creditor's 11-digit fiscal code (or set the ente's fiscal_code)")
		}
		if !digits2.MatchString(eff.SegregationCode) {
			bad(key+".segregation_code", "must be the two-digit code pagoPA assigned to this portal")
		}
		if !ValidIBAN(eff.IBAN) {
			bad(key+".iban", "must be an Italian IBAN with valid check digits")
		}
		if eff.SubscriptionKey == "" {
			bad(key+".subscription_key", "is required (SPORTELLO_PAYMENTS_PAGOPA_SUBSCRIPTION_KEY)")
		}
		for k, u := range map[string]string{"gpd_url": eff.GPDURL, "checkout_url": eff.CheckoutURL} {
			pu, err := url.Parse(u)
			if err != nil || pu.Host == "" || (pu.Scheme != "https" && !(pu.Scheme == "http" && !c.Production())) {
				bad(key+"."+k, "must be an https address")
			}
		}
	}
	check("payments.pagopa", c.Payments.PagoPA, c.Comune.ID)
	for id, p := range c.Payments.Enti {
		found := false
		for _, e := range c.AllEnti() {
			found = found || e.ID == id
		}
		if !found {
			bad("payments.enti."+id, "names no configured ente")
			continue
		}
		check("payments.enti."+id, p, id)
	}
}
