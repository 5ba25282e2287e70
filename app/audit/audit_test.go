package audit_test

import (
	"context"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/comuni-italiani/sportello/app/audit"
	"github.com/comuni-italiani/sportello/app/store/storetest"
)

func TestRecordListAppendOnly(t *testing.T) {
	t.Parallel()
	storetest.Each(t, audit.Migrations(), func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		for i, a := range []string{"auth.login_failed", "auth.login", "credentials.issue"} {
			err := audit.Record(ctx, db, audit.Entry{ActorKind: audit.ActorStaff, ActorID: "op1", Action: a,
				SubjectCF: "RSSMRA80A01H501U", IP: "127.0.0.1", Details: map[string]any{"n": i}})
			if err != nil {
				t.Fatal(err)
			}
		}
		evs, total, err := audit.List(ctx, db, audit.Filter{Action: "auth."})
		if err != nil || total != 2 || len(evs) != 2 || evs[0].Action != "auth.login" {
			t.Fatalf("prefix filter: %v %d %+v", err, total, evs)
		}
		_, total, _ = audit.List(ctx, db, audit.Filter{SubjectCF: "RSSMRA80A01H501U", From: time.Now().Add(-time.Hour)})
		if total != 3 {
			t.Fatalf("subject filter: %d", total)
		}
		if err := db.Exec("UPDATE audit_events SET action = 'x'").Error; err == nil {
			t.Fatal("update must be refused")
		}
		if err := db.Exec("DELETE FROM audit_events").Error; err == nil {
			t.Fatal("delete must be refused")
		}
		_, total, _ = audit.List(ctx, db, audit.Filter{})
		if total != 3 {
			t.Fatalf("history changed: %d", total)
		}
	})
}
