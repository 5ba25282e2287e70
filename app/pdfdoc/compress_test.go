package pdfdoc

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"image"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// withFpdfCompression lets fpdf compress the pages itself: the reference the
// pooled compression (compress.go) must equal.
func withFpdfCompression() Option {
	return func(d *Doc) {
		d.pdf.SetCompression(true)
		d.pdf.AliasNbPages(nbAlias)
	}
}

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
// file issued, byte for byte (its SHA-256 was taken then), in the layout the record
// names. These documents' hashes in LayoutV1 were taken before the mask choice and the
// page compression moved here (December 2026): any change to the layout, the QR
// encoder, the compression or fpdf that moves a byte fails here before it makes issued
// certificates unverifiable as files. A Go release whose compress/flate wrote other
// bytes at level 1 would fail here too; that is also a change for issued certificates.
func TestPDFBytesPinned(t *testing.T) {
	t.Parallel()
	want := map[Layout]map[string]string{LayoutV1: {
		"100":  "f975e7e12be2e93ef80fc376a140f956669bfdf6ca82c9eef591bd94f9802688",
		"300":  "68aadc6ae0ac98a91ed474fcca27930875b651b8dfcc4a80a823cf35c7305365",
		"430":  "58b9081beb0422f5723f5f38778116d1625917310549c4134a15ece1e530d5c2",
		"700":  "8333b2b08cd4618a7644357049240076c1a3d1a97d10c51a9cd5b56d77fbefa4",
		"long": "241ec6e43b6cee530bf13f004ce2099ecf83abef3037c68fe19787ebcde3fbc6",
	}, LayoutV2: {
		"100":  "0d4b4607916647e62db4434c2dbc249a6e222eb1f35de0564491f9e2eeb4c370",
		"300":  "c6dcb82b7d834b3d564c12e6e24665a404091784dfa4c7a5bdab3254669157f6",
		"430":  "2b018d2dfa3f8d4f25492125343a8717984d656776734fc66c7ffa5e5816661e",
		"700":  "be3b9471e90826c727d5e22dd3eb759736c6735c310c33a8d92804b42319a4ec",
		"long": "b3ca5b2821bc87a09dfbfe5604c52b7c161bc20c3397510b74f74f14ea4f8a8d",
	}}
	for layout, sums := range want {
		for name, sum := range sums {
			u := longStampURL()
			if n, err := strconv.Atoi(name); err == nil {
				u = "https://sportello.comune.example/v/ABCD1234EFGHP#" + strings.Repeat("31415926535", 80)[:n]
			}
			doc := certificateWith(t, []Option{WithLayout(layout)}, u)
			if got := fmt.Sprintf("%x", sha256.Sum256(render(t, doc))); got != sum {
				t.Errorf("layout %d, %s: SHA-256 %s, pinned %s", layout, name, got, sum)
			}
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
		d.pdf.AliasNbPages(nbAlias)
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

// The two layouts paint the same page: rendered at 300 dpi, they differ only along a
// few module edges that fall on a pixel boundary (LayoutV1 rounded each run's corners
// to a thousandth of a point, LayoutV2 computes them from one matrix), never by a
// module; and LayoutV2 writes a much shorter file.
func TestLayoutsPaintTheSamePage(t *testing.T) {
	t.Parallel()
	page := func(l Layout) (image.Image, int) {
		pdf := render(t, certificateWith(t, []Option{WithLayout(l)}, longStampURL()))
		return rasterize(t, pdf, 300, "-gray"), len(pdf)
	}
	v1, size1 := page(LayoutV1)
	v2, size2 := page(LayoutV2)
	if v1.Bounds() != v2.Bounds() {
		t.Fatalf("page sizes differ: %v, %v", v1.Bounds(), v2.Bounds())
	}
	grey := func(img image.Image, x, y int) int { r, _, _, _ := img.At(x, y).RGBA(); return int(r >> 8) }
	b := v1.Bounds()
	flipped := func(x, y int) bool { return (grey(v1, x, y) < 128) != (grey(v2, x, y) < 128) }
	flips := 0
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			if !flipped(x, y) {
				continue
			}
			flips++
			// A module at 300 dpi is about 8×8 pixels: a module drawn differently
			// flips whole squares, where an edge met at another sub-pixel phase flips
			// a line one or two pixels thick.
			square := x+2 < b.Max.X && y+2 < b.Max.Y
			for dy := 0; square && dy < 3; dy++ {
				for dx := 0; square && dx < 3; dx++ {
					square = flipped(x+dx, y+dy)
				}
			}
			if square {
				t.Fatalf("the layouts paint (%d, %d) to (%d, %d) differently", x, y, x+2, y+2)
			}
		}
	}
	if size2 > size1*85/100 {
		t.Errorf("LayoutV2 wrote %d bytes, LayoutV1 %d", size2, size1)
	}
	t.Logf("%d and %d bytes; %d pixels across black and white, on edges only", size1, size2, flips)
}
