package ztl_test

import (
	"bytes"
	"context"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/http"
	"net/mail"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/comuni-italiani/sportello/app/anagrafe"
	"github.com/comuni-italiani/sportello/app/enti"
	"github.com/comuni-italiani/sportello/app/notify"
	"github.com/comuni-italiani/sportello/app/payments"
	"github.com/comuni-italiani/sportello/app/web"
	"github.com/comuni-italiani/sportello/services/ztl"
)

// smtpServer is a real SMTP server on 127.0.0.1 that keeps the mails it accepts.
type smtpServer struct {
	port int
	mu   sync.Mutex
	got  []gotMail
}

// gotMail is a received mail as a mail client shows it.
type gotMail struct {
	To, Subject, Text string
}

func newSMTPServer(t *testing.T) *smtpServer {
	t.Helper()
	ms := &smtpServer{}
	s := smtp.NewServer(ms)
	s.Domain = "mx.test"
	s.ReadTimeout, s.WriteTimeout = 10*time.Second, 10*time.Second
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ms.port = l.Addr().(*net.TCPAddr).Port
	go func() { _ = s.Serve(l) }()
	t.Cleanup(func() { _ = s.Close() })
	return ms
}

// NewSession implements smtp.Backend.
func (ms *smtpServer) NewSession(*smtp.Conn) (smtp.Session, error) { return &smtpSession{ms: ms}, nil }

type smtpSession struct{ ms *smtpServer }

func (*smtpSession) Mail(string, *smtp.MailOptions) error { return nil }
func (*smtpSession) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (*smtpSession) Reset()                               {}
func (*smtpSession) Logout() error                        { return nil }

func (s *smtpSession) Data(r io.Reader) error {
	raw, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	m, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return err
	}
	g := gotMail{To: m.Header.Get("To")}
	if g.Subject, err = new(mime.WordDecoder).DecodeHeader(m.Header.Get("Subject")); err != nil {
		return err
	}
	mt, params, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
	if err != nil {
		return err
	}
	if strings.HasPrefix(mt, "multipart/") {
		mr := multipart.NewReader(m.Body, params["boundary"])
		for {
			part, err := mr.NextPart()
			if err != nil {
				break
			}
			if pt, _, _ := mime.ParseMediaType(part.Header.Get("Content-Type")); pt == "text/plain" {
				b, _ := io.ReadAll(part) // NextPart decodes quoted-printable
				g.Text = string(b)
			}
		}
	} else {
		body := io.Reader(m.Body)
		if strings.EqualFold(m.Header.Get("Content-Transfer-Encoding"), "quoted-printable") {
			body = quotedprintable.NewReader(body)
		}
		b, err := io.ReadAll(body)
		if err != nil {
			return err
		}
		g.Text = string(b)
	}
	s.ms.mu.Lock()
	defer s.ms.mu.Unlock()
	s.ms.got = append(s.ms.got, g)
	return nil
}

// with are the received mails whose subject starts with prefix.
func (ms *smtpServer) with(prefix string) []gotMail {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	var out []gotMail
	for _, g := range ms.got {
		if strings.HasPrefix(g.Subject, prefix) {
			out = append(out, g)
		}
	}
	return out
}

