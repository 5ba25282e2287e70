package pdfdoc

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"image"
	_ "image/png"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"codeberg.org/go-pdf/fpdf"
	"github.com/makiuchi-d/gozxing"
	zxqr "github.com/makiuchi-d/gozxing/qrcode"
)

var valdoria = Letterhead{
	Comune:   "Comune di Valdoria",
	Province: "Provincia di Montealto",
	Office:   "Ufficio Anagrafe e Stato civile",
	Address:  "Piazza della Libertà 1, 00000 Valdoria (MA)",
	Phone:    "0000 123456",
	Email:    "anagrafe@comune.valdoria.example",
	PEC:      "protocollo@pec.comune.valdoria.example",
	Website:  "www.comune.valdoria.example",
}

var issued = time.Date(2026, 1, 15, 10, 30, 0, 0, time.UTC)

// longStampURL is a verification URL of the size the stamp package produces:
// the page address plus a signed payload of 255 bytes (340 base64url chars)
// after '#'.
func longStampURL() string {
	var payload []byte
	seed := []byte("Sportello del Cittadino, payload di prova")
	for len(payload) < 255 {
		h := sha256.Sum256(append(seed, byte(len(payload))))
		payload = append(payload, h[:]...)
	}
	return "https://sportello.comune.example/verifica/ABCD-EFGH-JKMN-P#" +
		base64.RawURLEncoding.EncodeToString(payload[:255])
}

// certificate builds a one-page document shaped like a residence certificate.
// Extra lines, if any, replace the default lines of the stamp.
func certificate(tb testing.TB, stampURL string, lines ...string) *Doc {
	tb.Helper()
	return certificateWith(tb, nil, stampURL, lines...)
}

// certificateWith is certificate made with options opts.
func certificateWith(tb testing.TB, opts []Option, stampURL string, lines ...string) *Doc {
	tb.Helper()
	d := New(valdoria, "Certificato di residenza", append([]Option{WithCreationDate(issued)}, opts...)...)
	d.Title("Certificato di residenza")
	d.Paragraph("L’Ufficiale d’Anagrafe, visti gli atti d’ufficio, certifica che la persona " +
		"sotto indicata è iscritta nell’anagrafe della popolazione residente di questo Comune. " +
		"Il certificato è rilasciato perché l’interessato possa usarlo nei rapporti con i privati; " +
		"non può essere prodotto agli organi della pubblica amministrazione.")
	d.Heading("Dati della persona")
	d.Fields([]Field{
		{"Cognome e nome", "ROSSI Nicolò"},
		{"Codice fiscale", "RSSNCL80A01H501X"},
		{"Data e luogo di nascita", "01/01/1980, Forlì (FC)"},
		{"Indirizzo di residenza", "Via dell’Università 12, scala B, interno 4, 00000 Valdoria (MA) — " +
			"frazione San Giorgio in Piano, località Più Alta"},
		{"Imposta di bollo", "Assolta in modo virtuale, € 16,00"},
	})
	d.Note("Certificato rilasciato ai sensi dell’art. 33 del d.P.R. 30 maggio 1989, n. 223. " +
		"Ai sensi dell’art. 40 del d.P.R. 445/2000 non può essere prodotto agli organi della " +
		"pubblica amministrazione o ai privati gestori di pubblici servizi.")
	if lines == nil {
		lines = []string{"Certificato n. 2026/000123", "Rilasciato il 15/01/2026 alle 11:30"}
	}
	if err := d.StampBlock(Stamp{
		URL:        stampURL,
		Code:       "ABCD-EFGH-JKMN-P",
		ValidUntil: time.Date(2026, 7, 15, 0, 0, 0, 0, time.UTC),
		Lines:      lines,
	}); err != nil {
		tb.Fatalf("StampBlock: %v", err)
	}
	return d
}

func render(tb testing.TB, d *Doc) []byte {
	tb.Helper()
	b, err := d.Bytes()
	if err != nil {
		tb.Fatalf("Bytes: %v", err)
	}
	return b
}

// poppler returns the path of a poppler-utils tool or skips the test.
func poppler(t *testing.T, tool string) string {
	t.Helper()
	p, err := exec.LookPath(tool)
	if err != nil {
		t.Skipf("%s not found: install poppler-utils (apt-get install poppler-utils) to run this test", tool)
	}
	return p
}

