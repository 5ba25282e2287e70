package certificates

import (
	"context"
	"errors"
	"fmt"
	"image"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/makiuchi-d/gozxing"
	multiqr "github.com/makiuchi-d/gozxing/multi/qrcode"
	"github.com/makiuchi-d/gozxing/qrcode"
)

// ErrNoQRCode is returned by QRFromPDF when no page of the PDF holds a readable QR
// code.
var ErrNoQRCode = errors.New("certificates: no readable QR code in the PDF")

// QRFromPDF reads the verification URL out of a certificate's PDF the way a phone
// does: it rasterizes the pages with pdftoppm (Debian/Ubuntu package poppler-utils)
// and decodes the QR code with gozxing, starting from the last page (where the
// stamp is), at 150 dpi: a module of the printed code is then about 2.4 pixels,
// which is enough with the detection fallbacks of decodeQR. It is used by
// `sportello certificati verify` and by the tests.
func QRFromPDF(ctx context.Context, pdf []byte) (string, error) {
	dir, err := os.MkdirTemp("", "sportello-qr-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(dir)
	in := filepath.Join(dir, "in.pdf")
	if err := os.WriteFile(in, pdf, 0o600); err != nil {
		return "", err
	}
	prefix := filepath.Join(dir, "page")
	out, err := exec.CommandContext(ctx, "pdftoppm", "-r", "150", "-gray", "-png", in, prefix).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("certificates: pdftoppm (poppler-utils) failed: %v: %s", err, strings.TrimSpace(string(out)))
	}
	pages, err := filepath.Glob(prefix + "-*.png")
	if err != nil || len(pages) == 0 {
		return "", ErrNoQRCode
	}
	slices.Sort(pages)
	slices.Reverse(pages)
	for _, p := range pages {
		if text, err := decodeQRFile(p); err == nil {
			return text, nil
		}
	}
	return "", ErrNoQRCode
}

func decodeQRFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		return "", err
	}
	return decodeQR(img)
}

// decodeQR finds and decodes the QR code in a page image. gozxing's single-code
// detector sometimes samples a dense code wrongly from one orientation (it then
// misreads the version information), so the multi-code detector and the page turned
// by quarter turns are tried too, as a phone tries frame after frame.
func decodeQR(img image.Image) (string, error) {
	hints := map[gozxing.DecodeHintType]any{gozxing.DecodeHintType_TRY_HARDER: true}
	var last error
	for turn := 0; turn < 4; turn++ {
		bmp, err := gozxing.NewBinaryBitmap(gozxing.NewHybridBinarizer(gozxing.NewLuminanceSourceFromImage(img)))
		if err != nil {
			return "", err
		}
		if res, err := qrcode.NewQRCodeReader().Decode(bmp, hints); err == nil {
			return res.GetText(), nil
		} else {
			last = err
		}
		if turn == 0 {
			if rs, err := multiqr.NewQRCodeMultiReader().DecodeMultiple(bmp, hints); err == nil && len(rs) > 0 {
				return rs[0].GetText(), nil
			}
		}
		img = quarterTurn(img)
	}
	return "", last
}

// quarterTurn returns img turned 90 degrees clockwise, in grey.
func quarterTurn(img image.Image) image.Image {
	b := img.Bounds()
	out := image.NewGray(image.Rect(0, 0, b.Dy(), b.Dx()))
	for y := 0; y < b.Dy(); y++ {
		for x := 0; x < b.Dx(); x++ {
			out.Set(b.Dy()-1-y, x, img.At(b.Min.X+x, b.Min.Y+y))
		}
	}
	return out
}

var verifyLine = regexp.MustCompile(`https?://\S+/verifica/[0-9A-Za-z-]+`)

// URLFromPDFText returns the verification address printed in clear on a
// certificate (pdftotext), without the signed fragment: enough to check the
// certificate online when the QR code cannot be read.
func URLFromPDFText(ctx context.Context, pdf []byte) (string, error) {
	cmd := exec.CommandContext(ctx, "pdftotext", "-layout", "-", "-")
	cmd.Stdin = strings.NewReader(string(pdf))
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("certificates: pdftotext (poppler-utils) failed: %w", err)
	}
	u := verifyLine.FindString(string(out))
	if u == "" {
		return "", errors.New("certificates: no verification address in the PDF text")
	}
	return u, nil
}
