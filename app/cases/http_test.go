package cases_test

import (
	"bytes"
	"fmt"
	"mime/multipart"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/comuni-italiani/sportello/app/apptest"
	"github.com/comuni-italiani/sportello/app/cases"
	"github.com/comuni-italiani/sportello/app/web"
	"github.com/comuni-italiani/sportello/services"
)

// probeSvc is a test-only service module that declares the probe case type and
// mounts the platform's form helper: everything else (citizen and staff pages,
// documents, menu, figures) comes from the platform.
type probeSvc struct{}

func (probeSvc) Info() services.Info {
	return services.Info{ID: probeModule, Title: "cases.mine.title", Summary: "cases.mine.lead",
		Description: "cases.mine.lead", Area: services.AreaComune, Audience: "cases.mine.lead", NeedsLogin: true, Start: "domanda"}
}

var plate = regexp.MustCompile(`^[A-Z]{2}[0-9]{3}[A-Z]{2}$`)

func (probeSvc) Mount(mt *services.Mount) error {
	if err := mt.Cases.Register(probeTypeDecl()); err != nil {
		return err
	}
	f := &cases.Form{Service: mt.Cases, Render: mt.Render, Module: probeModule, Type: probeType,
		Path: "/servizi/" + probeModule + "/domanda", Next: "cases.mine.lead",
		Steps: []cases.Step{
			{ID: "dati", Title: "cases.field.type", Fields: []cases.Field{{Name: "targa", Label: "cases.field.protocol",
				Validate: func(v string) string {
					if !plate.MatchString(v) {
						return "cases.form.choose"
					}
					return ""
				}}}},
			{ID: "note", Title: "cases.field.message", Fields: []cases.Field{{Name: "note", Label: "cases.field.message", Kind: "textarea", Optional: true}}},
		}}
	f.Mount(mt.Citizen, "/domanda")
	return nil
}

func probeServer(t *testing.T, fn func(t *testing.T, s *apptest.Server)) {
	apptest.Each(t, apptest.Options{NewModules: func() []services.Module { return []services.Module{probeSvc{}} }}, fn)
}

type file struct {
	name    string
	content []byte
}

// postMultipart posts fields and files as a browser's multipart form, with the
// client's CSRF token unless fields carries "_csrf" (even empty).
func postMultipart(c *apptest.Client, base, path string, fields url.Values, files ...file) *apptest.Response {
	var body bytes.Buffer
	w := multipart.NewWriter(&body)
	if _, set := fields["_csrf"]; !set {
		w.WriteField("_csrf", c.CSRF())
	}
	for k, vs := range fields {
		for _, v := range vs {
			if v != "" || k != "_csrf" {
				w.WriteField(k, v)
			}
		}
	}
	for _, f := range files {
		fw, _ := w.CreateFormFile("documents", f.name)
		fw.Write(f.content)
	}
	w.Close()
	req, _ := http.NewRequest(http.MethodPost, base+path, &body)
	req.Header.Set("Content-Type", w.FormDataContentType())
	return c.Do(req)
}

func want(t *testing.T, r *apptest.Response, status int, texts ...string) {
	t.Helper()
	if r.Status != status {
		t.Fatalf("%s: status %d, want %d\n%s", r.URL, r.Status, status, r.Body)
	}
	for _, s := range texts {
		if !strings.Contains(r.Body, s) {
			t.Fatalf("%s: body lacks %q\n%s", r.URL, s, r.Body)
		}
	}
}

var caseIDRE = regexp.MustCompile(`/servizi/probe/domanda/(\d+)/dati`)

