package cases_test

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/comuni-italiani/sportello/app/apptest"
	"github.com/comuni-italiani/sportello/app/cases"
	"github.com/comuni-italiani/sportello/app/web"
	"github.com/comuni-italiani/sportello/services"
)

// factsSvc declares a type with Facts and a form with Prefill.
type factsSvc struct{}

func (factsSvc) Info() services.Info {
	return services.Info{ID: "fatti", Title: "cases.mine.title", Summary: "cases.mine.lead",
		Description: "cases.mine.lead", Area: services.AreaComune, Audience: "cases.mine.lead", NeedsLogin: true, Start: "domanda"}
}

func (factsSvc) Mount(mt *services.Mount) error {
	t := probeTypeDecl()
	t.Module, t.Hook = "fatti", nil
	t.Facts = func(_ context.Context, c cases.Case, lang string) ([]cases.Fact, error) {
		return []cases.Fact{{Label: "cases.field.type", Value: "lingua " + lang + " / " + c.FormData}}, nil
	}
	if err := mt.Cases.Register(t); err != nil {
		return err
	}
	f := &cases.Form{Service: mt.Cases, Render: mt.Render, Module: "fatti", Type: probeType,
		Path: "/servizi/fatti/domanda", Next: "cases.mine.lead",
		Prefill: func(c echo.Context) (map[string]string, error) {
			if c.FormValue("scelta") == "" {
				return nil, web.NewError(http.StatusUnprocessableEntity, "cases.form.choose")
			}
			return map[string]string{"scelta": c.FormValue("scelta")}, nil
		},
		Steps: []cases.Step{{ID: "dati", Title: "cases.field.type", Fields: []cases.Field{{Name: "note", Label: "cases.field.message"}}}}}
	f.Mount(mt.Citizen, "/domanda")
	return nil
}

// TestFactsPrefillDrafts: a form's Prefill seeds the draft (and can refuse it), the
// type's Facts show on the summary and on both case pages in the page's language,
// and Drafts lists the unsubmitted drafts.
func TestFactsPrefillDrafts(t *testing.T) {
	t.Parallel()
	apptest.Each(t, apptest.Options{NewModules: func() []services.Module { return []services.Module{factsSvc{}} }}, func(t *testing.T, s *apptest.Server) {
		cit := s.Client()
		s.LoginAs(cit, web.Viewer{Kind: "citizen", ID: "c1", DisplayName: "Mario Rossi", FiscalCode: applicant.ID})
		var n0 int64
		s.All().Table("cases").Count(&n0)
		want(t, cit.PostForm("/servizi/fatti/domanda", nil), http.StatusUnprocessableEntity, "Scegli una delle opzioni proposte.")
		var n1 int64
		s.All().Table("cases").Count(&n1)
		if n1 != n0 {
			t.Fatal("a refused prefill created a draft")
		}
		r := cit.PostForm("/servizi/fatti/domanda", url.Values{"scelta": {"verde"}})
		want(t, r, http.StatusSeeOther)
		id := regexp.MustCompile(`/domanda/(\d+)/dati`).FindStringSubmatch(r.Header.Get("Location"))[1]
		want(t, cit.PostForm("/servizi/fatti/domanda/"+id+"/dati", url.Values{"note": {"ciao"}}), http.StatusSeeOther)
		want(t, cit.Get("/servizi/fatti/domanda/"+id+"/riepilogo"), 200, "lingua it", "&#34;scelta&#34;:&#34;verde&#34;", "&#34;note&#34;:&#34;ciao&#34;")
		want(t, cit.GetLang("/area-personale/pratiche/"+id, "en"), 200, "lingua en")

		drafts, err := s.App.Cases().Drafts(s.Ctx(t.Context()), "fatti", probeType, time.Now().Add(time.Minute), 10)
		if err != nil || len(drafts) != 1 || drafts[0].State != cases.Draft {
			t.Fatalf("drafts: %+v %v", drafts, err)
		}
		if d, _ := s.App.Cases().Drafts(s.Ctx(t.Context()), "fatti", probeType, time.Now().Add(-time.Hour), 10); len(d) != 0 {
			t.Fatalf("drafts created before an hour ago: %d", len(d))
		}
		want(t, postMultipart(cit, s.BaseURL, "/servizi/fatti/domanda/"+id+"/invia", nil), http.StatusSeeOther)
		if d, _ := s.App.Cases().Drafts(s.Ctx(t.Context()), "fatti", probeType, time.Now().Add(time.Minute), 10); len(d) != 0 {
			t.Fatal("a submitted case is still listed as a draft")
		}
		off := s.Client()
		s.LoginAs(off, web.Viewer{Kind: "staff", ID: "operatore1", Roles: []string{probeRole}})
		want(t, off.Get("/backoffice/fatti/pratiche/"+id), 200, "lingua it")
	})
}
