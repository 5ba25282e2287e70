package app

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/comuni-italiani/sportello/app/auth"
	"github.com/comuni-italiani/sportello/app/cases"
	"github.com/comuni-italiani/sportello/app/enti"
	"github.com/comuni-italiani/sportello/app/pdfdoc"
	"github.com/comuni-italiani/sportello/app/stamp"
	"github.com/comuni-italiani/sportello/app/web"
	"github.com/comuni-italiani/sportello/services"
)

// newCases builds the case service modules declare their case types on (Mount.Cases).
func (a *App) newCases() error {
	ring, err := a.caseStampRing()
	if err != nil {
		return err
	}
	c := a.cfg.Comune
	s, err := cases.New(a.db, cases.Options{Outbox: a.outbox, I18n: a.render.I18n(),
		BaseURL: strings.TrimSuffix(a.cfg.HTTP.BaseURL, "/"), OfficeEmail: c.Email,
		Log:   a.log.With("component", "cases"),
		Email: func(c echo.Context) string { return auth.CurrentProfile(c).Email },
		Stamp: ring, Issuer: c.Name,
		Letterhead: pdfdoc.Letterhead{Comune: c.Name, Province: c.Province, Address: c.Address,
			Phone: c.Phone, Email: c.Email, PEC: c.PEC, Website: c.Website},
		Local: func(ctx context.Context) cases.Local {
			e := enti.FromContext(ctx)
			if e == nil {
				return cases.Local{BaseURL: a.baseURL(ctx), OfficeEmail: c.Email, Issuer: c.Name, Stamp: ring}
			}
			return cases.Local{BaseURL: a.baseURL(ctx), OfficeEmail: e.Email, Issuer: e.Name, Stamp: a.enteStampRing(e.ID, ring),
				Letterhead: pdfdoc.Letterhead{Comune: e.Name, Province: e.Province, Address: e.Address,
					Phone: e.Phone, Email: e.Email, PEC: e.PEC, Website: e.Website}}
		},
		ForEachEnte: func(ctx context.Context, fn func(context.Context) error) error {
			return a.forEachEnte(ctx, "", fn)
		}})
	if err != nil {
		return err
	}
	a.cases = s
	return nil
}

// caseStampRing loads the comune's stamp key ring for the submission receipts. It is
// the certificates' ring (modules.settings.certificati.key_dir, default
// <data_dir>/keys/stamp), so one set of public keys verifies both; in development it
// is created when missing. In production a missing directory leaves receipts off
// (logged), since the certificates module is optional.
func (a *App) caseStampRing() (*stamp.KeyRing, error) {
	dir := a.stampKeyDir()
	if a.cfg.Production() {
		if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
			a.log.Warn("no stamp key directory: case receipts are not issued", "dir", dir)
			return nil, nil
		}
		ring, err := stamp.LoadDir(dir)
		if err != nil {
			return nil, fmt.Errorf("cases: stamp keys in %s: %w", dir, err)
		}
		return ring, nil
	}
	ring, _, err := stamp.LoadOrCreateDir(dir)
	if err != nil {
		return nil, fmt.Errorf("cases: stamp keys in %s: %w", dir, err)
	}
	return ring, nil
}

// Cases is the case service.
func (a *App) Cases() *cases.Service { return a.cases }

// mountCases gives every module that declared case types, for free: the citizen's
// "Le mie pratiche", the staff queue and case pages under /backoffice/<module>/pratiche
// (for the roles of its types), its back-office menu entry and dashboard figures. It
// runs after every module's Mount.
func (a *App) mountCases() []services.Stats {
	titles := map[string]string{}
	for _, m := range a.modules {
		titles[m.Info().ID] = m.Info().Title
	}
	pages := cases.NewPages(a.cases, a.render, titles)
	pages.MountCitizen(web.NewRoutes(a.echo, "", a.requireCitizen))
	pages.MountPublic(web.NewRoutes(a.echo, ""))
	var stats []services.Stats
	for _, module := range a.cases.Modules() {
		roles := a.cases.Roles(module)
		pages.MountStaff(web.NewRoutes(a.echo, "", a.requireRole(roles...)), module)
		// "Pratiche: <module title>", like the queue's heading: a module's own entry
		// may well be its title ("Permessi ZTL" is also the permits list).
		a.staffNav = append(a.staffNav, web.MenuItem{Label: "cases.staff.nav", Of: titles[module], Href: cases.QueuePath(module), Roles: roles})
		stats = append(stats, caseStats{s: a.cases, module: module, roles: roles})
	}
	return stats
}

