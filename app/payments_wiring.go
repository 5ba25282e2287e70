package app

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/comuni-italiani/sportello/app/enti"
	"github.com/comuni-italiani/sportello/app/jobs"
	"github.com/comuni-italiani/sportello/app/payments"
	"github.com/comuni-italiani/sportello/app/pdfdoc"
	"github.com/comuni-italiani/sportello/app/roles"
	"github.com/comuni-italiani/sportello/app/web"
	"github.com/comuni-italiani/sportello/config"
	"github.com/comuni-italiani/sportello/services"
)

// newPayments builds the payments service (app/payments) over the enti's pagoPA
// settings and, when an ente uses it, mounts the embedded development pagoPA on the
// portal's own server, which production refuses.
func (a *App) newPayments() error {
	a.guard.Own(payments.Tables()...)
	dev := false
	for _, e := range a.cfg.AllEnti() {
		if p, ok := a.cfg.PagoPAFor(e.ID); ok && p.Mode == config.PayDev {
			dev = true
		}
	}
	if dev && a.cfg.Production() {
		return fmt.Errorf("app: the development pagoPA is refused in production (payments.pagopa.mode)")
	}
	a.payments = payments.New(payments.Options{DB: a.db, Settings: a.paymentSettings, Log: a.log.With("component", "payments")})
	if dev {
		a.devPay = payments.NewDev(a.db)
		h := echo.WrapHandler(a.devPay)
		for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodDelete} {
			a.echo.Add(m, payments.DevPrefix+"/*", h)
		}
	}
	pages := &payments.Pages{S: a.payments, Render: a.render, BaseURL: a.baseURL, Letterhead: a.letterhead}
	pages.MountCitizen(web.NewRoutes(a.echo, "", a.requireCitizen))
	pages.MountStaff(web.NewRoutes(a.echo, "", a.requireRole(roles.Payments)))
	a.staffNav = append(a.staffNav, web.MenuItem{Label: "payments.nav", Href: payments.StaffBase, Roles: []string{roles.Payments}})
	return nil
}

// letterhead is the letterhead of ctx's ente on the documents the platform prints.
func (a *App) letterhead(ctx context.Context) pdfdoc.Letterhead {
	c := a.cfg.Comune
	if e := enti.FromContext(ctx); e != nil {
		c = e.Comune()
	}
	return pdfdoc.Letterhead{Comune: c.Name, Province: c.Province, Address: c.Address, Phone: c.Phone,
		Email: c.Email, PEC: c.PEC, Website: c.Website}
}

// paymentsArea is the "Pagamenti" section of the citizen's personal area: their
// positions still to pay first, then the latest others.
func (a *App) paymentsArea(ctx context.Context, cf string) (services.AreaSection, error) {
	s := services.AreaSection{Title: "payments.area.title", More: payments.CitizenBase}
	if !a.payments.Enabled(ctx) {
		return s, nil
	}
	rows, _, err := a.payments.List(ctx, payments.Filter{PayerCF: cf, Limit: 5})
	if err != nil {
		return s, err
	}
	for _, p := range rows {
		s.Items = append(s.Items, services.AreaItem{Label: p.Causale, Detail: p.Amount() + " €",
			Status: "payments.state." + string(p.State), Href: payments.CitizenPath(p.ID)})
	}
	return s, nil
}

// paymentSettings returns the pagoPA settings of ctx's ente.
func (a *App) paymentSettings(ctx context.Context) (payments.Settings, bool) {
	e := enti.FromContext(ctx)
	if e == nil {
		return payments.Settings{}, false
	}
	p, ok := a.cfg.PagoPAFor(e.ID)
	if !ok {
		return payments.Settings{}, false
	}
	seg, err := strconv.Atoi(p.SegregationCode)
	if err != nil {
		return payments.Settings{}, false
	}
	if p.Mode == config.PayDev {
		if a.cfg.Production() {
			return payments.Settings{}, false
		}
		return payments.DevSettings(a.baseURL(ctx), e.Name, p.FiscalCode, p.IBAN, seg), true
	}
	return payments.Settings{CompanyName: e.Name, FiscalCode: p.FiscalCode, Segregation: seg, IBAN: p.IBAN,
		SubscriptionKey: p.SubscriptionKey, GPDURL: p.GPDURL, CheckoutURL: p.CheckoutURL}, true
}

// paymentJobs refreshes published positions from pagoPA's receipts and expires those
// past their due date, every five minutes, for every ente.
func (a *App) paymentJobs() []jobs.Job {
	return []jobs.Job{{
		Name:     "platform/payments-sync",
		Schedule: jobs.Every(5 * time.Minute),
		Run: func(ctx context.Context, _ time.Time) error {
			return a.forEachEnte(ctx, "payments", func(ctx context.Context) error {
				paid, expired, err := a.payments.Sync(ctx)
				if paid+expired > 0 {
					a.log.Info("payments synchronised", "ente", enti.FromContext(ctx).ID, "paid", paid, "expired", expired)
				}
				return err
			})
		},
	}}
}

// Payments is the payments service.
func (a *App) Payments() *payments.Service { return a.payments }

// DevPagoPA is the embedded development pagoPA, nil when no ente uses it.
func (a *App) DevPagoPA() *payments.Dev { return a.devPay }
