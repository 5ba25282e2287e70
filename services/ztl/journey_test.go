package ztl_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/comuni-italiani/sportello/app/audit"
	"github.com/comuni-italiani/sportello/services/ztl"
)

const (
	cfMario = "RSSMRA80A01H501U"
	cfLuigi = "VRDLGU75B12F205X"
)

var codeRE = regexp.MustCompile(`/servizi/ztl/permessi/([0-9A-Z*~$=-]+)"`)

// TestJourney: apply -> the officer approves -> the plate is in the whitelist -> a
// transit is posted -> the citizen sees it with its photo (another citizen gets 404)
// -> the police check of the permit's QR says valid; after a revocation it says
// revoked and the plate has left the whitelist and the changes.
func TestJourney(t *testing.T) {
	t.Parallel()
	each(t, func(t *testing.T, e *env) {
		mario := e.citizen(cfMario, "Mario Rossi")
		permit := url.Values{"category": {"merci"}, "start": {"2027-03-01"}, "days": {""}}
		vehicles := url.Values{"plate1": {"ab 123-cd"}, "country1": {""}, "plate2": {"B AB 1234"}, "country2": {"de"}}

		// Without the documents the category asks, the submission is refused and the
		// case stays a draft.
		id, r := apply(t, e, mario, permit, vehicles, url.Values{})
		want(t, r, http.StatusUnprocessableEntity, "Allega i documenti richiesti dalla categoria")
		r = postMultipart(mario, e.BaseURL, "/servizi/ztl/domanda/"+id+"/invia", nil, pdfDoc, pdfDoc)
		want(t, r, http.StatusSeeOther)
		want(t, mario.Follow(r), http.StatusOK, "numero di protocollo")

		off := e.officer()
		want(t, decide(t, e, off, id), http.StatusSeeOther)

		r = mario.Get("/servizi/ztl/permessi")
		want(t, r, http.StatusOK, "AB123CD", "DE:BAB1234", "Valido")
		m := codeRE.FindStringSubmatch(r.Body)
		if m == nil {
			t.Fatalf("no permit link:\n%s", r.Body)
		}
		code := m[1]
		want(t, mario.Get("/servizi/ztl/permessi/"+code), http.StatusOK, "150,00 euro dovuti", "pagoPA")
		want(t, mario.Get("/area-personale"), http.StatusOK, "I miei permessi ZTL", code, "AB123CD")

		// The gate system sees the plates.
		gate := newAPI(t, e, gateKey(t, off, "Varchi centro - Fornitore Demo"))
		r = gate.do(http.MethodGet, ztl.APIBase+"/whitelist?zone=A", nil, nil)
		want(t, r, http.StatusOK, `"plate":"AB123CD"`, `"plate":"DE:BAB1234"`)
		var wl struct {
			Cursor string
			Count  int
		}
		_ = json.Unmarshal([]byte(r.Body), &wl)
		if wl.Count != 2 {
			t.Fatalf("whitelist count %d", wl.Count)
		}
		etag := r.Header.Get("ETag")
		want(t, gate.do(http.MethodGet, ztl.APIBase+"/whitelist?zone=A", nil, http.Header{"If-None-Match": {etag}}), http.StatusNotModified)
		csv := gate.do(http.MethodGet, ztl.APIBase+"/whitelist?zone=B&format=csv", nil, nil)
		want(t, csv, http.StatusOK, "plate,country,until\n", "AB123CD,IT,2028-02-28T23:00:00Z")

		// A transit with its photo, posted twice: stored once.
		e.clk.set(time.Date(2027, 3, 1, 10, 0, 0, 0, time.UTC))
		batch := map[string]any{"transits": []map[string]any{{"id": "G1-000001", "plate": "AB 123 CD", "gate": "Porta Nuova",
			"zone": "A", "at": "2027-03-01T09:30:00Z", "photo": photo()}}}
		want(t, gate.do(http.MethodPost, ztl.APIBase+"/transits", batch, nil), http.StatusOK, `"stored":1`)
		want(t, gate.do(http.MethodPost, ztl.APIBase+"/transits", batch, nil), http.StatusOK, `"stored":0`, `"duplicates":1`)

		r = mario.Get("/servizi/ztl/transiti")
		want(t, r, http.StatusOK, "Porta Nuova", "/foto")
		photoPath := regexp.MustCompile(`src="(/servizi/ztl/transiti/[0-9]+/foto)"`).FindStringSubmatch(r.Body)
		if photoPath == nil {
			t.Fatalf("no photo:\n%s", r.Body)
		}
		r = mario.Get(photoPath[1])
		want(t, r, http.StatusOK)
		if r.Header.Get("Content-Type") != "image/jpeg" || r.Body != string(jpegImg) {
			t.Fatalf("photo: %s, %d bytes", r.Header.Get("Content-Type"), len(r.Body))
		}
		// Another citizen: 404 like a missing photo, and a security entry.
		luigi := e.citizen(cfLuigi, "Luigi Verdi")
		want(t, luigi.Get(photoPath[1]), http.StatusNotFound)
		want(t, luigi.Get("/servizi/ztl/permessi/"+code), http.StatusNotFound)
		want(t, luigi.Get("/servizi/ztl/permessi/"+code+"/permesso.pdf"), http.StatusNotFound)
		if r := luigi.Get("/servizi/ztl/transiti"); strings.Contains(r.Body, "Porta Nuova") {
			t.Fatal("another citizen sees Mario's transit")
		}
		var denied int64
		e.All().Model(&audit.Event{}).Where("action = ? AND actor_id = ?", "security.ztl_access_denied", cfLuigi).Count(&denied)
		if denied != 3 {
			t.Errorf("%d security entries for Luigi's attempts, want 3", denied)
		}

		// The PDF with the stamp; the QR's page says valid.
		r = mario.Get("/servizi/ztl/permessi/" + code + "/permesso.pdf")
		want(t, r, http.StatusOK, "%PDF")
		anon := e.Client()
		want(t, anon.Get(ztl.VerifyBase+"/"+code), http.StatusOK, "PERMESSO VALIDO", "AB123CD", "DE:BAB1234")
		want(t, anon.Get(ztl.VerifyBase+"/AAAA-BBBB-CCCC-D"), http.StatusNotFound, "Permesso sconosciuto")

		// Police plate check at the transit's instant.
		r = off.Get("/backoffice/ztl/targa?targa=AB123CD&quando=2027-03-01T10:30")
		want(t, r, http.StatusOK, "era autorizzata dal permesso "+code)

		// The local police check plates but cannot revoke.
		police := e.Client()
		e.LoginAs(police, viewerPolice())
		want(t, police.Get("/backoffice/ztl/targa?targa=DE:BAB1234&quando=2027-03-01T10:30"), http.StatusOK, "era autorizzata")
		want(t, police.PostForm("/backoffice/ztl/permessi/"+code+"/revoca", url.Values{"reason": {"x"}}), http.StatusForbidden)

		// Suspension and resumption.
		e.clk.set(time.Date(2027, 3, 1, 10, 40, 0, 0, time.UTC))
		want(t, off.PostForm("/backoffice/ztl/permessi/"+code+"/sospendi", url.Values{"reason": {"Verifica dei requisiti"}}), http.StatusSeeOther)
		want(t, gate.do(http.MethodGet, ztl.APIBase+"/whitelist?zone=A", nil, nil), http.StatusOK, `"count":0`)
		want(t, anon.Get(ztl.VerifyBase+"/"+code), http.StatusOK, "Sospeso")
		e.clk.set(time.Date(2027, 3, 1, 10, 50, 0, 0, time.UTC))
		want(t, off.PostForm("/backoffice/ztl/permessi/"+code+"/riattiva", nil), http.StatusSeeOther)
		want(t, gate.do(http.MethodGet, ztl.APIBase+"/whitelist?zone=A", nil, nil), http.StatusOK, `"count":2`)

		// Revocation: gone from the whitelist, in the changes, revoked on the QR page.
		since := wl.Cursor
		e.clk.set(time.Date(2027, 3, 1, 11, 0, 0, 0, time.UTC))
		want(t, off.PostForm("/backoffice/ztl/permessi/"+code+"/revoca", url.Values{"reason": {""}}), http.StatusUnprocessableEntity, "Scrivi il motivo")
		want(t, off.PostForm("/backoffice/ztl/permessi/"+code+"/revoca", url.Values{"reason": {"Veicolo venduto"}}), http.StatusSeeOther)
		r = gate.do(http.MethodGet, ztl.APIBase+"/whitelist?zone=A", nil, http.Header{"If-None-Match": {etag}})
		want(t, r, http.StatusOK, `"count":0`)
		r = gate.do(http.MethodGet, ztl.APIBase+"/whitelist/changes?zone=A&since="+url.QueryEscape(since), nil, nil)
		want(t, r, http.StatusOK, `{"plate":"AB123CD","country":"IT","allowed":false,"until":null}`)
		want(t, anon.Get(ztl.VerifyBase+"/"+code), http.StatusOK, "Revocato", "revocato e non autorizza")
		var revoked int64
		e.All().Model(&audit.Event{}).Where("action = ? AND object_id = ?", "ztl.permit_revoke", code).Count(&revoked)
		if revoked != 1 {
			t.Errorf("%d audit entries for the revocation", revoked)
		}
	})
}
