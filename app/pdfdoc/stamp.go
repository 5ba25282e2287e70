package pdfdoc

import (
	"fmt"
	"net/url"
	"strings"
	"time"
)

// Stamp is the digital stamp ("timbro digitale") printed on a certificate.
type Stamp struct {
	// URL is the verification address encoded in the QR code, typically
	// "<base>/verifica/<code>#<signed payload>". Only the part before '#' is
	// printed in clear.
	URL string
	// Code is the short verification code a citizen can type in instead of
	// scanning, e.g. "ABCD-EFGH-JKMN-P".
	Code string
	// ValidUntil, if not zero, is printed as the expiry date ("Valido fino
	// al 02/01/2027"), in the time's own location: pass it in Europe/Rome.
	ValidUntil time.Time
	// Lines are further short Italian lines printed under the code, such as
	// the certificate number and the issue date.
	Lines []string
}

// Stamp box geometry in millimetres.
const (
	stampPad = 4.0
	stampGap = 6.0
	// stampQRMax caps how far the QR code grows to fill the box height; a
	// URL that needs more than this still gets its MinQRSize.
	stampQRMax = 50.0
)

// stampRun is one line style of the stamp's text column.
type stampRun struct {
	family, style string
	size, lineH   float64
	color         [3]int
	text          string
	before        float64 // space above, mm
}

// stampLayout is a stamp block measured for the current document.
type stampLayout struct {
	m      [][]bool
	runs   []stampRun
	qrSize float64
	textH  float64
	boxH   float64
	textW  float64
}

// layoutStamp measures the stamp block without drawing it. The last layout is kept:
// StampHeight and StampBlock of one stamp encode its QR code once (the encoding is
// most of the cost of a certificate).
func (d *Doc) layoutStamp(s Stamp) (*stampLayout, error) {
	key := s.URL + "\x00" + s.Code + "\x00" + s.ValidUntil.String() + "\x00" + strings.Join(s.Lines, "\x00")
	if d.stampCache != nil && d.stampKey == key {
		return d.stampCache, nil
	}
	l, err := d.measureStamp(s)
	if err == nil {
		d.stampCache, d.stampKey = l, key
	}
	return l, err
}

func (d *Doc) measureStamp(s Stamp) (*stampLayout, error) {
	if strings.TrimSpace(s.Code) == "" {
		return nil, fmt.Errorf("pdfdoc: stamp without a verification code")
	}
	u, err := url.Parse(s.URL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("pdfdoc: stamp URL %q is not an absolute http(s) URL", s.URL)
	}
	m, err := qrMatrix(s.URL)
	if err != nil {
		return nil, err
	}
	minQR := minSizeFor(len(m))

	p := d.pdf
	boxW := float64(contentW)

	clear := s.URL
	if i := strings.IndexByte(clear, '#'); i >= 0 {
		clear = clear[:i]
	}
	base := u.Scheme + "://" + u.Host
	if i := strings.LastIndex(u.EscapedPath(), "/verifica"); i >= 0 {
		base += u.EscapedPath()[:i]
	}

	// The text column, as runs of one style each, measured before drawing so
	// that the box can be sized and placed at the bottom of the page.
	type run = stampRun
	runs := []run{
		{"Helvetica", "B", 12, 6, colRule, "Timbro digitale", 0},
		{"Helvetica", "", 8, 4, colMuted, "Codice di verifica", 1},
		{"Courier", "B", 17, 7.5, colText, s.Code, 0},
	}
	if !s.ValidUntil.IsZero() {
		runs = append(runs, run{"Helvetica", "", 9, 4.5, colText,
			"Valido fino al " + s.ValidUntil.Format("02/01/2006"), 0.5})
	}
	for i, l := range s.Lines {
		before := 0.0
		if i == 0 {
			before = 0.5
		}
		runs = append(runs, run{"Helvetica", "", 9, 4.5, colText, l, before})
	}
	runs = append(runs,
		run{"Helvetica", "", 8, 3.8, colMuted, "Indirizzo di verifica:", 2},
		run{"Courier", "", 8, 3.8, colText, clear, 0},
		run{"Helvetica", "", 8, 3.8, colMuted,
			"Inquadra il codice QR con la fotocamera del telefono oppure visita " + base +
				"/verifica e digita il codice di verifica. La pagina mostra i dati come rilasciati " +
				"e lo stato attuale del certificato (valido, revocato, scaduto).", 2},
	)
	textWidth := func(qr float64) float64 { return boxW - 2*stampPad - qr - stampGap }
	measure := func(qr float64) float64 {
		h := 0.0
		for _, r := range runs {
			p.SetFont(r.family, r.style, r.size)
			n := len(p.SplitLines([]byte(d.txt(r.text)), textWidth(qr)))
			h += r.before + float64(max(n, 1))*r.lineH
		}
		return h
	}

	// The QR code takes the height the text column needs anyway (up to
	// stampQRMax): larger modules scan more easily from paper.
	qrSize := minQR
	textH := measure(qrSize)
	if grown := min(textH, stampQRMax); grown > qrSize {
		qrSize = grown
		textH = measure(qrSize)
	}
	return &stampLayout{m: m, runs: runs, qrSize: qrSize, textH: textH,
		boxH: max(qrSize, textH) + 2*stampPad, textW: textWidth(qrSize)}, nil
}

