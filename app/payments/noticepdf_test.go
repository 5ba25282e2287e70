package payments_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/comuni-italiani/sportello/app/payments"
	"github.com/comuni-italiani/sportello/app/pdfdoc"
)

// The notice's QR code is read back by an independent reader: the page is rendered by
// poppler (pdftoppm) and decoded by ZBar (zbarimg), neither of which shares code with
// the encoder.
func TestNoticePDFQRCode(t *testing.T) {
	for _, tool := range []string{"pdftoppm", "zbarimg", "pdftotext"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed (poppler-utils, zbar-tools)", tool)
		}
	}
	notice, iuv, _ := payments.NoticeNumber(1, 4242)
	p := &payments.Position{ID: "00000000001-x", NoticeNumber: notice, IUV: iuv, CreditorCF: "00000000001",
		AmountCents: 1600, PayerCF: "RSSMRA80A01H501U", PayerName: "Mario Rossi",
		Causale: "Imposta di bollo - certificato di residenza", DueDate: time.Date(2027, 1, 31, 22, 59, 0, 0, time.UTC),
		CreatedAt: time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)}
	pdf, err := payments.NoticePDF(pdfdoc.Letterhead{Comune: "Comune di Valdoria", Province: "Provincia di Valdoria"}, "Comune di Valdoria", p)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	file := filepath.Join(dir, "avviso.pdf")
	if err := os.WriteFile(file, pdf, 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("pdftoppm", "-r", "150", "-png", "-f", "1", "-l", "1", file, filepath.Join(dir, "page")).CombinedOutput(); err != nil {
		t.Fatalf("pdftoppm: %v %s", err, out)
	}
	pngs, _ := filepath.Glob(filepath.Join(dir, "page*.png"))
	if len(pngs) != 1 {
		t.Fatalf("rendered %d pages", len(pngs))
	}
	out, err := exec.Command("zbarimg", "--quiet", "--raw", "-Sdisable", "-Sqrcode.enable", pngs[0]).Output()
	if err != nil {
		t.Fatalf("zbarimg found no QR code: %v", err)
	}
	want := "PAGOPA|002|" + notice + "|00000000001|1600"
	if got := strings.TrimSpace(string(out)); got != want {
		t.Errorf("QR code reads %q, want %q", got, want)
	}
	text, err := exec.Command("pdftotext", "-enc", "UTF-8", file, "-").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"Avviso di pagamento", "16,00 euro", "31/01/2027", payments.FormatNotice(notice), "RSSMRA80A01H501U", "Dove pagare?"} {
		if !strings.Contains(string(text), s) {
			t.Errorf("notice text lacks %q", s)
		}
	}
}