// TestHTTPLife walks the whole life of a case through real HTTP: the citizen fills
// the form (draft saved at every step), submits with a document (protocol number),
// an officer takes the case and asks for an integration, the citizen answers with a
// document, the officer approves; a second decision gets "already decided".
func TestHTTPLife(t *testing.T) {
	t.Parallel()
	probeServer(t, func(t *testing.T, s *apptest.Server) {
		cit := s.Client()
		s.LoginAs(cit, web.Viewer{Kind: "citizen", ID: "c1", DisplayName: "Mario Rossi", FiscalCode: applicant.ID})
		r := cit.Get("/servizi/probe/domanda")
		want(t, r, 200, "Inizia la domanda")
		r = cit.PostForm("/servizi/probe/domanda", nil)
		want(t, r, http.StatusSeeOther)
		m := caseIDRE.FindStringSubmatch(r.Header.Get("Location"))
		if m == nil {
			t.Fatalf("no step location: %q", r.Header.Get("Location"))
		}
		id := m[1]
		form := "/servizi/probe/domanda/" + id
		r = cit.Get(form + "/dati")
		want(t, r, 200, `aria-current="step"`, "Passaggio 1")
		bad := cit.PostForm(form+"/dati", url.Values{"targa": {"12"}})
		want(t, bad, http.StatusUnprocessableEntity, `aria-invalid="true"`, "Scegli una delle opzioni proposte.")
		r = cit.PostForm(form+"/dati", url.Values{"targa": {"AB123CD"}})
		want(t, r, http.StatusSeeOther)
		if loc := r.Header.Get("Location"); loc != form+"/note" {
			t.Fatalf("after step 1: %s", loc)
		}
		// The draft is saved: back on step 1 the value is there.
		want(t, cit.Get(form+"/dati"), 200, `value="AB123CD"`)
		want(t, cit.Get(form+"/note"), 200, "Passaggio 2")
		r = cit.PostForm(form+"/note", url.Values{"note": {"Residente in via Roma"}})
		want(t, r, http.StatusSeeOther)
		sum := cit.Get(form + "/riepilogo")
		want(t, sum, 200, "Riepilogo", "AB123CD", "Residente in via Roma")

		r = postMultipart(cit, s.BaseURL, form+"/invia", nil, file{"ricevuta.pdf", exeDoc})
		want(t, r, http.StatusUnprocessableEntity, "Il documento non è un PDF")
		var n int64
		s.All().Table("case_attachments").Count(&n)
		if n != 0 {
			t.Fatalf("refused submission stored %d documents", n)
		}
		r = postMultipart(cit, s.BaseURL, form+"/invia", nil, file{"carta.pdf", pdfDoc})
		want(t, r, http.StatusSeeOther)
		done := cit.Follow(r)
		year := time.Now().In(web.Rome).Year()
		protocol := fmt.Sprintf("%d/000001", year)
		want(t, done, 200, "Domanda inviata", protocol, "Cosa succede adesso", `action="/valutazione"`)

		// The stamped receipt, and its public verification page.
		want(t, done, 200, "Scarica la ricevuta")
		rc := cit.Get("/area-personale/pratiche/" + id + "/ricevuta.pdf")
		if rc.Status != 200 || rc.Header.Get("Content-Type") != "application/pdf" || !strings.HasPrefix(rc.Body, "%PDF-") {
			t.Fatalf("receipt: %d %s", rc.Status, rc.Header.Get("Content-Type"))
		}
		var code string
		s.All().Table("cases").Where("id = ?", id).Pluck("code", &code)
		want(t, s.Client().Get("/verifica/pratica/"+code), 200, "AUTENTICA", protocol, "carta.pdf")
		want(t, s.Client().Get("/verifica/pratica/0000-0000-0000-0"), 404, "RICEVUTA SCONOSCIUTA")

		// The office.
		off := s.Client()
		s.LoginAs(off, web.Viewer{Kind: "staff", ID: "operatore1", DisplayName: "Anna Bianchi", Roles: []string{probeRole}})
		q := off.Get("/backoffice/probe/pratiche")
		want(t, q, 200, protocol, "Mario Rossi", `class="table-responsive"`)
		want(t, off.Get("/backoffice/probe/pratiche?q="+url.QueryEscape(protocol)), 200, "1 pratica trovata.")
		want(t, off.Get("/backoffice/probe/pratiche?q=RSSMRA00A01H501X"), 200, "0 pratiche trovate.")
		staffCase := "/backoffice/probe/pratiche/" + id
		want(t, off.Get(staffCase), 200, "Prendi in carico", "carta.pdf")
		want(t, off.Get("/backoffice"), 200, "Pratiche aperte", "/backoffice/probe/pratiche")
		want(t, postMultipart(off, s.BaseURL, staffCase+"/azione/take", nil), http.StatusSeeOther)
		r = postMultipart(off, s.BaseURL, staffCase+"/azione/request_integration", url.Values{"message": {"  "}})
		want(t, r, http.StatusUnprocessableEntity, "Scrivi il messaggio.", `id="request_integration-message-err"`)
		want(t, postMultipart(off, s.BaseURL, staffCase+"/azione/request_integration",
			url.Values{"message": {"Allegare la carta di circolazione."}}), http.StatusSeeOther)

		// The citizen answers.
		list := cit.Get("/area-personale/pratiche")
		want(t, list, 200, protocol, "In attesa di integrazione")
		want(t, cit.Get("/area-personale"), 200, "Le tue pratiche", protocol)
		citCase := "/area-personale/pratiche/" + id
		want(t, cit.Get(citCase), 200, "Allegare la carta di circolazione.", "Invia l&#39;integrazione", "Ritira la domanda")
		want(t, postMultipart(cit, s.BaseURL, citCase+"/azione/reply", url.Values{"message": {"Ecco il libretto."}},
			file{"libretto.png", pngDoc}), http.StatusSeeOther)
		detail := cit.Get(citCase)
		want(t, detail, 200, "libretto.png", "Ecco il libretto.", "In istruttoria")

		// Documents: the applicant and the office download them.
		var atts []cases.Attachment
		s.All().Where("case_id = ?", id).Order("id").Find(&atts)
		if len(atts) != 2 {
			t.Fatalf("%d documents", len(atts))
		}
		doc := cit.Get(fmt.Sprintf("%s/documenti/%d", citCase, atts[1].ID))
		if doc.Status != 200 || doc.Body != string(pngDoc) || doc.Header.Get("Content-Type") != "image/png" {
			t.Fatalf("citizen document: %d %q", doc.Status, doc.Header.Get("Content-Type"))
		}
		if d := off.Get(fmt.Sprintf("%s/documenti/%d", staffCase, atts[0].ID)); d.Status != 200 || d.Body != string(pdfDoc) {
			t.Fatalf("office document: %d", d.Status)
		}

		// Two officers decide: the second is told the case was already decided.
		off2 := s.Client()
		s.LoginAs(off2, web.Viewer{Kind: "staff", ID: "operatore2", DisplayName: "Carla Neri", Roles: []string{probeRole}})
		page2 := off2.Get(staffCase) // loaded before the first decision
		want(t, page2, 200, "Accogli")
		want(t, postMultipart(off, s.BaseURL, staffCase+"/azione/approve", nil), http.StatusSeeOther)
		r = postMultipart(off2, s.BaseURL, staffCase+"/azione/reject", url.Values{"reason": {"Mancano i requisiti"}})
		want(t, r, http.StatusConflict, "già stata decisa")
		want(t, cit.Get(citCase), 200, "Accolta")
		c, _ := s.App.Cases().Get(s.Ctx(t.Context()), atts[0].CaseID)
		if c.State != cases.Approved || c.Assignee != "operatore1" {
			t.Fatalf("final case: %+v", c)
		}
	})
}

