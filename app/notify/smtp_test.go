package notify_test

import (
	"testing"

	"github.com/comuni-italiani/sportello/app/notify"
)

func TestSMTPConfigValidate(t *testing.T) {
	t.Parallel()
	good := notify.SMTPConfig{Host: "smtp.example.it", From: "Comune <noreply@comune.example.it>"}
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	bad := map[string]notify.SMTPConfig{
		"no host":       {From: good.From},
		"bad from":      {Host: good.Host, From: "noreply"},
		"bad tls":       {Host: good.Host, From: good.From, TLS: "ssl"},
		"bad port":      {Host: good.Host, From: good.From, Port: 70000},
		"password only": {Host: good.Host, From: good.From, Password: "secret"},
	}
	for name, c := range bad {
		if err := c.Validate(); err == nil {
			t.Errorf("%s: accepted", name)
		}
		if _, err := notify.NewSMTPSender(c); err == nil {
			t.Errorf("%s: sender built", name)
		}
	}
}
