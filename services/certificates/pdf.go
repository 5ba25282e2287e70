package certificates

import (
	"context"
	"strings"

	"github.com/comuni-italiani/sportello/app/pdfdoc"
)

// letterhead is the comune's letterhead with the issuing office (the office names of
// ctx's ente, the certificate's own: the guard keeps other enti's records out).
func (m *Module) letterhead(ctx context.Context, cert *Certificate, civil bool) pdfdoc.Letterhead {
	c := m.comune(cert)
	set := m.settingsFor(ctx)
	office := set.OfficeAnagrafe
	if civil {
		office = set.OfficeStatoCivile
	}
	return pdfdoc.Letterhead{Comune: c.Name, Province: c.Province, Office: office, Address: c.Address,
		Phone: c.Phone, Email: c.Email, PEC: c.PEC, Website: c.Website}
}

// renderPDF lays out certificate c, always in Italian, in the layout its record names.
// The output depends only on the record, so the file downloaded later is byte for byte
// the one issued.
func (m *Module) renderPDF(ctx context.Context, c *Certificate, d *Data) ([]byte, error) {
	T := m.tr("it")
	t, _ := TypeByID(d.Type)
	b := m.body(T, c, d)
	url, err := m.verificationURL(c)
	if err != nil {
		return nil, err
	}
	// Every page carries the certificate's number and where to check it, so no page
	// can be passed off without its stamp.
	mark := T("certificati.pdf.page_mark", "Code", c.ID, "URL", m.base(c)+"/verifica")
	doc := pdfdoc.New(m.letterhead(ctx, c, t.CivilStatus), b.Title+" "+c.ID, pdfdoc.WithCreationDate(c.IssuedAt),
		pdfdoc.WithPageMark(mark), pdfdoc.WithLayout(pdfdoc.Layout(c.PDFLayout)))
	doc.Title(strings.ToUpper(b.Title))
	doc.Paragraph(b.Intro)
	doc.Fields(b.Holder)
	for _, s := range b.Sections {
		if s.Heading != "" {
			doc.Heading(s.Heading)
		}
		if s.Text != "" {
			doc.Paragraph(s.Text)
		}
		if len(s.Fields) > 0 {
			doc.Fields(s.Fields)
		}
	}
	doc.Paragraph(b.Use)
	doc.Paragraph(b.Bollo)
	doc.Paragraph(b.Validity)
	doc.Paragraph(b.Notice)
	st := pdfdoc.Stamp{URL: url, Code: c.ID, Lines: []string{
		T("certificati.pdf.issued", "Date", c.IssuedAt.In(rome).Format("02/01/2006 15:04")),
	}}
	if c.ExpiresAt != nil {
		st.ValidUntil = c.LastValidDay()
	} else {
		st.Lines = append(st.Lines, T("certificati.pdf.unlimited"))
	}
	// The place, date and officer close the text on the same page as the stamp that
	// replaces the signature.
	stampH, err := doc.StampHeight(st)
	if err != nil {
		return nil, err
	}
	doc.KeepTogether(closingHeight + stampH)
	doc.Spacer(2)
	doc.ParagraphLeft(b.Place + "\n" + b.Officer)
	doc.Note(b.Signed)
	if err := doc.StampBlock(st); err != nil {
		return nil, err
	}
	return doc.Bytes()
}

// closingHeight is the room the place, officer and signature note take above the
// stamp (mm).
const closingHeight = 24.0