// TestHTTPIsolation: another citizen sees nothing of a case (404 and an audit
// event), staff without the type's role are refused, and every POST needs the CSRF
// token (the data stays as it was).
func TestHTTPIsolation(t *testing.T) {
	t.Parallel()
	probeServer(t, func(t *testing.T, s *apptest.Server) {
		svc := s.App.Cases()
		if !slices.Contains(s.App.JobRunner().Names(), cases.EscalationJob) {
			t.Fatalf("the portal's job runner lacks %s: %v", cases.EscalationJob, s.App.JobRunner().Names())
		}
		c, err := svc.Create(s.Ctx(t.Context()), applicant, probeModule, probeType, map[string]string{"targa": "AB123CD"})
		if err != nil {
			t.Fatal(err)
		}
		if c, err = svc.Apply(s.Ctx(t.Context()), applicant, c.ID, "submit", cases.Input{Documents: []cases.Upload{{Name: "a.pdf", Content: pdfDoc}}}); err != nil {
			t.Fatal(err)
		}
		var att cases.Attachment
		s.All().Where("case_id = ?", c.ID).Take(&att)
		id := fmt.Sprint(c.ID)

		b := s.Client()
		s.LoginAs(b, web.Viewer{Kind: "citizen", ID: "c2", DisplayName: "Luigi Verdi", FiscalCode: stranger.ID})
		countDenied := func() int64 {
			var n int64
			s.All().Table("audit_events").Where("action = ? AND outcome = ?", "security.case_access_denied", "denied").Count(&n)
			return n
		}
		before := countDenied()
		for _, p := range []string{"/area-personale/pratiche/" + id, fmt.Sprintf("/area-personale/pratiche/%s/documenti/%d", id, att.ID),
			"/area-personale/pratiche/" + id + "/ricevuta.pdf",
			"/servizi/probe/domanda/" + id + "/dati", "/area-personale/pratiche/999999"} {
			want(t, b.Get(p), http.StatusNotFound)
		}
		want(t, postMultipart(b, s.BaseURL, "/area-personale/pratiche/"+id+"/azione/withdraw", nil), http.StatusNotFound)
		if got := countDenied() - before; got != 6 {
			t.Fatalf("%d access denials audited, want 6", got)
		}
		list := b.Get("/area-personale/pratiche")
		want(t, list, 200, "Non hai ancora presentato domande.")
		if strings.Contains(list.Body, c.Protocol) {
			t.Fatal("another citizen's list shows the case")
		}

		other := s.Client()
		s.LoginAs(other, web.Viewer{Kind: "staff", ID: "operatore3", Roles: []string{otherRole}})
		want(t, other.Get("/backoffice/probe/pratiche"), http.StatusForbidden)
		want(t, other.Get("/backoffice/probe/pratiche/"+id), http.StatusForbidden)
		if r := other.Get("/backoffice"); strings.Contains(r.Body, "/backoffice/probe/pratiche") {
			t.Fatal("menu entry shown to staff without the role")
		}

		// CSRF: every POST without the token is refused and changes nothing.
		a := s.Client()
		s.LoginAs(a, web.Viewer{Kind: "citizen", ID: "c1", FiscalCode: applicant.ID})
		off := s.Client()
		s.LoginAs(off, web.Viewer{Kind: "staff", ID: "operatore1", Roles: []string{probeRole}})
		d, _ := svc.Create(s.Ctx(t.Context()), applicant, probeModule, probeType, nil)
		did := fmt.Sprint(d.ID)
		// The audit log grows (each refusal is a security event); the cases do not.
		data := func(id int64) snapshot { sn := snap(t, s.All(), id); sn.Au = 0; return sn }
		snapBefore := data(c.ID)
		draftBefore := data(d.ID)
		var cases0 int64
		s.All().Table("cases").Count(&cases0)
		for _, p := range []struct {
			cl   *apptest.Client
			path string
		}{
			{a, "/servizi/probe/domanda"},
			{a, "/servizi/probe/domanda/" + did + "/dati"},
			{a, "/servizi/probe/domanda/" + did + "/invia"},
			{a, "/area-personale/pratiche/" + id + "/azione/withdraw"},
			{off, "/backoffice/probe/pratiche/" + id + "/azione/take"},
			{off, "/backoffice/probe/pratiche/" + id + "/assegna"},
		} {
			r := postMultipart(p.cl, s.BaseURL, p.path, url.Values{"_csrf": {""}, "targa": {"ZZ999ZZ"}, "me": {"1"}}, file{"b.pdf", pdfDoc})
			want(t, r, http.StatusForbidden)
			r = p.cl.PostRaw(p.path, url.Values{"_csrf": {"wrong"}, "targa": {"ZZ999ZZ"}})
			want(t, r, http.StatusForbidden)
		}
		var cases1 int64
		s.All().Table("cases").Count(&cases1)
		var csrfEvents int64
		s.All().Table("audit_events").Where("action = ?", "security.csrf_rejected").Count(&csrfEvents)
		if data(c.ID) != snapBefore || data(d.ID) != draftBefore || cases1 != cases0 || csrfEvents != 12 {
			t.Fatal("a POST without CSRF token changed data")
		}
	})
}
