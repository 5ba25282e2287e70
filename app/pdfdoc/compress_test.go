package pdfdoc

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// withFpdfCompression lets fpdf compress the pages itself: the reference the
// pooled compression (compress.go) must equal.
func withFpdfCompression() Option { return func(d *Doc) { d.pdf.SetCompression(true) } }

// Documents of one and two pages, with and without a stamp, a page mark and a coat of
// arms: compressed here, they are byte for byte the files fpdf writes itself.
func TestCompressionMatchesFpdf(t *testing.T) {
	t.Parallel()
	arms, err := os.ReadFile("../../static/img/enti/valdoria.svg")
	if err != nil {
		t.Fatal(err)
	}
	shield, err := ParseArms(arms)
	if err != nil {
		t.Fatal(err)
	}
	build := map[string]func(opts ...Option) *Doc{
		"certificate": func(opts ...Option) *Doc {
			d := New(valdoria, "Certificato di residenza", append([]Option{WithCreationDate(issued)}, opts...)...)
			d.Title("Certificato di residenza")
			d.Paragraph("L’Ufficiale d’Anagrafe certifica che la persona sotto indicata è iscritta nell’anagrafe.")
			d.Fields([]Field{{"Cognome e nome", "ROSSI Nicolò"}, {"Codice fiscale", "RSSNCL80A01H501X"}})
			if err := d.StampBlock(Stamp{URL: longStampURL(), Code: "ABCD-EFGH-JKMN-P", Lines: []string{"Certificato n. 1"}}); err != nil {
				t.Fatal(err)
			}
			return d
		},
		"two pages with arms and mark": func(opts ...Option) *Doc {
			d := New(valdoria, "Lettera", append([]Option{WithCreationDate(issued), WithPageMark("Pratica 2026/000042"), WithArms(shield)}, opts...)...)
			d.Title("Lettera di due pagine")
			for d.PageCount() < 3 {
				d.Heading("Paragrafo")
				d.Paragraph("Questo testo riempie le pagine finché il documento non passa alla terza pagina.")
			}
			return d
		},
		"empty": func(opts ...Option) *Doc {
			return New(valdoria, "Vuoto", append([]Option{WithCreationDate(issued)}, opts...)...)
		},
	}
	for name, b := range build {
		got, want := render(t, b()), render(t, b(withFpdfCompression()))
		if !bytes.Equal(got, want) {
			n := 0
			for n < len(got) && n < len(want) && got[n] == want[n] {
				n++
			}
			t.Errorf("%s: %d bytes, fpdf's %d; first difference at %d: %q vs %q", name, len(got), len(want), n,
				got[max(0, n-40):min(len(got), n+40)], want[max(0, n-40):min(len(want), n+40)])
		}
	}
}

func BenchmarkCompressPages(b *testing.B) {
	d := certificate(b, longStampURL())
	d.pdf.SetCompression(false)
	var raw bytes.Buffer
	if err := d.pdf.Output(&raw); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := compressPages(raw.Bytes()); err != nil {
			b.Fatal(err)
		}
	}
}

// A certificate's PDF is not stored: it is rebuilt from the record and must be the
// file issued, byte for byte (its SHA-256 was taken then). These documents' hashes were
// taken before the mask choice and the page compression moved here (December 2026):
// any change to the layout, the QR encoder, the compression or fpdf that moves a byte
// fails here before it makes issued certificates unverifiable as files.
func TestPDFBytesPinned(t *testing.T) {
	t.Parallel()
	want := map[string]string{
		"100":  "f975e7e12be2e93ef80fc376a140f956669bfdf6ca82c9eef591bd94f9802688",
		"300":  "68aadc6ae0ac98a91ed474fcca27930875b651b8dfcc4a80a823cf35c7305365",
		"430":  "58b9081beb0422f5723f5f38778116d1625917310549c4134a15ece1e530d5c2",
		"700":  "8333b2b08cd4618a7644357049240076c1a3d1a97d10c51a9cd5b56d77fbefa4",
		"long": "241ec6e43b6cee530bf13f004ce2099ecf83abef3037c68fe19787ebcde3fbc6",
	}
	for name, sum := range want {
		u := longStampURL()
		if n, err := strconv.Atoi(name); err == nil {
			u = "https://sportello.comune.example/v/ABCD1234EFGHP#" + strings.Repeat("31415926535", 80)[:n]
		}
		if got := fmt.Sprintf("%x", sha256.Sum256(render(t, certificate(t, u)))); got != sum {
			t.Errorf("%s: SHA-256 %s, pinned %s", name, got, sum)
		}
	}
}

// Documents made at once share the kept writers: 24 certificates built and compressed
// together are each byte for byte fpdf's own file.
func TestCompressionConcurrent(t *testing.T) {
	t.Parallel()
	want := render(t, func() *Doc {
		d := certificate(t, longStampURL())
		d.pdf.SetCompression(true)
		return d
	}())
	var wg sync.WaitGroup
	got := make([][]byte, 24)
	errs := make([]error, len(got))
	for i := range got {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got[i], errs[i] = certificate(t, longStampURL()).Bytes()
		}()
	}
	wg.Wait()
	for i := range got {
		if errs[i] != nil || !bytes.Equal(got[i], want) {
			t.Fatalf("document %d: %v, %d bytes, fpdf's %d", i, errs[i], len(got[i]), len(want))
		}
	}
}