// deliver sends the portal's outbox to its SMTP server (e.smtp), as the mail worker of
// a running portal does.
func (e *env) deliver(t *testing.T) {
	t.Helper()
	sender, err := notify.NewSMTPSender(notify.SMTPConfig{Host: "127.0.0.1", Port: e.smtp.port, TLS: notify.TLSNone,
		From: "Comune di Valdoria <noreply@comune.valdoria.example>", Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	w := notify.NewWorker(e.DB, sender, notify.WorkerOptions{Batch: 1000, Now: e.clk.now})
	if _, err := w.RunOnce(bg); err != nil {
		t.Fatal(err)
	}
}

// TestFeeReminder: with fee_reminder_days 5, the holder of a permit granted "da
// pagare" gets one reminder 5 days before the fee's due date (not before), with the
// amount, the last day, what happens if unpaid and the link to pay, in Italian and
// in English, through the real SMTP exchange. Twenty runs of the job at once queue it
// once, and a later run (a restarted portal reads the same record) sends nothing
// more. The holder of a permit already paid, or revoked, gets no reminder. The
// permit page states the last day to pay, and the permit has not lapsed late in the
// evening of that day.
func TestFeeReminder(t *testing.T) {
	t.Parallel()
	eachWithSettings(t, "pagopa_fees: true\nfee_reminder_days: 5\n", true, func(t *testing.T, e *env) {
		ctx := enti.WithEnte(context.Background(), e.App.Enti().All(context.Background())[0])
		pay := e.App.Payments()
		mario := e.citizenWithEmail(anagrafe.Person{FiscalCode: cfMario, Name: "Mario Rossi"}, "mario.rossi@example.it")
		off := e.officer()
		grant := func(plate string) (ztl.Permit, *payments.Position) {
			t.Helper()
			id, r := apply(t, e, mario, url.Values{"category": {"merci"}, "start": {"2027-03-01"}, "days": {""}},
				url.Values{"plate1": {plate}, "country1": {""}}, url.Values{}, pdfDoc, pdfDoc)
			want(t, r, http.StatusSeeOther)
			want(t, decide(t, e, off, id), http.StatusSeeOther)
			var p ztl.Permit
			if err := e.scoped().Where("case_id = ?", id).Take(&p).Error; err != nil || p.Status != ztl.StatusUnpaid {
				t.Fatalf("permit %+v %v", p, err)
			}
			pos, err := pay.Publish(ctx, mustPos(t, pay, ctx, p.Code).ID, payments.System)
			if err != nil {
				t.Fatal(err)
			}
			return p, pos
		}
		unpaid, fee := grant("FA 101 AA")
		paid, paidFee := grant("FB 202 BB")
		revoked, _ := grant("FC 303 CC")
		if _, err := pay.Confirm(ctx, paidFee.ID, payments.Receipt{ID: "RICEVUTA-MERCI", AmountCents: paidFee.AmountCents, PSP: "Banca di prova"}); err != nil {
			t.Fatal(err)
		}
		want(t, off.PostForm("/backoffice/ztl/permessi/"+revoked.Code+"/revoca", url.Values{"reason": {"Attività cessata"}}), http.StatusSeeOther)

		// Approved on 1 March at 10:00: due on 31 March, reminded from 26 March.
		last := fee.DueDate.Add(-time.Second).In(web.Rome).Format("02/01/2006")
		if last != "31/03/2027" || !fee.DueDate.Equal(ztl.DayStart(2027, 4, 1)) {
			t.Fatalf("fee due %s, last day %s; want the end of 31 March in Rome", fee.DueDate, last)
		}
		want(t, mario.Get("/servizi/ztl/permessi/"+unpaid.Code), http.StatusOK, "150,00 euro da pagare con pagoPA entro il 31/03/2027")
		reminders := func() []notify.Record {
			t.Helper()
			var rs []notify.Record
			if err := e.All().Where("kind = ?", "ztl.fee_reminder").Find(&rs).Error; err != nil {
				t.Fatal(err)
			}
			return rs
		}
		e.clk.set(fee.DueDate.AddDate(0, 0, -5).Add(-time.Hour))
		e.job("ztl/tariffe", e.clk.now())
		if rs := reminders(); len(rs) != 0 {
			t.Fatalf("%d reminders more than 5 days before the due date", len(rs))
		}

		e.clk.set(fee.DueDate.AddDate(0, 0, -5).Add(time.Hour))
		atOnce(t, e.runs("ztl/tariffe", 20, e.clk.now())...)
		e.clk.set(fee.DueDate.AddDate(0, 0, -1))
		e.job("ztl/tariffe", e.clk.now())
		rs := reminders()
		if len(rs) != 1 || rs[0].CitizenCF != cfMario {
			t.Fatalf("reminders queued: %+v, want one for %s", rs, unpaid.Code)
		}
		for _, p := range []ztl.Permit{unpaid, paid, revoked} {
			var got ztl.Permit
			e.scoped().Where("id = ?", p.ID).Take(&got)
			if (got.FeeRemindedAt != nil) != (p.ID == unpaid.ID) {
				t.Errorf("permit %s (%s): reminded at %v", got.Code, got.Status, got.FeeRemindedAt)
			}
		}

		e.deliver(t)
		got := e.smtp.with("Permesso ZTL ")
		if len(got) != 1 {
			t.Fatalf("%d reminders received by the mail server, want 1: %+v", len(got), got)
		}
		m := got[0]
		payURL := e.BaseURL + payments.CitizenPath(fee.ID)
		if !strings.Contains(m.To, "mario.rossi@example.it") || m.Subject != "Permesso ZTL "+unpaid.Code+": paga la tariffa entro il 31/03/2027" {
			t.Errorf("reminder to %q, subject %q", m.To, m.Subject)
		}
		for _, s := range []string{"Gentile Mario Rossi", "la tariffa di 150,00 euro non risulta ancora pagata", "Hai tempo fino al 31/03/2027",
			payURL, "Se non paghi entro il 31/03/2027, il permesso decade", e.BaseURL + "/servizi/ztl/permessi/" + unpaid.Code,
			"its fee of 150,00 euro has not been paid yet", "If you do not pay by 31/03/2027, the permit lapses"} {
			if !strings.Contains(m.Text, s) {
				t.Errorf("the reminder lacks %q:\n%s", s, m.Text)
			}
		}
		// The link leads the holder to the payment.
		want(t, mario.Get(payments.CitizenPath(fee.ID)), http.StatusOK, "150,00")

		// Late in the evening of the last day the permit is still waiting to be paid.
		e.clk.set(ztl.DayStart(2027, 4, 1).Add(-time.Hour))
		e.job("ztl/tariffe", e.clk.now())
		var still ztl.Permit
		if err := e.scoped().Where("id = ?", unpaid.ID).Take(&still).Error; err != nil || still.Status != ztl.StatusUnpaid {
			t.Fatalf("at 23:00 of the last day to pay: %s %v", still.Status, err)
		}
	})
}
