package anagrafe

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/comuni-italiani/sportello/app/store"
	"github.com/comuni-italiani/sportello/app/store/storetest"
)

// TestChunkedImportFailureChangesNothing: a first import on SQLite is written in short
// transactions; when a later chunk fails, the rows of the earlier ones are deleted and
// the register is as it was. Not parallel: it sets the package's chunk hook.
func TestChunkedImportFailureChangesNothing(t *testing.T) {
	db := storetest.Open(t, store.SQLite, Migrations())
	file := generateRegister(1200) // two chunks of persons
	boom := errors.New("disk full (simulated)")
	for _, table := range []string{"households", "persons", "members", "residences", "events"} {
		chunkHook = func(tb string) error {
			if tb == table {
				return boom
			}
			return nil
		}
		_, err := Import(context.Background(), db, bytes.NewReader(file), false)
		chunkHook = nil
		if !errors.Is(err, boom) {
			t.Fatalf("failure at %s: err = %v", table, err)
		}
		for _, m := range []any{&Household{}, &Person{}, &Membership{}, &Residence{}, &Event{}} {
			var n int64
			db.Model(m).Count(&n)
			if n != 0 {
				t.Fatalf("failure at %s left %d rows of %T", table, n, m)
			}
		}
	}
	// Failing in the middle of the persons (after the first chunk).
	calls := 0
	chunkHook = func(tb string) error {
		if tb == "persons" {
			if calls++; calls == 2 {
				return boom
			}
		}
		return nil
	}
	_, err := Import(context.Background(), db, bytes.NewReader(file), false)
	chunkHook = nil
	var n int64
	db.Model(&Person{}).Count(&n)
	if !errors.Is(err, boom) || n != 0 {
		t.Fatalf("mid-persons failure: %v, %d persons left", err, n)
	}
	rep, err := Import(context.Background(), db, bytes.NewReader(file), false)
	if err != nil || rep.Persons.Created != 1200 {
		t.Fatalf("import after the failures: %v\n%s", err, rep)
	}
	db.Model(&Person{}).Count(&n)
	if n != 1200 {
		t.Fatalf("%d persons", n)
	}
}
