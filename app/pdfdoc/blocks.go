package pdfdoc

// Line heights in millimetres for the body styles.
const (
	lineBody  = 5.2
	lineField = 5.0
	lineNote  = 3.8
)

// Field is one row of a label/value table, such as {"Codice fiscale",
// "RSSMRA80A01H501U"}.
type Field struct {
	// Label names the datum; it is printed in the left column.
	Label string
	// Value is the datum itself; long values wrap inside the right column.
	Value string
}

// Title prints the document's title, bold and centred, such as
// "Certificato di residenza".
func (d *Doc) Title(s string) {
	p := d.pdf
	d.keepRoom(20)
	d.color(colText)
	p.SetFont("Helvetica", "B", 14)
	p.SetX(marginSide)
	p.MultiCell(0, 7, d.txt(s), "", "C", false)
	p.Ln(4)
	d.setBody()
}

// Heading prints a section heading. If less than about two lines of body text
// would fit under it, it moves to the next page so as not to stand alone.
func (d *Doc) Heading(s string) {
	p := d.pdf
	d.keepRoom(18)
	p.Ln(1.5)
	d.color(colRule)
	p.SetFont("Helvetica", "B", 11.5)
	p.SetX(marginSide)
	p.MultiCell(0, 6, d.txt(s), "", "L", false)
	p.Ln(1.5)
	d.setBody()
}

// Paragraph prints body text, justified, wrapped to the text width. A "\n"
// in s starts a new line.
func (d *Doc) Paragraph(s string) { d.paragraph(s, "J") }

// ParagraphLeft prints body text aligned left (ragged right), for text that
// justifies badly, such as addresses or long links.
func (d *Doc) ParagraphLeft(s string) { d.paragraph(s, "L") }

func (d *Doc) paragraph(s, align string) {
	p := d.pdf
	d.setBody()
	p.SetX(marginSide)
	p.MultiCell(0, lineBody, d.txt(s), "", align, false)
	p.Ln(2.5)
}

// Fields prints a two-column table: labels on the left, values (which may
// wrap) on the right, a hairline between rows. A row is never split across
// two pages.
func (d *Doc) Fields(fields []Field) {
	p := d.pdf
	const labelW = 58.0
	valueW := contentW - labelW
	bottom := d.bodyBottom()

	for _, f := range fields {
		p.SetFont("Helvetica", "", 9.5)
		labelLines := p.SplitLines([]byte(d.txt(f.Label)), labelW)
		p.SetFont("Helvetica", "B", 10.5)
		valueLines := p.SplitLines([]byte(d.txt(f.Value)), valueW)
		n := max(len(labelLines), len(valueLines), 1)
		rowH := float64(n)*lineField + 2

		if p.GetY()+rowH > bottom && p.GetY() > d.bodyTop()+1 {
			p.AddPage()
		}
		y, page := p.GetY(), p.PageNo()

		d.color(colMuted)
		p.SetFont("Helvetica", "", 9.5)
		p.SetXY(marginSide, y+1)
		p.MultiCell(labelW, lineField, d.txt(f.Label), "", "L", false)

		d.color(colText)
		p.SetFont("Helvetica", "B", 10.5)
		p.SetXY(marginSide+labelW, y+1)
		p.MultiCell(valueW, lineField, d.txt(f.Value), "", "L", false)

		end := max(y+rowH, p.GetY()+1)
		if p.PageNo() != page { // a value longer than a page broke across pages
			end = p.GetY() + 1
		}
		p.SetDrawColor(colLight[0], colLight[1], colLight[2])
		p.SetLineWidth(0.15)
		p.Line(marginSide, end, pageW-marginSide, end)
		p.SetXY(marginSide, end)
	}
	p.Ln(4)
	d.setBody()
}

// Spacer adds mm millimetres of vertical space. Space that runs past the
// bottom of the page is not carried to the next one.
func (d *Doc) Spacer(mm float64) {
	p := d.pdf
	y := min(p.GetY()+mm, d.bodyBottom())
	p.SetXY(marginSide, y)
}

// Note prints small print: legal references, disclaimers, footnotes.
func (d *Doc) Note(s string) {
	p := d.pdf
	d.color(colMuted)
	p.SetFont("Helvetica", "", 8)
	p.SetX(marginSide)
	p.MultiCell(0, lineNote, d.txt(s), "", "L", false)
	p.Ln(1.5)
	d.setBody()
}

// keepRoom starts a new page unless at least h millimetres are left.
func (d *Doc) keepRoom(h float64) {
	p := d.pdf
	if p.GetY()+h > d.bodyBottom() && p.GetY() > d.bodyTop()+1 {
		p.AddPage()
	}
}

// bodyTop is where body content starts on the current page, just under the
// letterhead.
func (d *Doc) bodyTop() float64 { return d.top }
