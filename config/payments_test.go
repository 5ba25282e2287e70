package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func prodConfig() Config {
	c := Default()
	c.Env = "production"
	c.HTTP.BaseURL = "https://servizi.comune.valdoria.example"
	c.Secrets.System = []string{strings.Repeat("s", 40)}
	return c
}

func TestPaymentsModes(t *testing.T) {
	t.Parallel()
	// Development: the embedded development pagoPA unless told otherwise.
	if p, ok := Default().PagoPAFor("valdoria"); !ok || p.Mode != PayDev || p.SegregationCode != "01" || !ValidIBAN(p.IBAN) {
		t.Errorf("development default: %+v %v", p, ok)
	}
	// Production: no payments until an account is configured, and never dev.
	c := prodConfig()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if _, ok := c.PagoPAFor("valdoria"); ok {
		t.Error("production without an account has payments")
	}
	c.Payments.PagoPA.Mode = PayDev
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "refused in production") {
		t.Errorf("dev in production: %v", err)
	}
	// A real account needs every field (the fiscal code falls back to the comune's).
	c.Comune.FiscalCode = ""
	c.Payments.PagoPA = PagoPA{Mode: PayPagoPA}
	err := c.Validate()
	for _, k := range []string{"fiscal_code", "segregation_code", "iban", "subscription_key"} {
		if err == nil || !strings.Contains(err.Error(), "payments.pagopa."+k) {
			t.Errorf("missing %s not reported: %v", k, err)
		}
	}
	c.Payments.PagoPA = PagoPA{Mode: PayPagoPA, FiscalCode: "00000000000", SegregationCode: "07",
		IBAN: "IT60X0542811101000000123456", SubscriptionKey: "k"}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	p, ok := c.PagoPAFor("valdoria")
	if !ok || p.GPDURL != DefaultGPDURL || p.CheckoutURL != DefaultCheckoutURL {
		t.Errorf("defaults: %+v", p)
	}
	c.Payments.PagoPA.IBAN = "IT61X0542811101000000123456" // one check digit off
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "iban") {
		t.Errorf("bad IBAN: %v", err)
	}
	c.Payments.PagoPA.IBAN = "IT60X0542811101000000123456"
	c.Payments.Enti = map[string]PagoPA{"altrove": {Mode: PayOff}}
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "payments.enti.altrove") {
		t.Errorf("unknown ente: %v", err)
	}
}

func TestPaymentsPerEnte(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "c.yaml")
	os.WriteFile(path, []byte(`
enti:
  - id: roccabruna
    name: Comune di Roccabruna
    fiscal_code: "00000000002"
    hosts: [roccabruna.localhost]
comune:
  hosts: [valdoria.localhost]
payments:
  pagopa:
    mode: "off"
  enti:
    roccabruna:
      mode: dev
      segregation_code: "03"
`), 0o600)
	c, err := Load(path, []string{"SPORTELLO_PAYMENTS_PAGOPA_SUBSCRIPTION_KEY=segreta"})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := c.PagoPAFor("valdoria"); ok {
		t.Error("valdoria switched payments off")
	}
	p, ok := c.PagoPAFor("roccabruna")
	if !ok || p.Mode != PayDev || p.SegregationCode != "03" || p.FiscalCode != "00000000002" {
		t.Errorf("roccabruna: %+v %v", p, ok)
	}
	if c.Payments.PagoPA.SubscriptionKey != "segreta" {
		t.Error("subscription key from the environment")
	}
}
