package enti

import (
	"context"
	"fmt"

	"github.com/comuni-italiani/sportello/config"
)

// FromConfig converts one configured ente.
func FromConfig(c config.Comune) *Ente {
	kind := Kind(c.Kind)
	if kind == "" {
		kind = KindComune
	}
	return &Ente{
		ID: c.ID, Kind: kind, ParentID: c.Parent, Name: c.Name, Province: c.Province,
		IstatCode: c.IstatCode, FiscalCode: c.FiscalCode, Address: c.Address, Phone: c.Phone,
		Email: c.Email, PEC: c.PEC, Website: c.Website, CoatOfArms: c.CoatOfArms,
		ThemeColor: c.ThemeColor, MailFrom: c.MailFrom, DisabledModules: c.DisabledModules,
		Hosts: append([]string(nil), c.Hosts...), ModuleSettings: c.ModuleSettingsText(),
	}
}

// Comune converts an ente back to the configuration shape pages use for the
// letterhead, header and footer.
func (e *Ente) Comune() config.Comune {
	return config.Comune{
		ID: e.ID, Kind: string(e.Kind), Parent: e.ParentID, Name: e.Name, Province: e.Province,
		IstatCode: e.IstatCode, FiscalCode: e.FiscalCode, Address: e.Address, Phone: e.Phone,
		Email: e.Email, PEC: e.PEC, Website: e.Website, CoatOfArms: e.CoatOfArms,
		ThemeColor: e.ThemeColor, MailFrom: e.MailFrom, DisabledModules: e.DisabledModules,
		Hosts: e.Hosts,
	}
}

// SyncConfig writes the enti of the configuration (comune, then enti, unions first so
// that members can name them) into the database. Enti added with `sportello enti` and
// absent from the file are left alone: the file manages what it lists.
func SyncConfig(ctx context.Context, s *Store, cfg config.Config) error {
	all := cfg.AllEnti()
	ordered := make([]config.Comune, 0, len(all))
	for _, c := range all {
		if c.Kind == string(KindUnione) {
			ordered = append(ordered, c)
		}
	}
	for _, c := range all {
		if c.Kind != string(KindUnione) {
			ordered = append(ordered, c)
		}
	}
	for _, c := range ordered {
		want := FromConfig(c)
		if have, err := s.Get(ctx, c.ID); err == nil && have.same(want) {
			continue // replicas starting together do not rewrite identical rows
		}
		if err := s.Put(ctx, want); err != nil {
			return fmt.Errorf("config: ente %s: %w", c.ID, err)
		}
	}
	return nil
}

// same reports whether two enti hold the same configuration.
func (e *Ente) same(o *Ente) bool {
	a, b := *e, *o
	a.CreatedAt, a.UpdatedAt = b.CreatedAt, b.UpdatedAt
	return fmt.Sprint(a) == fmt.Sprint(b)
}
