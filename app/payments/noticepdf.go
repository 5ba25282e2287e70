package payments

import (
	"fmt"
	"strconv"
	"time"

	"github.com/comuni-italiani/sportello/app/pdfdoc"
)

// QRContent is the text of the QR code on a pagoPA notice that payment apps read:
// PAGOPA|002|<notice number>|<creditor fiscal code>|<amount in cents>.
func QRContent(p *Position) string {
	return "PAGOPA|002|" + p.NoticeNumber + "|" + p.CreditorCF + "|" + strconv.FormatInt(p.AmountCents, 10)
}

// noticeQRSize is the printed side of the notice's QR code, quiet zone included
// (pdfdoc's minimum is 35 mm).
const noticeQRSize = 40.0

// NoticePDF lays out the pagoPA payment notice (avviso di pagamento) of p, with the
// sections of pagoPA's graphic guidelines for notices ("Linee guida per l'avviso di
// pagamento pagoPA"): the creditor and the addressee, what and how much to pay and by
// when, where to pay (online, in a banking or payment app, at banks, post offices and
// tobacconists), and the payment slip for banks and other channels with the QR code,
// the notice code (grouped in fours) and the creditor's fiscal code. The Poste
// slip (with its Data Matrix) is left out: positions here go to a treasury IBAN,
// not to a postal account.
func NoticePDF(lh pdfdoc.Letterhead, companyName string, p *Position) ([]byte, error) {
	rome, err := time.LoadLocation("Europe/Rome")
	if err != nil {
		return nil, err
	}
	due := p.DueDate.In(rome).Format("02/01/2006")
	d := pdfdoc.New(lh, "Avviso di pagamento pagoPA", pdfdoc.WithCreationDate(p.CreatedAt))
	d.Title("Avviso di pagamento")
	d.Paragraph(p.Causale)
	d.Heading("Ente creditore e destinatario dell'avviso")
	d.Fields([]pdfdoc.Field{
		{Label: "Ente creditore", Value: companyName},
		{Label: "Codice fiscale ente creditore", Value: p.CreditorCF},
		{Label: "Destinatario dell'avviso", Value: p.PayerName},
		{Label: "Codice fiscale destinatario", Value: p.PayerCF},
	})
	d.Heading("Quanto e quando pagare?")
	d.Fields([]pdfdoc.Field{
		{Label: "Importo", Value: FormatEuro(p.AmountCents) + " euro"},
		{Label: "Entro il", Value: due},
	})
	d.Paragraph("L'importo è aggiornato automaticamente dal sistema pagoPA: potrebbe subire variazioni per interessi, sanzioni o riduzioni. Dopo la scadenza l'avviso non è più pagabile.")
	d.Heading("Dove pagare?")
	d.Paragraph("Online: sul portale dei servizi del comune, nell'area personale (Pagamenti), con pagoPA; " +
		"oppure nell'app IO, nell'app della tua banca o di un altro prestatore di servizi di pagamento aderente, " +
		"inquadrando il codice QR o inserendo il codice avviso e il codice fiscale dell'ente creditore.\n" +
		"Sul territorio: in banca, negli uffici postali, presso i punti vendita (tabaccherie, ricevitorie) " +
		"e agli sportelli automatici (ATM) abilitati a pagoPA.")
	d.Heading("Banche e altri canali")
	if err := d.QRBlock(QRContent(p), noticeQRSize); err != nil {
		return nil, fmt.Errorf("payments: notice QR code: %w", err)
	}
	d.Fields([]pdfdoc.Field{
		{Label: "Destinatario", Value: p.PayerName},
		{Label: "Ente creditore", Value: companyName},
		{Label: "Oggetto del pagamento", Value: p.Causale},
		{Label: "Codice avviso", Value: FormatNotice(p.NoticeNumber)},
		{Label: "Cod. fiscale ente creditore", Value: p.CreditorCF},
		{Label: "Importo", Value: FormatEuro(p.AmountCents) + " euro"},
		{Label: "Scadenza", Value: due},
	})
	d.Note("Il codice QR qui sopra e il codice avviso ti servono per pagare presso banche e altri canali. " +
		"Conserva la ricevuta di pagamento.")
	return d.Bytes()
}