func writeTemp(t *testing.T, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// pdfText extracts the text of the given page (0 for all pages).
func pdfText(t *testing.T, pdf []byte, page int) string {
	t.Helper()
	tool := poppler(t, "pdftotext")
	file := writeTemp(t, "doc.pdf", pdf)
	args := []string{"-enc", "UTF-8"}
	if page > 0 {
		args = append(args, "-f", strconv.Itoa(page), "-l", strconv.Itoa(page))
	}
	out, err := exec.Command(tool, append(args, file, "-")...).CombinedOutput()
	if err != nil {
		t.Fatalf("pdftotext: %v\n%s", err, out)
	}
	return string(out)
}

func TestCertificateText(t *testing.T) {
	u := longStampURL()
	if n := len(u); n < 390 || n > 410 {
		t.Fatalf("test URL has %d characters, want about 400", n)
	}
	d := certificate(t, u)
	pdf := render(t, d)
	if d.PageCount() != 1 {
		t.Fatalf("certificate has %d pages, want 1", d.PageCount())
	}
	// Words wrap differently as the layout changes: compare with runs of
	// white space collapsed.
	text := strings.Join(strings.Fields(pdfText(t, pdf, 0)), " ")
	for _, want := range []string{
		// letterhead and footer
		"Comune di Valdoria", "Provincia di Montealto", "Ufficio Anagrafe e Stato civile",
		"Piazza della Libertà 1", "PEC protocollo@pec.comune.valdoria.example", "Pagina 1 di 1",
		// accented words, apostrophes and the euro sign
		"L’Ufficiale d’Anagrafe", "è iscritta", "perché", "non può", "Forlì", "Nicolò",
		"dell’Università", "Più Alta", "€ 16,00",
		// labels and values
		"Cognome e nome", "ROSSI Nicolò", "Codice fiscale", "RSSNCL80A01H501X",
		"Data e luogo di nascita", "Imposta di bollo", "Assolta in modo virtuale",
		// stamp block
		"Timbro digitale", "Codice di verifica", "ABCD-EFGH-JKMN-P", "Valido fino al 15/07/2026",
		"Certificato n. 2026/000123",
		"https://sportello.comune.example/verifica/ABCD-EFGH-JKMN-P",
		"Indirizzo di verifica: https://sportello.comune.example/verifica/ABCD-EFGH-JKMN-P",
		"Inquadra il codice QR con la fotocamera del telefono oppure visita " +
			"https://sportello.comune.example/verifica e digita il codice di verifica. " +
			"La pagina mostra i dati come rilasciati e lo stato attuale del certificato " +
			"(valido, revocato, scaduto).",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("text of the PDF lacks %q", want)
		}
	}
	if strings.Contains(text, u[strings.IndexByte(u, '#'):][:20]) {
		t.Errorf("the signed payload after '#' is printed in clear")
	}
	if t.Failed() {
		t.Logf("pdftotext output:\n%s", text)
	}
}

