package certificates_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/comuni-italiani/sportello/app"
	"github.com/comuni-italiani/sportello/app/anagrafe"
	"github.com/comuni-italiani/sportello/app/apptest"
	"github.com/comuni-italiani/sportello/app/enti"
	"github.com/comuni-italiani/sportello/app/stamp"
	"github.com/comuni-italiani/sportello/app/store"
	"github.com/comuni-italiani/sportello/config"
	"github.com/comuni-italiani/sportello/services"
	"github.com/comuni-italiani/sportello/services/certificates"
)

// verifyRegister migrates the population register for the test portal until the
// platform does it itself.
type verifyRegister struct{}

func (verifyRegister) Info() services.Info {
	return services.Info{ID: "registro-test", Title: "certificati.title", Summary: "certificati.summary",
		Description: "certificati.description", Area: services.AreaAnagrafe}
}
func (verifyRegister) Mount(*services.Mount) error { return nil }
func (verifyRegister) Migrations() []*store.Migration {
	first := anagrafe.Migrations()[0].ID
	if slices.ContainsFunc(app.PlatformMigrations(), func(m *store.Migration) bool { return m.ID == first }) {
		return nil
	}
	return anagrafe.Migrations()
}

func TestVerifyCommandOffline(t *testing.T) {
	t.Parallel()
	ctx := enti.WithEnte(context.Background(), &enti.Ente{ID: "valdoria"})
	m := certificates.New()
	s := apptest.New(t, store.SQLite, apptest.Options{Modules: []services.Module{verifyRegister{}, m}})
	if err := anagrafe.SeedDemo(s.Ctx(ctx), s.DB); err != nil {
		t.Fatal(err)
	}
	cert, err := m.Issue(ctx, certificates.Request{RequesterCF: anagrafe.DemoCitizenCF, HolderCF: anagrafe.DemoCitizenCF,
		Type: certificates.TypeResidence, Bollo: certificates.BolloDue})
	if err != nil {
		t.Fatal(err)
	}
	pdf, err := m.PDF(ctx, cert)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	pdfPath := filepath.Join(dir, "certificato.pdf")
	keysPath := filepath.Join(dir, "keys.json")
	os.WriteFile(pdfPath, pdf, 0o600)
	keys := s.Client().Get(certificates.KeysPath)
	os.WriteFile(keysPath, []byte(keys.Body), 0o600)
	// The portal is not needed any more: the check is offline.
	s.Close()

	cfg := config.Default()
	cfg.DataDir = t.TempDir() // no local keys: --keys is required
	var out bytes.Buffer
	if err := runCommand(ctx, cfg, "verify", []string{pdfPath}, &out); err == nil || !strings.Contains(err.Error(), "--keys") {
		t.Fatalf("without keys: %v", err)
	}
	out.Reset()
	if err := runCommand(ctx, cfg, "verify", []string{"--keys", keysPath, pdfPath}, &out); err != nil {
		t.Fatalf("PDF: %v\n%s", err, out.String())
	}
	msg, _ := stamp.Decode(cert.Stamp)
	// Revocation is checked at the address in the QR code (the portal that issued
	// the certificate), never at this installation's default address.
	qrPage := strings.SplitN(stamp.VerificationURL(s.BaseURL, cert.ID, msg), "#", 2)[0]
	for _, w := range []string{"AUTENTICO", cert.ID, "residenza", anagrafe.DemoCitizenCF, "valid until",
		"Revocation is only known online: " + qrPage + "\n"} {
		if !strings.Contains(out.String(), w) {
			t.Errorf("output lacks %q:\n%s", w, out.String())
		}
	}
	url := stamp.VerificationURL("https://sportello.example", cert.ID, msg)
	for in, want := range map[string]string{
		url:        "Revocation is only known online: " + strings.SplitN(url, "#", 2)[0] + "\n",
		cert.Stamp: "on the page the certificate's QR code opens",
	} {
		out.Reset()
		if err := runCommand(ctx, cfg, "verify", []string{"--keys", keysPath, in}, &out); err != nil {
			t.Fatalf("%.40s: %v\n%s", in, err, out.String())
		}
		if !strings.Contains(out.String(), want) || strings.Contains(out.String(), "127.0.0.1:8080") {
			t.Errorf("%.40s: output lacks %q or names the local default address:\n%s", in, want, out.String())
		}
	}
	// Any changed byte is refused.
	bad := append([]byte(nil), msg...)
	bad[len(bad)-3] ^= 0x40
	out.Reset()
	if err := runCommand(ctx, cfg, "verify", []string{"--keys", keysPath, stamp.Encode(bad)}, &out); err == nil || !strings.Contains(out.String(), "NON AUTENTICO") {
		t.Fatalf("tampered: %v\n%s", err, out.String())
	}
}
