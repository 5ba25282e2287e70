package certificates_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"testing"

	"github.com/comuni-italiani/sportello/app/pdfdoc"
	"github.com/comuni-italiani/sportello/app/store"
	"github.com/comuni-italiani/sportello/services/certificates"
)

// A certificate records the layout its PDF was made in and is rebuilt in that one: a
// new certificate in the current layout, byte for byte the file issued; a certificate
// issued before layouts were numbered (the migration gave it layout 1) in layout 1,
// which draws the same QR code in more bytes.
func TestPDFRebuiltInItsLayout(t *testing.T) {
	t.Parallel()
	for _, d := range []store.Dialect{store.SQLite, store.Postgres} {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			s, m := portal(t, d, "")
			giulia := person(t, s.DB, "BIANCHI", "GIULIA")
			issued := issue(t, m, giulia, giulia, certificates.TypeFamilyRelations)
			load := func() *certificates.Certificate {
				var c certificates.Certificate
				if err := s.All().Where("id = ?", issued.ID).Take(&c).Error; err != nil {
					t.Fatal(err)
				}
				return &c
			}
			c := load()
			if c.PDFLayout != int(pdfdoc.LayoutCurrent) {
				t.Fatalf("new certificate in layout %d, want %d", c.PDFLayout, pdfdoc.LayoutCurrent)
			}
			current, err := m.PDF(ctx, c)
			if err != nil {
				t.Fatal(err)
			}
			if sum := sha256.Sum256(current); hex.EncodeToString(sum[:]) != c.PDFHash {
				t.Fatal("the rebuilt PDF is not the file issued")
			}

			if err := s.All().Exec("UPDATE certificates SET pdf_layout = 1 WHERE id = ?", c.ID).Error; err != nil {
				t.Fatal(err)
			}
			old, err := m.PDF(ctx, load())
			if err != nil {
				t.Fatal(err)
			}
			if bytes.Equal(old, current) || len(old) <= len(current) {
				t.Fatalf("layout 1 rebuilt as %d bytes, the current layout %d: not layout 1", len(old), len(current))
			}
			again, err := m.PDF(ctx, load())
			if err != nil || !bytes.Equal(again, old) {
				t.Fatalf("layout 1 rebuilt twice differs: %v", err)
			}
			u1, err := certificates.QRFromPDF(ctx, old)
			if err != nil {
				t.Fatal(err)
			}
			u2, err := certificates.QRFromPDF(ctx, current)
			if err != nil || u1 != u2 {
				t.Fatalf("QR codes of the two layouts: %q, %q (%v)", u1, u2, err)
			}
			if pdfText(t, old) != pdfText(t, current) {
				t.Fatal("the two layouts print different text")
			}
		})
	}
}
