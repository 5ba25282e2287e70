package certificates_test

import (
	"context"
	"testing"

	"github.com/comuni-italiani/sportello/app/store"
	"github.com/comuni-italiani/sportello/services/certificates"
)

// The QR code of a certificate decodes from a 72 dpi rendering of its PDF (a fax, a
// poor photocopy), not only at 150 dpi, and the server verifies what it holds.
func TestQRDecodesAt72DPI(t *testing.T) {
	t.Parallel()
	s, m := portal(t, store.SQLite, "")
	giulia := person(t, s.DB, "BIANCHI", "GIULIA")
	for _, typ := range []string{certificates.TypeResidence, certificates.TypeCivilStatus} {
		c := issue(t, m, giulia, giulia, typ)
		pdf, err := m.PDF(context.Background(), c)
		if err != nil {
			t.Fatal(err)
		}
		at150, err := certificates.QRFromPDF(ctx, pdf)
		if err != nil {
			t.Fatal(err)
		}
		at72, err := certificates.QRFromPDFAt(ctx, pdf, 72)
		if err != nil || at72 != at150 {
			t.Fatalf("%s at 72 dpi: %q, %v", typ, at72, err)
		}
		var res certificates.APIResult
		if st := postJSON(t, s, "/api/verifica", map[string]any{"payload": at72}, &res); st != 200 ||
			res.Verdict != certificates.Valid || res.Signature != "valida" || res.CertificateID != c.ID {
			t.Fatalf("%s: the QR read at 72 dpi verifies as %d %+v", typ, st, res)
		}
	}
}
