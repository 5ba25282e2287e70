package e2e

import (
	"context"
	"fmt"
	"image"
	"image/png"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/makiuchi-d/gozxing"
	multiqr "github.com/makiuchi-d/gozxing/multi/qrcode"
	"github.com/makiuchi-d/gozxing/qrcode"
)

// Helpers for journeys that download files (the certificates' PDFs) and read them as
// a person would: the text with pdftotext, the page as an image with pdftoppm, the
// QR code with gozxing, as a phone's camera does. pdftotext and pdftoppm come from
// Debian's poppler-utils.

// Cookies returns the cookies the browser would send to ref (an absolute URL, or a
// path resolved against BaseURL), HttpOnly ones included, as net/http cookies.
func (b *Browser) Cookies(ref string) []*http.Cookie {
	b.t.Helper()
	u := b.resolve(ref)
	res := run(b, "read the cookies for "+u, func(ctx context.Context, tg *chromedp.Target) (network.GetCookiesResult, error) {
		return cdp.Call(ctx, tg, network.GetCookies, network.GetCookiesParams{URLs: []string{u}})
	})
	var out []*http.Cookie
	for _, c := range res.Cookies {
		out = append(out, &http.Cookie{Name: c.Name, Value: c.Value})
	}
	return out
}

// Fetched is the answer to a Fetch.
type Fetched struct {
	Status int
	Header http.Header
	Body   []byte
}

// Fetch GETs ref (an absolute URL, or a path resolved against BaseURL) outside the
// browser, with a Go HTTP client that sends the browser's cookies for it (so the
// request belongs to the browser's session) and its language. It does not follow
// redirects: a page that asks for a login answers with its redirect. It is how a
// journey downloads a file: Chromium's own downloads are not worth driving.
func (b *Browser) Fetch(ref string) Fetched {
	b.t.Helper()
	u := b.resolve(ref)
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		b.t.Fatalf("e2e: fetch %s: %v", u, err)
	}
	for _, c := range b.Cookies(u) {
		req.AddCookie(c)
	}
	req.Header.Set("Accept-Language", DefaultLanguage)
	return fetch(b.t, req)
}

// FetchAnonymous GETs an absolute URL with no cookies at all, as a stranger would.
func FetchAnonymous(t testing.TB, u string) Fetched {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		t.Fatalf("e2e: fetch %s: %v", u, err)
	}
	return fetch(t, req)
}

func fetch(t testing.TB, req *http.Request) Fetched {
	t.Helper()
	client := &http.Client{
		Timeout:       ActionTimeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("e2e: GET %s: %v", req.URL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("e2e: GET %s: reading the body: %v", req.URL, err)
	}
	return Fetched{Status: resp.StatusCode, Header: resp.Header, Body: body}
}

// popplerTimeout bounds one run of pdftotext or pdftoppm.
const popplerTimeout = 20 * time.Second

// SaveOut writes data to e2e/testdata/out/<test>-<name> (ignored by git) and returns
// the path, for files a person may want to look at after the run.
func SaveOut(t testing.TB, name string, data []byte) string {
	t.Helper()
	dir, err := outDir()
	if err != nil {
		t.Fatalf("e2e: %v", err)
	}
	path := filepath.Join(dir, fileName(t.Name()+"-"+name))
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatalf("e2e: save %s: %v", path, err)
	}
	return path
}

// PDFText returns the text of a PDF file as pdftotext extracts it (reading order,
// no layout): of page (1-based) only, or of every page when page is 0.
func PDFText(t testing.TB, pdfPath string, page int) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), popplerTimeout)
	defer cancel()
	args := []string{"-enc", "UTF-8"}
	if page > 0 {
		args = append(args, "-f", fmt.Sprint(page), "-l", fmt.Sprint(page))
	}
	out, err := exec.CommandContext(ctx, "pdftotext", append(args, pdfPath, "-")...).Output()
	if err != nil {
		t.Fatalf("e2e: pdftotext %s (apt-get install poppler-utils): %v", pdfPath, err)
	}
	return string(out)
}

// PDFPages returns the number of pages of a PDF file, from pdfinfo.
func PDFPages(t testing.TB, pdfPath string) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), popplerTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, "pdfinfo", pdfPath).Output()
	if err != nil {
		t.Fatalf("e2e: pdfinfo %s (apt-get install poppler-utils): %v", pdfPath, err)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if rest, ok := strings.CutPrefix(line, "Pages:"); ok {
			var n int
			if _, err := fmt.Sscan(strings.TrimSpace(rest), &n); err == nil {
				return n
			}
		}
	}
	t.Fatalf("e2e: pdfinfo %s: no page count in %q", pdfPath, out)
	return 0
}

// RenderPDFPage rasterizes page (1-based) of a PDF file at dpi into a PNG next to it
// (<pdf without .pdf>-p<page>.png), in colour, and returns the PNG's path.
func RenderPDFPage(t testing.TB, pdfPath string, page, dpi int) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), popplerTimeout)
	defer cancel()
	root := fmt.Sprintf("%s-p%d", strings.TrimSuffix(pdfPath, ".pdf"), page)
	n := fmt.Sprint(page)
	out, err := exec.CommandContext(ctx, "pdftoppm", "-f", n, "-l", n, "-r", fmt.Sprint(dpi), "-png", "-singlefile",
		pdfPath, root).CombinedOutput()
	if err != nil {
		t.Fatalf("e2e: pdftoppm %s (apt-get install poppler-utils): %v: %s", pdfPath, err, out)
	}
	return root + ".png"
}

// DecodeQRFile reads the QR code in a PNG image, as a phone's camera app does: a
// plain decode first, then gozxing's try-harder mode, its multi-code detector, and
// the image turned by quarter turns (gozxing's single-code detector sometimes samples
// a dense code wrongly from one orientation; a phone simply tries the next frame).
func DecodeQRFile(pngPath string) (string, error) {
	f, err := os.Open(pngPath)
	if err != nil {
		return "", err
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		return "", fmt.Errorf("%s: %w", pngPath, err)
	}
	return decodeQRImage(img)
}

func decodeQRImage(img image.Image) (string, error) {
	hard := map[gozxing.DecodeHintType]any{gozxing.DecodeHintType_TRY_HARDER: true}
	var last error
	for turn := 0; turn < 4; turn++ {
		bmp, err := gozxing.NewBinaryBitmap(gozxing.NewHybridBinarizer(gozxing.NewLuminanceSourceFromImage(img)))
		if err != nil {
			return "", err
		}
		for _, hints := range []map[gozxing.DecodeHintType]any{nil, hard} {
			res, err := qrcode.NewQRCodeReader().Decode(bmp, hints)
			if err == nil {
				return res.GetText(), nil
			}
			last = err
		}
		if rs, err := multiqr.NewQRCodeMultiReader().DecodeMultiple(bmp, hard); err == nil && len(rs) > 0 {
			return rs[0].GetText(), nil
		}
		img = turnQuarter(img)
	}
	return "", fmt.Errorf("no readable QR code: %w", last)
}

// turnQuarter returns img turned 90 degrees clockwise, in grey.
func turnQuarter(img image.Image) image.Image {
	r := img.Bounds()
	out := image.NewGray(image.Rect(0, 0, r.Dy(), r.Dx()))
	for y := 0; y < r.Dy(); y++ {
		for x := 0; x < r.Dx(); x++ {
			out.Set(r.Dy()-1-y, x, img.At(r.Min.X+x, r.Min.Y+y))
		}
	}
	return out
}
