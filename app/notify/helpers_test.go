package notify_test

import (
	"context"
	"testing"

	"gorm.io/gorm"

	"github.com/comuni-italiani/sportello/app/notify"
)

var ctx = context.Background()

func protocolMail(to string) notify.Message {
	return notify.Message{
		To:        to,
		ToName:    "Mario Rossi",
		Subject:   "Pratica protocollata: n. 2026/000123 – è tutto in regola",
		Text:      "Gentile Mario Rossi,\nla sua pratica è stata protocollata con il numero 2026/000123.\n\nComune di Esempio",
		HTML:      "<p>Gentile Mario Rossi,</p><p>la sua pratica è stata protocollata con il numero <strong>2026/000123</strong>.</p>",
		Kind:      "cases.protocol",
		CitizenCF: "rssmra80a01h501u",
	}
}

func mustEnqueue(t *testing.T, db *gorm.DB, m notify.Message) int64 {
	t.Helper()
	id, err := new(notify.Outbox).Enqueue(ctx, db, m)
	if err != nil {
		t.Fatalf("enqueue: %v", err)
	}
	return id
}

func mustGet(t *testing.T, db *gorm.DB, id int64) notify.Record {
	t.Helper()
	rec, err := notify.Get(ctx, db, id)
	if err != nil {
		t.Fatalf("get %d: %v", id, err)
	}
	return rec
}