// StampHeight is the height in mm that StampBlock(s) will take, so that a caller
// can keep the closing lines of a document on the same page as its stamp (see
// KeepTogether).
func (d *Doc) StampHeight(s Stamp) (float64, error) {
	l, err := d.layoutStamp(s)
	if err != nil {
		return 0, err
	}
	return l.boxH + 2, nil
}

// KeepTogether starts a new page unless h mm of body space are left on this one.
func (d *Doc) KeepTogether(h float64) {
	if d.pdf.GetY()+h > d.bodyBottom() {
		d.pdf.AddPage()
	}
}

// StampBlock draws the digital stamp in a bordered box at the bottom of the
// current page, starting a new page if the content above leaves no room.
// Inside the box: the QR code of s.URL on the left (at least MinQRSizeMM,
// larger when the URL needs more modules, see MinQRSize); on the right the
// title "Timbro digitale", the verification code in large Courier letters,
// the expiry date, s.Lines, the verification address and the instructions to
// verify. The cursor is left under the box.
func (d *Doc) StampBlock(s Stamp) error {
	l, err := d.layoutStamp(s)
	if err != nil {
		return err
	}
	p := d.pdf
	boxX := float64(marginSide)
	boxW := float64(contentW)
	m, runs, qrSize, textH, boxH, textW := l.m, l.runs, l.qrSize, l.textH, l.boxH, l.textW
	textX := boxX + stampPad + qrSize + stampGap
	bottom := d.bodyBottom()
	top := bottom - boxH
	if p.GetY()+2 > top {
		p.AddPage()
		if d.top > top {
			return fmt.Errorf("pdfdoc: stamp block of %.0f mm does not fit on a page", boxH)
		}
	}

	auto, margin := p.GetAutoPageBreak()
	p.SetAutoPageBreak(false, margin)
	defer p.SetAutoPageBreak(auto, margin)

	p.SetDrawColor(colRule[0], colRule[1], colRule[2])
	p.SetLineWidth(0.35)
	p.Rect(boxX, top, boxW, boxH, "D")

	qrY := top + (boxH-qrSize)/2
	d.drawQR(m, boxX+stampPad, qrY, qrSize)
	d.stampQR = qrSize
	// On screen the code is also a link to the verification page.
	p.LinkString(boxX+stampPad, qrY, qrSize, qrSize, s.URL)

	y := top + stampPad + (boxH-2*stampPad-textH)/2
	for _, r := range runs {
		y += r.before
		p.SetFont(r.family, r.style, r.size)
		d.color(r.color)
		p.SetXY(textX, y)
		p.MultiCell(textW, r.lineH, d.txt(r.text), "", "L", false)
		y = p.GetY()
	}
	p.SetXY(marginSide, top+boxH+2)
	d.setBody()
	return nil
}