// rasterize renders page 1 of pdf with pdftoppm at dpi, with its further options
// (such as -gray).
func rasterize(t *testing.T, pdf []byte, dpi int, opts ...string) image.Image {
	t.Helper()
	tool := poppler(t, "pdftoppm")
	prefix := filepath.Join(t.TempDir(), "page")
	args := append([]string{"-r", strconv.Itoa(dpi), "-png", "-f", "1", "-l", "1", "-singlefile"}, opts...)
	args = append(args, writeTemp(t, "doc.pdf", pdf), prefix)
	if out, err := exec.Command(tool, args...).CombinedOutput(); err != nil {
		t.Fatalf("pdftoppm: %v\n%s", err, out)
	}
	f, err := os.Open(prefix + ".png")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, _, err := image.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// decodeQR rasterises page 1 of pdf with pdftoppm at dpi and decodes the
// QR code found on it with gozxing: first in its normal mode, then, if that
// fails, with TRY_HARDER. tryHarder reports whether the second pass was needed.
func decodeQR(t *testing.T, pdf []byte, dpi int) (text string, tryHarder bool) {
	t.Helper()
	img := rasterize(t, pdf, dpi)
	bmp, err := gozxing.NewBinaryBitmapFromImage(img)
	if err != nil {
		t.Fatal(err)
	}
	res, err := zxqr.NewQRCodeReader().Decode(bmp, nil)
	if err == nil {
		return res.GetText(), false
	}
	res, err2 := zxqr.NewQRCodeReader().Decode(bmp, map[gozxing.DecodeHintType]any{
		gozxing.DecodeHintType_TRY_HARDER: true,
	})
	if err2 != nil {
		t.Fatalf("no QR code decoded from the page rendered at %d dpi: %v; with TRY_HARDER: %v", dpi, err, err2)
	}
	return res.GetText(), true
}

// The stamp on a certificate decodes, from the page rendered at 150 dpi, to
// exactly the ~400-character verification URL. The stamp's height (and so the
// QR code's size and position) depends on its lines, so a few shapes are
// tried.
func TestCertificateQRDecodes(t *testing.T) {
	u := longStampURL()
	m, _ := qrMatrix(u)
	lines := []string{"Certificato n. 2026/000123", "Rilasciato il 15/01/2026 alle 11:30",
		"Esente da bollo ai sensi dell’art. 7, comma 5, della legge 29 dicembre 1990, n. 405"}
	for n := 0; n <= len(lines); n++ {
		d := certificate(t, u, lines[:n]...)
		got, hard := decodeQR(t, render(t, d), 150)
		if got != u {
			t.Fatalf("%d lines: decoded QR text differs from the URL:\n got %q\nwant %q", n, got, u)
		}
		mod := d.stampQR / float64(len(m))
		t.Logf("%d stamp lines: QR %.1f mm, %d modules, %.3f mm/module (%.2f px at 150 dpi), needed TRY_HARDER: %v",
			n, d.stampQR, len(m), mod, mod/25.4*150, hard)
		if d.stampQR < MinQRSizeMM || mod < MinModuleMM {
			t.Errorf("stamp QR of %.1f mm with %.3f mm modules is below the minimum", d.stampQR, mod)
		}
	}
}

// At its smallest allowed size (0.35 mm modules) the long URL still decodes
// from a 300 dpi rendering, wherever it sits on the page. (At 150 dpi a
// module would be 2 pixels and gozxing finds it only at some pixel phases;
// phones and 300 dpi scanners see far more detail.)
func TestMinimumSizeQRDecodes(t *testing.T) {
	u := longStampURL()
	size, err := MinQRSize(u)
	if err != nil {
		t.Fatal(err)
	}
	m, _ := qrMatrix(u)
	t.Logf("URL of %d chars: version %d at level Q, %d modules with quiet zone, minimum %.1f mm",
		len(u), (len(m)-2*QuietZoneModules-17)/4, len(m), size)
	for i, at := range [][2]float64{{40, 100}, {40.37, 100.53}, {41.1, 101.9}} {
		d := New(valdoria, "Prova", WithCreationDate(issued))
		if err := d.QR(u, at[0], at[1], size); err != nil {
			t.Fatal(err)
		}
		got, _ := decodeQR(t, render(t, d), 300)
		if got != u {
			t.Fatalf("position %d: decoded QR text differs from the URL", i)
		}
	}
}

func TestQRRefusesSmallSizes(t *testing.T) {
	d := New(valdoria, "Prova")
	if err := d.QR("https://sportello.comune.example/verifica/ABCD", 20, 60, 30); err == nil {
		t.Errorf("QR accepted a 30 mm code")
	}
	if err := d.QR("https://sportello.comune.example/verifica/ABCD", 20, 60, 35); err != nil {
		t.Errorf("QR refused a 35 mm code: %v", err)
	}
	u := longStampURL()
	need, err := MinQRSize(u)
	if err != nil {
		t.Fatal(err)
	}
	if need > MinQRSizeMM {
		if err := d.QR(u, 20, 120, MinQRSizeMM); err == nil {
			t.Errorf("QR accepted %.0f mm for a URL that needs %.1f mm", MinQRSizeMM, need)
		}
	}
	if err := d.QR(u, 20, 120, need); err != nil {
		t.Errorf("QR refused the size MinQRSize asked for: %v", err)
	}
	if _, err := d.Bytes(); err != nil {
		t.Errorf("refused QR codes spoiled the document: %v", err)
	}
}

func TestQRQuietZone(t *testing.T) {
	for _, content := range []string{"A", "https://sportello.comune.example/verifica/ABCD-EFGH-JKMN-P", longStampURL()} {
		m, err := qrMatrix(content)
		if err != nil {
			t.Fatal(err)
		}
		n := len(m)
		if (n-2*QuietZoneModules-17)%4 != 0 {
			t.Fatalf("%d modules is not a QR version plus quiet zone", n)
		}
		for i := 0; i < n; i++ {
			for j := 0; j < n; j++ {
				inQuiet := i < 4 || j < 4 || i >= n-4 || j >= n-4
				if inQuiet && m[i][j] {
					t.Fatalf("dark module at (%d,%d) inside the quiet zone", i, j)
				}
			}
		}
		// The three finder patterns start right after the 4-module quiet zone.
		q := QuietZoneModules
		for _, c := range [][2]int{{q, q}, {q, n - q - 1}, {n - q - 1, q}} {
			if !m[c[0]][c[1]] {
				t.Errorf("finder pattern corner (%d,%d) is not dark: quiet zone is not exactly 4 modules", c[0], c[1])
			}
		}
	}
}

func TestNoRasterImages(t *testing.T) {
	pdf := render(t, certificate(t, longStampURL()))
	// fpdf always writes an empty /XObject dictionary; an image would be an
	// object of subtype /Image listed in it.
	if bytes.Contains(pdf, []byte("/Subtype /Image")) {
		t.Errorf("PDF contains an /Image XObject: a raster image is embedded")
	}
	for _, m := range regexp.MustCompile(`/XObject\s*<<([^>]*)>>`).FindAllSubmatch(pdf, -1) {
		if len(bytes.TrimSpace(m[1])) > 0 {
			t.Errorf("PDF resources list XObjects: %s", m[0])
		}
	}
	if tool, err := exec.LookPath("pdfimages"); err == nil {
		out, err := exec.Command(tool, "-list", writeTemp(t, "c.pdf", pdf)).CombinedOutput()
		if err != nil {
			t.Fatalf("pdfimages: %v\n%s", err, out)
		}
		if lines := strings.Split(strings.TrimSpace(string(out)), "\n"); len(lines) > 2 {
			t.Errorf("pdfimages lists images:\n%s", out)
		}
	}
}

func TestPageNumbers(t *testing.T) {
	d := New(valdoria, "Lettera di prova", WithCreationDate(issued))
	d.Title("Lettera di due pagine")
	for i := 0; d.PageCount() < 2; i++ {
		d.Heading("Paragrafo")
		d.Paragraph("Questo testo riempie la pagina finché il documento non passa alla seconda pagina; " +
			"serve a controllare la numerazione «Pagina N di M» a piè di pagina.")
	}
	pdf := render(t, d)
	if d.PageCount() != 2 {
		t.Fatalf("document has %d pages, want 2", d.PageCount())
	}
	for page, want := range map[int]string{1: "Pagina 1 di 2", 2: "Pagina 2 di 2"} {
		text := pdfText(t, pdf, page)
		if !strings.Contains(text, want) {
			t.Errorf("page %d lacks %q:\n%s", page, want, text)
		}
		if !strings.Contains(text, "Comune di Valdoria") {
			t.Errorf("page %d lacks the letterhead", page)
		}
	}
}

func TestStampMovesToNewPage(t *testing.T) {
	d := New(valdoria, "Prova", WithCreationDate(issued))
	for d.pdf.GetY() < 240 {
		d.Paragraph("Testo che occupa quasi tutta la pagina prima del timbro digitale.")
	}
	if err := d.StampBlock(Stamp{URL: longStampURL(), Code: "ABCD-EFGH-JKMN-P"}); err != nil {
		t.Fatal(err)
	}
	if d.PageCount() != 2 {
		t.Fatalf("stamp block did not move to a new page: %d pages", d.PageCount())
	}
	if _, err := d.Bytes(); err != nil {
		t.Fatal(err)
	}
}

func TestStampBlockRejectsBadInput(t *testing.T) {
	d := New(valdoria, "Prova")
	for _, s := range []Stamp{
		{URL: "https://sportello.comune.example/verifica/X"},
		{URL: "sportello.comune.example/verifica/X", Code: "X"},
		{URL: "", Code: "X"},
	} {
		if err := d.StampBlock(s); err == nil {
			t.Errorf("StampBlock(%+v) accepted bad input", s)
		}
	}
}

func TestReproducibleAndMetadata(t *testing.T) {
	a := render(t, certificate(t, longStampURL()))
	b := render(t, certificate(t, longStampURL()))
	if !bytes.Equal(a, b) {
		t.Errorf("two renders with WithCreationDate differ")
	}
	for _, want := range []string{"/Lang (it-IT)", "/CreationDate (D:20260115103000)"} {
		if !bytes.Contains(a, []byte(want)) {
			t.Errorf("PDF lacks %s", want)
		}
	}
	if tool, err := exec.LookPath("pdfinfo"); err == nil {
		out, err := exec.Command(tool, writeTemp(t, "m.pdf", a)).CombinedOutput()
		if err != nil {
			t.Fatalf("pdfinfo: %v\n%s", err, out)
		}
		for _, want := range []string{"Certificato di residenza", "Comune di Valdoria", "Sportello del Cittadino"} {
			if !strings.Contains(string(out), want) {
				t.Errorf("pdfinfo lacks %q:\n%s", want, out)
			}
		}
	}
}

func TestFold(t *testing.T) {
	for in, want := range map[string]string{
		"àèéìòù ÀÈÉÌÒÙ € ’ « »": "àèéìòù ÀÈÉÌÒÙ € ’ « »",
		"Ștefan Łukasz Dvořák":  "Stefan Lukasz Dvorák",
		"a\u2011b\u202Fc":       "a-b c",
		"東京":                    "??",
	} {
		if got := fold(in); got != want {
			t.Errorf("fold(%q) = %q, want %q", in, got, want)
		}
	}
}

func BenchmarkCertificateLikeDocument(b *testing.B) {
	u := longStampURL()
	b.ReportAllocs()
	var size int
	for b.Loop() {
		pdf, err := certificate(b, u).Bytes()
		if err != nil {
			b.Fatal(err)
		}
		size = len(pdf)
	}
	b.ReportMetric(float64(size), "pdf-bytes")
}

// TestPageMarkAndKeepTogether: the page mark is on every page, and KeepTogether moves
// what follows to a new page only when the room asked for is not left.
func TestPageMarkAndKeepTogether(t *testing.T) {
	t.Parallel()
	d := New(Letterhead{Comune: "Comune di Valdoria"}, "prova", WithPageMark("Certificato n. ABCD-EFGH-JKMN-P"))
	st := Stamp{URL: "https://sportello.comune.valdoria.example/verifica/ABCD-EFGH-JKMN-P#" + strings.Repeat("x", 280), Code: "ABCD-EFGH-JKMN-P"}
	h, err := d.StampHeight(st)
	if err != nil || h < MinQRSizeMM {
		t.Fatalf("StampHeight = %.1f, %v", h, err)
	}
	d.KeepTogether(h)
	if d.PageCount() != 1 {
		t.Fatal("KeepTogether broke a page with room to spare")
	}
	for range 30 {
		d.Paragraph("Testo del certificato che occupa spazio sulla pagina.")
	}
	d.KeepTogether(h)
	if d.PageCount() != 2 {
		t.Fatalf("KeepTogether did not start a new page: %d pages", d.PageCount())
	}
	if err := d.StampBlock(st); err != nil {
		t.Fatal(err)
	}
	if d.PageCount() != 2 {
		t.Fatalf("the stamp did not fit where KeepTogether made room: %d pages", d.PageCount())
	}
	b, err := d.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	text := pdfText(t, b, 0)
	if n := strings.Count(text, "Certificato n. ABCD-EFGH-JKMN-P"); n != 2 {
		t.Fatalf("page mark printed %d times on 2 pages", n)
	}
}

// TestCP1252MatchesFpdf: the package's own cp1252 encoder gives the bytes fpdf's
// "cp1252" translator gave for every rune fold lets through, so documents are byte
// for byte what they were (a certificate's PDF is rebuilt and compared with its hash).
func TestCP1252MatchesFpdf(t *testing.T) {
	tr := fpdf.New("P", "mm", "A4", "").UnicodeTranslatorFromDescriptor("cp1252")
	n := 0
	for r := rune(1); r < 0x10000; r++ {
		if !encodable(r) || (r >= 0x80 && r < 0xA0) {
			continue // C1 controls: fpdf's map and x/text differ, and no text carries them
		}
		n++
		if got, want := toCP1252(string(r)), tr(string(r)); got != want {
			t.Fatalf("U+%04X: %q, fpdf %q", r, got, want)
		}
	}
	if n < 200 {
		t.Fatalf("only %d runes checked", n)
	}
	s := "Forlì – l’Università, € 16,00 «così»"
	if toCP1252(s) != tr(s) {
		t.Fatalf("%q", s)
	}
}
