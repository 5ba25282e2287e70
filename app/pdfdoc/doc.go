// Package pdfdoc lays out the comune's printable documents: civil-registry
// certificates with their digital stamp, the credential letter printed at the
// URP desk, and any other letter the portal issues.
//
// Contract:
//
//   - Every document is A4 portrait, measured in millimetres, with 20 mm side
//     margins. Each page carries the comune's letterhead (name, province,
//     optional office) above a rule, and a footer with the comune's contacts and
//     "Pagina N di M".
//   - Callers pass ordinary UTF-8 strings. Text is set in the PDF core fonts
//     (Helvetica, Courier) through fpdf's cp1252 translator, so Italian letters
//     (à è é ì ò ù), "€" and "’" print as such. Characters that cp1252 cannot
//     hold are folded to their base letter (ş → s, ł → l) or, failing that,
//     printed as "?"; nothing is silently dropped.
//   - QR codes are drawn as vector rectangles (level Q, a white quiet zone of
//     exactly 4 modules, at least 35 mm wide): a document never embeds a raster
//     image.
//   - A Doc is built by one goroutine. Layout problems accumulate in fpdf's
//     error, which Bytes and Write return; QR and StampBlock also return their
//     own input errors at once, without spoiling the document.
//   - With WithCreationDate the output is byte-for-byte reproducible: the same
//     calls give the same file.
package pdfdoc

import (
	"bytes"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode"

	"codeberg.org/go-pdf/fpdf"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/unicode/norm"
)

// Page geometry in millimetres.
const (
	pageW        = 210.0
	pageH        = 297.0
	marginSide   = 20.0
	marginTop    = 14.0
	marginBottom = 26.0 // body text stops here; the footer lives below
	contentW     = pageW - 2*marginSide
	footerTop    = pageH - 22.0
)

// Creator is written in the PDF metadata of every document.
const Creator = "Sportello del Cittadino"

// Colours, as RGB components: sober dark grey text, a dark blue rule.
var (
	colText  = [3]int{26, 26, 26}
	colMuted = [3]int{85, 85, 85}
	colRule  = [3]int{0, 51, 102}
	colLight = [3]int{190, 190, 190}
)

// Letterhead identifies the comune issuing a document. It is printed at the
// top of every page (Comune, Province, Office) and in the footer (the
// contacts). Empty fields are left out.
type Letterhead struct {
	// Comune is the issuing body as it should appear, e.g. "Comune di Valdoria".
	Comune string
	// Province is the line under the name, e.g. "Provincia di Montealto".
	Province string
	// Office is the issuing office, e.g. "Ufficio Anagrafe"; optional, it may
	// change from one document to the next.
	Office string
	// Address is the postal address of the town hall or office.
	Address string
	// Phone is the switchboard or office number.
	Phone string
	// Email is the ordinary e-mail address.
	Email string
	// PEC is the certified e-mail (posta elettronica certificata) address.
	PEC string
	// Website is the comune's web site, e.g. "www.comune.valdoria.it".
	Website string
}

// Option adjusts a document created by New.
type Option func(*Doc)

// WithCreationDate fixes the creation and modification dates written in the
// PDF metadata, instead of the time of output. Together with the catalog
// sorting that New always enables, it makes the output reproducible, which is
// what tests and golden files need.
func WithCreationDate(t time.Time) Option {
	return func(d *Doc) {
		d.pdf.SetCreationDate(t)
		d.pdf.SetModificationDate(t)
	}
}

// Layout is a version of how a document's drawing is written into its content
// streams. Two layouts look the same on paper; their bytes differ. A document
// that is rebuilt later and must come out byte for byte as first issued (a
// certificate: the SHA-256 of its file is taken at issue) is rebuilt in the
// layout it was made with, which its record keeps.
type Layout int

const (
	// LayoutV1 is the layout of documents made until 3 December 2026: a QR code's
	// dark runs in absolute page coordinates, three decimals each.
	LayoutV1 Layout = 1
	// LayoutV2 draws a QR code in module units under one transformation matrix,
	// a third of the bytes of LayoutV1 for the same picture.
	LayoutV2 Layout = 2
	// LayoutCurrent is the layout of new documents.
	LayoutCurrent = LayoutV2
)

// WithLayout makes the document in layout l instead of LayoutCurrent (to rebuild
// a document made earlier). An unknown layout is an error of Bytes.
func WithLayout(l Layout) Option {
	return func(d *Doc) {
		if l != LayoutV1 && l != LayoutV2 {
			d.pdf.SetErrorf("pdfdoc: unknown layout %d", l)
		}
		d.layout = l
	}
}