// caseStats are one module's case figures on the dashboard.
type caseStats struct {
	s      *cases.Service
	module string
	roles  []string
}

func (cs caseStats) Stats(ctx context.Context) ([]services.Stat, error) {
	f, err := cs.s.Figures(ctx, cs.module, cs.s.Now())
	if err != nil {
		return nil, fmt.Errorf("cases figures of %s: %w", cs.module, err)
	}
	q := cases.QueuePath(cs.module)
	return []services.Stat{
		{Label: "cases.stats.open", Value: f.Open, Href: q, Roles: cs.roles},
		{Label: "cases.stats.late", Value: f.Late, Href: q + "?scadute=1", Roles: cs.roles},
		{Label: "cases.stats.decided", Value: f.DecidedThisMonth, Href: q, Roles: cs.roles},
	}, nil
}

// casesArea is the citizen's cases section of the personal area.
func (a *App) casesArea(ctx context.Context, cf, lang string) (services.AreaSection, error) {
	list, err := a.cases.OfApplicant(ctx, cf, 5)
	if err != nil {
		return services.AreaSection{Title: "cases.area.title"}, err
	}
	i18n := a.render.I18n()
	sec := services.AreaSection{Title: "cases.area.title", More: cases.CitizenBase, Tab: services.TabActivity}
	for _, c := range list {
		t, ok := a.cases.Type(c.Module, c.Type)
		if !ok {
			continue
		}
		detail := c.Protocol
		if detail == "" {
			detail = i18n.T(lang, "cases.field.no_protocol")
		}
		sec.Items = append(sec.Items, services.AreaItem{Label: i18n.T(lang, t.Title), Detail: detail,
			Status: cases.StateKey(c.State), Href: cases.CitizenPath(c.ID)})
	}
	return sec, nil
}

// enteStampRing is ente id's stamp key ring for receipts and modules' documents: the
// configured comune's is primary (key_dir); another ente's is in key_dir/enti/<id>,
// the directory the certificates module signs that ente's certificates with, so one
// published key set per comune verifies all its documents. Loaded on first use; in
// development created when missing. nil when receipts are off or the keys are missing
// in production (logged once).
func (a *App) enteStampRing(id string, primary *stamp.KeyRing) *stamp.KeyRing {
	if id == a.cfg.Comune.ID || primary == nil {
		return primary
	}
	if r, ok := a.rings.Load(id); ok {
		return r.(*stamp.KeyRing)
	}
	dir := filepath.Join(a.stampKeyDir(), "enti", id)
	var ring *stamp.KeyRing
	var err error
	if a.cfg.Production() {
		ring, err = stamp.LoadDir(dir)
	} else {
		ring, _, err = stamp.LoadOrCreateDir(dir)
	}
	if err != nil {
		a.log.Warn("no stamp keys for this ente: its receipts are not stamped", "ente", id, "dir", dir, "err", err)
		return nil
	}
	r, _ := a.rings.LoadOrStore(id, ring)
	return r.(*stamp.KeyRing)
}

// stampKeyDir is the stamp key directory (modules.settings.certificati.key_dir,
// default <data_dir>/keys/stamp).
func (a *App) stampKeyDir() string {
	var set struct {
		KeyDir string `yaml:"key_dir"`
	}
	if err := a.cfg.DecodeModule("certificati", &set); err == nil && set.KeyDir != "" {
		return set.KeyDir
	}
	return filepath.Join(a.cfg.DataDir, "keys", "stamp")
}
