package pdfdoc

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"

	qr "github.com/piglig/go-qr"
)

// QR code geometry. The symbol is encoded at error-correction level Q (25 %
// recovery), which survives a crease or a stamp of ink over the printed page.
const (
	// MinQRSizeMM is the smallest printed QR code, quiet zone included.
	MinQRSizeMM = 35.0
	// MinModuleMM is the smallest module (one black or white square) that
	// phone cameras and cheap printers handle reliably.
	MinModuleMM = 0.35
	// QuietZoneModules is the white margin around the symbol, in modules, as
	// the QR code standard (ISO/IEC 18004) requires.
	QuietZoneModules = 4
)

// qrSegments splits content into QR segments. A text whose tail after the last '#'
// is all digits (the stamp's numeric transport, see stamp.EncodeNumeric) gets that
// tail in numeric mode, 3.3 bits a digit instead of 8: the rest is in byte mode.
// Anything else is one byte-mode segment (or the library's choice for plain text).
func qrSegments(content string) ([]*qr.QrSegment, error) {
	if i := strings.LastIndexByte(content, '#'); i >= 0 && i+1 < len(content) && allDigits(content[i+1:]) {
		head, err := qr.MakeBytes([]byte(content[:i+1]))
		if err != nil {
			return nil, err
		}
		tail, err := qr.MakeNumeric(content[i+1:])
		if err != nil {
			return nil, err
		}
		return []*qr.QrSegment{head, tail}, nil
	}
	return qr.MakeSegments(content)
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// qrMatrix encodes content at level Q and returns its modules, true for dark,
// with the quiet zone of exactly QuietZoneModules on every side included.
// The encoder is github.com/piglig/go-qr (a port of Nayuki's generator): it picks
// the smallest version that fits; the mask with the lowest ISO/IEC 18004 penalty
// score is chosen here, the same one, faster (qrmask.go).
func qrMatrix(content string) ([][]bool, error) {
	if content == "" {
		return nil, fmt.Errorf("pdfdoc: empty QR code content")
	}
	segs, err := qrSegments(content)
	if err != nil {
		return nil, fmt.Errorf("pdfdoc: QR code: %w", err)
	}
	grid, side, err := encodeBestMask(segs, qr.Quartile)
	if err != nil {
		return nil, fmt.Errorf("pdfdoc: QR code: %w", err)
	}
	n := side + 2*QuietZoneModules
	m := make([][]bool, n)
	cells := make([]bool, n*n)
	for i := range m {
		m[i] = cells[i*n : (i+1)*n]
	}
	for y := 0; y < side; y++ {
		row := m[y+QuietZoneModules]
		for x := 0; x < side; x++ {
			row[x+QuietZoneModules] = grid[y].get(x)
		}
	}
	return m, nil
}

// MinQRSize returns the smallest size in millimetres (quiet zone included) at
// which QR prints content: at least MinQRSizeMM, and large enough for every
// module to measure MinModuleMM. Long contents need more modules and so a
// larger code.
func MinQRSize(content string) (float64, error) {
	m, err := qrMatrix(content)
	if err != nil {
		return 0, err
	}
	return minSizeFor(len(m)), nil
}

func minSizeFor(modules int) float64 {
	return max(MinQRSizeMM, float64(modules)*MinModuleMM)
}

// QR draws content as a QR code (level Q) with its top-left corner at (x, y)
// and a side of sizeMM millimetres, the 4-module white quiet zone included.
// Every dark module is a filled vector rectangle (one per horizontal run of
// dark modules, all in one path); no raster image is embedded.
//
// It refuses a size under MinQRSizeMM, and a size at which the modules would
// be smaller than MinModuleMM (see MinQRSize).
func (d *Doc) QR(content string, x, y, sizeMM float64) error {
	if sizeMM < MinQRSizeMM {
		return fmt.Errorf("pdfdoc: QR code of %.1f mm is below the minimum of %.0f mm", sizeMM, MinQRSizeMM)
	}
	m, err := qrMatrix(content)
	if err != nil {
		return err
	}
	if need := minSizeFor(len(m)); sizeMM < need {
		return fmt.Errorf("pdfdoc: QR code of %.1f mm is too small for %d modules: at least %.1f mm needed",
			sizeMM, len(m), need)
	}
	d.drawQR(m, x, y, sizeMM)
	return nil
}

// drawQR paints the white square and then the dark runs as a single path
// filled once, so that a rasteriser leaves no hairline seams between
// neighbouring rectangles.
func (d *Doc) drawQR(m [][]bool, x, y, size float64) {
	p := d.pdf
	p.SetFillColor(255, 255, 255)
	p.Rect(x, y, size, size, "F")
	p.SetFillColor(0, 0, 0)
	if d.layout == LayoutV1 {
		d.drawQRv1(m, x, y, size)
		return
	}
	// Layout 2: one transformation matrix maps a module to a unit square (x to the
	// right, y down from the symbol's top-left corner), and each run is written in
	// whole modules, "column row width 1 re": about 12 bytes a run where absolute
	// coordinates took 33, which is most of a certificate's page and of the time its
	// compression takes.
	k := p.GetConversionRatio()
	_, ph := p.GetPageSize()
	s := size / float64(len(m)) * k
	b := make([]byte, 0, 16*1024)
	b = append(b, "q "...)
	b = pdfNumPrec(b, s, 5)
	b = append(b, " 0 0 "...)
	b = pdfNumPrec(b, -s, 5)
	b = append(b, ' ')
	b = pdfNum(b, x*k)
	b = append(b, ' ')
	b = pdfNum(b, (ph-y)*k)
	b = append(b, " cm\n"...)
	for r, row := range m {
		darkRuns(row, func(start, width int) {
			b = strconv.AppendInt(b, int64(start), 10)
			b = append(b, ' ')
			b = strconv.AppendInt(b, int64(r), 10)
			b = append(b, ' ')
			b = strconv.AppendInt(b, int64(width), 10)
			b = append(b, " 1 re\n"...)
		})
	}
	b = append(b, "f Q"...)
	p.RawWriteBuf(bytes.NewReader(b))
}

// drawQRv1 writes the dark runs of layout 1 (documents made before December 2026):
// each run in absolute page coordinates, in points with three decimals.
func (d *Doc) drawQRv1(m [][]bool, x, y, size float64) {
	p := d.pdf
	mod := size / float64(len(m))
	k := p.GetConversionRatio()
	_, ph := p.GetPageSize()
	// The numbers repeat (a column's x, a row's y, a run's width): format each once.
	n := len(m)
	xs := make([][]byte, n)
	ws := make([][]byte, n+1)
	for i := 0; i < n; i++ {
		xs[i] = pdfNum(nil, (x+float64(i)*mod)*k)
	}
	h := pdfNum(nil, -mod*k)
	b := make([]byte, 0, 32*1024)
	for r, row := range m {
		var yr []byte
		darkRuns(row, func(start, width int) {
			if yr == nil {
				yr = pdfNum(nil, (ph-(y+float64(r)*mod))*k)
			}
			if ws[width] == nil {
				ws[width] = pdfNum(nil, float64(width)*mod*k)
			}
			b = append(b, xs[start]...)
			b = append(b, ' ')
			b = append(b, yr...)
			b = append(b, ' ')
			b = append(b, ws[width]...)
			b = append(b, ' ')
			b = append(b, h...)
			b = append(b, " re\n"...)
		})
	}
	b = append(b, 'f')
	p.RawWriteBuf(bytes.NewReader(b))
}

// darkRuns calls fn for each run of dark modules in row, left to right: its first
// column and its width.
func darkRuns(row []bool, fn func(start, width int)) {
	for c := 0; c < len(row); {
		if !row[c] {
			c++
			continue
		}
		start := c
		for c < len(row) && row[c] {
			c++
		}
		fn(start, c-start)
	}
}

// pdfNum appends v with at most three decimals and no trailing zeros, as PDF
// content streams write numbers ("12.5", "-3", "0").
func pdfNum(dst []byte, v float64) []byte { return pdfNumPrec(dst, v, 3) }

// pdfNumPrec is pdfNum with at most prec decimals.
func pdfNumPrec(dst []byte, v float64, prec int) []byte {
	start := len(dst)
	dst = strconv.AppendFloat(dst, v, 'f', prec, 64)
	for len(dst) > start && dst[len(dst)-1] == '0' {
		dst = dst[:len(dst)-1]
	}
	if len(dst) > start && dst[len(dst)-1] == '.' {
		dst = dst[:len(dst)-1]
	}
	if string(dst[start:]) == "-0" {
		dst = append(dst[:start], '0')
	}
	return dst
}

// QRBlock draws a QR code of sizeMM at the left margin where the text has reached
// (on a new page if it would not fit) and moves the text below it: a code in the
// flow of a document, such as the one payment apps read on a pagoPA notice.
func (d *Doc) QRBlock(content string, sizeMM float64) error {
	d.keepRoom(sizeMM + 2)
	y := d.pdf.GetY()
	if err := d.QR(content, marginSide, y, sizeMM); err != nil {
		return err
	}
	d.pdf.SetY(y + sizeMM + 2)
	return nil
}