// Doc is a document being laid out. Create it with New, add blocks in reading
// order, then call Bytes or Write once. A Doc is not safe for concurrent use.
type Doc struct {
	pdf     *fpdf.Fpdf
	lh      Letterhead
	out     []byte  // the finished file, once Bytes or Write has run
	ended   bool    // Output has run
	top     float64 // where body content starts, under the letterhead
	stampQR float64 // side of the last stamp block's QR code, for tests
	mark    string  // printed under the letterhead of every page (WithPageMark)
	layout  Layout  // how drawing is written (WithLayout)
	arms    *Arms   // coat of arms at the left of the letterhead (WithArms)

	stampKey   string       // the stamp stampCache was measured for
	stampCache *stampLayout // last stamp layout (see layoutStamp)
}

// WithPageMark prints s in small type under the letterhead of every page, for
// example the certificate's number and where to verify it, so that any single page
// can be traced to its document.
func WithPageMark(s string) Option {
	return func(d *Doc) { d.mark = s }
}

// New starts an A4 portrait document with the letterhead lh on every page and
// opens its first page. title goes into the PDF metadata (it is not printed;
// use Title for that).
func New(lh Letterhead, title string, opts ...Option) *Doc {
	pdf := fpdf.New("P", "mm", "A4", "")
	// Pages are compressed by Bytes, with pooled writers, as fpdf would (compress.go).
	pdf.SetCompression(false)
	d := &Doc{pdf: pdf, lh: lh, layout: LayoutCurrent}

	pdf.SetMargins(marginSide, marginTop, marginSide)
	pdf.SetAutoPageBreak(true, marginBottom)
	// The footer's "{nb}" (the number of pages) is replaced by compressPages, as fpdf's
	// AliasNbPages would: fpdf copies every page four times to do it.
	pdf.SetTitle(title, true)
	pdf.SetAuthor(lh.Comune, true)
	pdf.SetCreator(Creator, true)
	pdf.SetLang("it-IT")
	// Resource dictionaries come from Go maps; sorting them keeps the
	// output stable from one run to the next.
	pdf.SetCatalogSort(true)
	pdf.SetDisplayMode("fullpage", "continuous")
	pdf.SetHeaderFunc(d.header)
	pdf.SetFooterFunc(d.footer)

	for _, o := range opts {
		o(d)
	}
	pdf.AddPage()
	d.setBody()
	return d
}

// Bytes finishes the document and returns the PDF file, or the first error
// met while laying it out. Calling it again returns the same file.
func (d *Doc) Bytes() ([]byte, error) {
	if !d.ended {
		d.ended = true
		if d.pdf.GetCompression() {
			var buf bytes.Buffer
			if err := d.pdf.Output(&buf); err != nil {
				return nil, err
			}
			d.out = buf.Bytes()
		} else {
			// fpdf writes the uncompressed file into a kept buffer; compressPages
			// returns a new one.
			c := getCompressor()
			defer putCompressor(c)
			if err := d.pdf.Output(&c.raw); err != nil {
				return nil, err
			}
			if d.pdf.Error() == nil {
				out, err := c.compressPages(c.raw.Bytes())
				if err != nil {
					return nil, err
				}
				d.out = out
			}
		}
	}
	if err := d.pdf.Error(); err != nil {
		return nil, err
	}
	return d.out, nil
}

// Write finishes the document and writes the PDF file to w. It returns the
// first layout error, if any, before writing anything.
func (d *Doc) Write(w io.Writer) error {
	b, err := d.Bytes()
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}

// PageCount reports how many pages the document has so far.
func (d *Doc) PageCount() int { return d.pdf.PageCount() }

// header draws the letterhead; fpdf calls it at the start of every page.
func (d *Doc) header() {
	p := d.pdf
	d.drawArms(marginSide, marginTop, ArmsSizeMM)
	p.SetY(marginTop)
	d.color(colText)
	p.SetFont("Helvetica", "B", 17)
	p.CellFormat(0, 7.5, d.txt(d.lh.Comune), "", 1, "C", false, 0, "")
	if d.lh.Province != "" {
		d.color(colMuted)
		p.SetFont("Helvetica", "", 10)
		p.CellFormat(0, 5, d.txt(d.lh.Province), "", 1, "C", false, 0, "")
	}
	if d.lh.Office != "" {
		d.color(colText)
		p.SetFont("Helvetica", "B", 10.5)
		p.CellFormat(0, 5.5, d.txt(d.lh.Office), "", 1, "C", false, 0, "")
	}
	y := p.GetY() + 2
	if d.arms != nil {
		y = max(y, marginTop+ArmsSizeMM+1)
	}
	p.SetDrawColor(colRule[0], colRule[1], colRule[2])
	p.SetLineWidth(0.6)
	p.Line(marginSide, y, pageW-marginSide, y)
	p.SetLineWidth(0.2)
	p.Line(marginSide, y+1, pageW-marginSide, y+1)
	if d.mark != "" {
		p.SetXY(marginSide, y+2)
		d.color(colMuted)
		p.SetFont("Helvetica", "", 7.5)
		p.CellFormat(contentW, 3.6, d.txt(d.mark), "", 0, "R", false, 0, "")
	}
	d.top = y + 8
	p.SetY(d.top)
	d.setBody()
}

