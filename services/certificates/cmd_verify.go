package certificates

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/comuni-italiani/sportello/app/stamp"
	"github.com/comuni-italiani/sportello/app/web"
	"github.com/comuni-italiani/sportello/config"
)

const verifyUsage = `Usage: sportello certificati verify [--keys FILE] URL|PAYLOAD|FILE.pdf

Checks the digital stamp of a certificate offline, with nothing but the comune's
public keys: the verification URL of its QR code, the signed payload alone (the text
after '#'), or the PDF itself (its QR code is read with pdftoppm, from poppler-utils).

  --keys FILE   the public keys: the JSON document published at
                <base_url>/.well-known/sportello-stamp-keys.json, saved locally.
                Default: the public half of this installation's own key ring.

An authentic stamp says who issued the certificate, for whom, when, and until when
it is valid. Whether it was revoked since can only be seen online, on the page the
QR code opens. The command fails (exit status 1) when the stamp is not authentic.
`

// verifyCommand runs `sportello certificati verify ...`.
func verifyCommand(ctx context.Context, cfg config.Config, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("sportello certificati verify", flag.ContinueOnError)
	fs.SetOutput(stdout)
	keysFile := fs.String("keys", "", "public keys (JWKS) saved from /.well-known/sportello-stamp-keys.json")
	fs.Usage = func() { fmt.Fprint(stdout, verifyUsage) }
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return errors.New("verify: give one URL, payload or PDF file")
	}
	ring, source, err := verifyKeys(cfg, *keysFile)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "keys: %s (%s)\n", source, strings.Join(ring.KIDs(), ", "))

	in := strings.TrimSpace(fs.Arg(0))
	var p stamp.Payload
	switch {
	case strings.HasPrefix(in, "http://") || strings.HasPrefix(in, "https://"):
		p, err = ring.VerifyURL(in)
	case isPDF(in):
		data, rerr := os.ReadFile(in)
		if rerr != nil {
			return fmt.Errorf("verify: %w", rerr)
		}
		u, qerr := QRFromPDF(ctx, data)
		if qerr != nil {
			if clear, terr := URLFromPDFText(ctx, data); terr == nil {
				return fmt.Errorf("verify: %w; the certificate can still be checked online at %s", qerr, clear)
			}
			return fmt.Errorf("verify: %w", qerr)
		}
		fmt.Fprintf(stdout, "QR code: %s\n", u)
		p, err = ring.VerifyURL(u)
	default:
		msg, derr := stamp.Decode(strings.TrimPrefix(in, "#"))
		if derr != nil {
			err = derr
		} else {
			p, err = ring.Verify(msg)
		}
	}
	if err != nil {
		fmt.Fprintln(stdout, "NON AUTENTICO / NOT AUTHENTIC")
		return fmt.Errorf("verify: the stamp is not authentic: %w", err)
	}
	today := time.Now().In(web.Rome)
	fmt.Fprintf(stdout, "AUTENTICO / AUTHENTIC: signed by the key %s\n", p.KeyID)
	fmt.Fprintf(stdout, "  issuer       %s\n", p.Issuer)
	fmt.Fprintf(stdout, "  certificate  %s\n", p.CertID)
	fmt.Fprintf(stdout, "  type         %s\n", p.Type)
	fmt.Fprintf(stdout, "  holder       %s\n", p.Holder)
	fmt.Fprintf(stdout, "  issued on    %s\n", p.IssuedAt.Format("02/01/2006"))
	switch {
	case !p.ExpiresAt.Before(UnlimitedStampExpiry):
		fmt.Fprintln(stdout, "  valid until  no limit (facts not subject to change)")
	case p.ExpiresAt.Before(time.Date(today.Year(), today.Month(), today.Day(), 0, 0, 0, 0, time.UTC)):
		fmt.Fprintf(stdout, "  valid until  %s: EXPIRED (SCADUTO)\n", p.ExpiresAt.Format("02/01/2006"))
	default:
		fmt.Fprintf(stdout, "  valid until  %s\n", p.ExpiresAt.Format("02/01/2006"))
	}
	fmt.Fprintf(stdout, "Revocation is only known online: %s/verifica/%s\n", strings.TrimSuffix(cfg.HTTP.BaseURL, "/"), p.CertID)
	return nil
}

// verifyKeys loads the verify-only key ring: from a saved JWKS file, or from this
// installation's key directory (public halves only).
func verifyKeys(cfg config.Config, file string) (*stamp.KeyRing, string, error) {
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, "", fmt.Errorf("verify: --keys: %w", err)
		}
		ring, err := stamp.KeyRingFromJWKS(b)
		if err != nil {
			return nil, "", fmt.Errorf("verify: --keys %s: %w", file, err)
		}
		return ring, file, nil
	}
	s, err := LoadSettings(cfg)
	if err != nil {
		return nil, "", err
	}
	local, err := stamp.LoadDir(s.KeyDir)
	if err != nil {
		return nil, "", fmt.Errorf("verify: no local keys (%v): pass --keys FILE, the public keys saved from <base_url>%s", err, stamp.JWKSPath)
	}
	pub, err := local.PublicJWKS()
	if err != nil {
		return nil, "", err
	}
	ring, err := stamp.KeyRingFromJWKS(pub)
	return ring, s.KeyDir + " (public keys)", err
}

// isPDF reports whether name is a readable file that starts like a PDF.
func isPDF(name string) bool {
	f, err := os.Open(name)
	if err != nil {
		return false
	}
	defer f.Close()
	head := make([]byte, 5)
	n, _ := io.ReadFull(f, head)
	return bytes.Equal(head[:n], []byte("%PDF-"))
}
