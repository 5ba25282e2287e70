package pdfdoc

import (
	"fmt"
	"image"
	"image/color"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/makiuchi-d/gozxing"
	zxqr "github.com/makiuchi-d/gozxing/qrcode"
	zxdecoder "github.com/makiuchi-d/gozxing/qrcode/decoder"
	qr "github.com/piglig/go-qr"
)

// symbolImage draws a symbol with a 4-module quiet zone at px pixels a module.
func symbolImage(q *qr.QrCode, px int) image.Image {
	n := q.Size() + 2*QuietZoneModules
	img := image.NewGray(image.Rect(0, 0, n*px, n*px))
	for i := range img.Pix {
		img.Pix[i] = 0xff
	}
	for y := 0; y < q.Size(); y++ {
		for x := 0; x < q.Size(); x++ {
			if !q.Module(x, y) {
				continue
			}
			for dy := 0; dy < px; dy++ {
				for dx := 0; dx < px; dx++ {
					img.SetGray((x+QuietZoneModules)*px+dx, (y+QuietZoneModules)*px+dy, color.Gray{})
				}
			}
		}
	}
	return img
}

func zxingDecode(img image.Image) (string, error) {
	bmp, err := gozxing.NewBinaryBitmap(gozxing.NewHybridBinarizer(gozxing.NewLuminanceSourceFromImage(img)))
	if err != nil {
		return "", err
	}
	res, err := zxqr.NewQRCodeReader().Decode(bmp, map[gozxing.DecodeHintType]any{gozxing.DecodeHintType_TRY_HARDER: true})
	if err != nil {
		return "", err
	}
	return res.GetText(), nil
}

// The encoder's symbols are read back by an independent reader (gozxing) at every
// mask and across versions 2 to 25, with the byte+numeric segments of a stamp URL and
// with plain text; the automatic choice (the lowest ISO/IEC 18004 penalty) too.
func TestEncoderDecodesAcrossVersionsAndMasks(t *testing.T) {
	t.Parallel()
	versions := map[int]bool{}
	for _, digits := range []int{20, 120, 300, 520, 800, 1300} {
		num := strings.Repeat("0123456789", digits/10+1)[:digits]
		content := "https://sportello.comune.example/v/ABCD1234EFGHP#" + num
		for _, text := range []string{content, strings.ToLower(content[:len(content)/2])} {
			segs, err := qrSegments(text)
			if err != nil {
				t.Fatal(err)
			}
			for mask := -1; mask < 8; mask++ {
				q, err := qr.EncodeSegments(segs, qr.Quartile, 1, 40, mask, false)
				if err != nil {
					t.Fatal(err)
				}
				v := (q.Size() - 17) / 4
				versions[v] = true
				// The modules as the encoder wrote them: format and version
				// information, mask, codewords and Reed-Solomon blocks.
				grid := make([][]bool, q.Size())
				for y := range grid {
					grid[y] = make([]bool, q.Size())
					for x := range grid[y] {
						grid[y][x] = q.Module(x, y)
					}
				}
				res, err := zxdecoder.NewDecoder().DecodeBoolMapWithoutHint(grid)
				if err != nil || res.GetText() != text || res.GetECLevel() != "Q" {
					t.Fatalf("version %d mask %d: matrix decoded as %v, %v", v, mask, res, err)
				}
				// And from an image, finder patterns and all, for the sizes a stamp
				// uses. (From version 21 on gozxing's detector misreads the version
				// information of some masks in a perfect image, while the matrix
				// decodes: a limit of that detector, see pdfqr.go in certificates.)
				if v <= 20 {
					got, err := zxingDecode(symbolImage(q, 3))
					if err != nil || got != text {
						t.Fatalf("version %d mask %d: image decoded as %q, %v", v, mask, got, err)
					}
				}
			}
		}
	}
	if len(versions) < 8 {
		t.Errorf("only versions %v covered", versions)
	}
	t.Logf("versions covered: %v", versions)
}

// Numeric mode makes the stamp's digits cost 3.3 bits each: a 430-digit tail fits a
// far smaller symbol than the same bytes in base64url.
func TestNumericTailShrinksTheSymbol(t *testing.T) {
	head := "https://sportello.comune.example/v/ABCD1234EFGHP#"
	num, _ := qrMatrix(head + strings.Repeat("7", 430))
	b64, _ := qrMatrix(head + strings.Repeat("A", 430))
	if len(num) >= len(b64) {
		t.Fatalf("numeric tail: %d modules, text tail: %d", len(num), len(b64))
	}
}

func BenchmarkQRMatrix(b *testing.B) {
	for _, n := range []int{300, 430} {
		b.Run(fmt.Sprintf("digits=%d", n), func(b *testing.B) {
			u := "https://sportello.comune.example/v/ABCD1234EFGHP#" + strings.Repeat("31415926535", 40)[:n]
			for b.Loop() {
				if _, err := qrMatrix(u); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	b.Run("longStampURL", func(b *testing.B) {
		u := longStampURL()
		for b.Loop() {
			if _, err := qrMatrix(u); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// The mask chosen here (qrmask.go) is the encoder's own choice: for hundreds of
// contents, random and shaped like a stamp URL, over most versions 1 to 40 and the four
// error-correction levels, the symbol equals go-qr's with mask -1 module by module.
func TestQRMaskChoiceMatchesEncoder(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(18004, 7))
	versions, masks := map[int]bool{}, map[int]bool{}
	eccs := []qr.Ecc{qr.Low, qr.Medium, qr.Quartile, qr.High}
	for i := 0; i < 320; i++ {
		var segs []*qr.QrSegment
		var err error
		if i%2 == 0 {
			digits := make([]byte, 1+rng.IntN(3500))
			for j := range digits {
				digits[j] = byte('0' + rng.IntN(10))
			}
			segs, err = qrSegments("https://sportello.comune.example/v/ABCD1234EFGHP#" + string(digits))
		} else {
			raw := make([]byte, 1+rng.IntN(1500))
			for j := range raw {
				raw[j] = byte(rng.IntN(256))
			}
			var s *qr.QrSegment
			s, err = qr.MakeBytes(raw)
			segs = []*qr.QrSegment{s}
		}
		if err != nil {
			t.Fatal(err)
		}
		ecl := eccs[i%len(eccs)]
		want, err := qr.EncodeSegments(segs, ecl, qr.MinVersion, qr.MaxVersion, -1, false)
		if err != nil {
			continue // too long for this level
		}
		got, n, err := encodeBestMask(segs, ecl)
		if err != nil {
			t.Fatal(err)
		}
		if n != want.Size() {
			t.Fatalf("content %d: side %d, the encoder's %d", i, n, want.Size())
		}
		for y := 0; y < n; y++ {
			for x := 0; x < n; x++ {
				if got[y].get(x) != want.Module(x, y) {
					t.Fatalf("content %d (version %d, level %v): module (%d,%d) differs from the encoder's",
						i, (n-17)/4, ecl, x, y)
				}
			}
		}
		versions[(n-17)/4] = true
		bits := 0
		for j, cell := range layoutOf(n).format1 {
			if got[cell/n].get(cell % n) {
				bits |= 1 << j
			}
		}
		masks[((bits^0x5412)>>10)&7] = true
	}
	if len(versions) < 30 || len(masks) < 8 {
		t.Errorf("covered versions %v, masks %v", versions, masks)
	}
}