// footer draws the contacts and the page number; fpdf calls it at the end of
// every page.
func (d *Doc) footer() {
	p := d.pdf
	auto, margin := p.GetAutoPageBreak()
	p.SetAutoPageBreak(false, margin)
	defer p.SetAutoPageBreak(auto, margin)

	p.SetDrawColor(colLight[0], colLight[1], colLight[2])
	p.SetLineWidth(0.2)
	p.Line(marginSide, footerTop, pageW-marginSide, footerTop)

	const numW = 28.0
	p.SetXY(pageW-marginSide-numW, footerTop+1.5)
	d.color(colMuted)
	p.SetFont("Helvetica", "", 7.5)
	p.CellFormat(numW, 3.6, d.txt("Pagina ")+strconv.Itoa(p.PageNo())+" di "+nbAlias, "", 0, "R", false, 0, "")

	var first, second []string
	first = appendNonEmpty(first, d.lh.Comune, d.lh.Address, d.lh.Website)
	second = appendNonEmpty(second, prefixed("Tel. ", d.lh.Phone), prefixed("Email ", d.lh.Email),
		prefixed("PEC ", d.lh.PEC))
	text := strings.Join(first, " – ")
	if len(second) > 0 {
		text += "\n" + strings.Join(second, " – ")
	}
	p.SetXY(marginSide, footerTop+1.5)
	p.MultiCell(contentW-numW, 3.6, d.txt(text), "", "L", false)
}

// setBody selects the body font and colour.
func (d *Doc) setBody() {
	d.pdf.SetFont("Helvetica", "", 10.5)
	d.color(colText)
}

func (d *Doc) color(c [3]int) { d.pdf.SetTextColor(c[0], c[1], c[2]) }

// bodyBottom is the lowest y that body content may reach on a page.
func (d *Doc) bodyBottom() float64 {
	_, m := d.pdf.GetAutoPageBreak()
	return pageH - m
}

// txt converts UTF-8 text to the cp1252 bytes the core fonts expect. Runes
// that cp1252 lacks are first folded to a close equivalent (see fold).
func (d *Doc) txt(s string) string {
	return toCP1252(fold(s))
}

// toCP1252 encodes s, whose runes are all encodable (fold has run), in cp1252, as
// fpdf's own "cp1252" translator does; it replaces that translator, which parsed its
// code page file with fmt.Sscanf for every document (a fifth of the time of New).
func toCP1252(s string) string {
	ascii := true
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			ascii = false
			break
		}
	}
	if ascii {
		return s
	}
	b := make([]byte, 0, len(s))
	for _, r := range s {
		if r < 0x80 {
			b = append(b, byte(r))
			continue
		}
		c, ok := charmap.Windows1252.EncodeRune(r)
		if !ok {
			c = '.' // what fpdf's translator prints; fold leaves no such rune
		}
		b = append(b, c)
	}
	return string(b)
}

// fold replaces the runes cp1252 cannot encode: letters lose their diacritics
// (ş → s), a few dashes and spaces become their plain forms, anything else
// becomes "?".
func fold(s string) string {
	ok := true
	for _, r := range s {
		if !encodable(r) {
			ok = false
			break
		}
	}
	if ok {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if encodable(r) {
			b.WriteRune(r)
			continue
		}
		if rep, found := foldSpecial[r]; found {
			b.WriteString(rep)
			continue
		}
		base := ""
		for _, c := range norm.NFD.String(string(r)) {
			if unicode.Is(unicode.Mn, c) {
				continue
			}
			if !encodable(c) {
				base = ""
				break
			}
			base += string(c)
		}
		if base == "" {
			base = "?"
		}
		b.WriteString(base)
	}
	return b.String()
}

var foldSpecial = map[rune]string{
	'\u2010': "-", '\u2011': "-", '\u2012': "-", '\u2212': "-", '\u2043': "-",
	'\u2009': " ", '\u200A': " ", '\u202F': " ", '\u2007': " ", '\u2002': " ", '\u2003': " ",
	'\u200B': "", '\u200C': "", '\u200D': "", '\uFEFF': "",
	'ł': "l", 'Ł': "L", 'đ': "d", 'Đ': "D", 'ı': "i", 'ħ': "h", 'Ħ': "H",
	'\u201A': ",", '\u2032': "'", '\u2033': "\"",
}

func encodable(r rune) bool {
	if r < 0x80 {
		return true
	}
	_, ok := charmap.Windows1252.EncodeRune(r)
	return ok
}

func appendNonEmpty(list []string, items ...string) []string {
	for _, s := range items {
		if strings.TrimSpace(s) != "" {
			list = append(list, s)
		}
	}
	return list
}

func prefixed(prefix, s string) string {
	if strings.TrimSpace(s) == "" {
		return ""
	}
	return prefix + s
}
