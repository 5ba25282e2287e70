package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/comuni-italiani/sportello/app/anagrafe"
	"github.com/comuni-italiani/sportello/app/store"
	"github.com/comuni-italiani/sportello/config"
)

func TestAnagrafeImportCommand(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	var out bytes.Buffer
	// The schema must be there first.
	if err := anagrafeCommand(ctx, cfg, []string{"import", "../../app/anagrafe/testdata/esempio.csv"}, &out); err == nil ||
		!strings.Contains(err.Error(), "sportello migrate") {
		t.Fatalf("no schema: %v", err)
	}
	db, err := store.Open(ctx, store.Options{DataDir: cfg.DataDir})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close(db)
	if err := store.Migrate(ctx, db, anagrafe.Migrations()); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if err := anagrafeCommand(ctx, cfg, []string{"import", "--dry-run", "../../app/anagrafe/testdata/esempio.csv"}, &out); err != nil {
		t.Fatal(err, out.String())
	}
	if !strings.Contains(out.String(), "dry run, nothing written") || !strings.Contains(out.String(), "4 new") {
		t.Fatalf("dry run output:\n%s", out.String())
	}
	var n int64
	db.Model(&anagrafe.Person{}).Count(&n)
	if n != 0 {
		t.Fatalf("dry run wrote %d persons", n)
	}
	out.Reset()
	if err := anagrafeCommand(ctx, cfg, []string{"import", "../../app/anagrafe/testdata/esempio.csv"}, &out); err != nil {
		t.Fatal(err, out.String())
	}
	db.Model(&anagrafe.Person{}).Where("ente_id = ?", cfg.Comune.ID).Count(&n)
	if n != 4 {
		t.Fatalf("imported %d persons of %s:\n%s", n, cfg.Comune.ID, out.String())
	}
	bad := t.TempDir() + "/bad.csv"
	anagrafeWriteFile(t, bad, "F;X1;famiglia;;Via A 1\nP;RSSMRA60A01H501X;ROSSI;MARIO;M;1960-01-01;ROMA;RM;;ITALIA;coniugato;;X1;intestatario;1990-01-01\n")
	out.Reset()
	err = anagrafeCommand(ctx, cfg, []string{"import", bad}, &out)
	if !errors.Is(err, anagrafe.ErrRejected) || !strings.Contains(out.String(), "line 2: codice_fiscale") {
		t.Fatalf("bad file: %v\n%s", err, out.String())
	}
}

func anagrafeWriteFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestAnagrafeImportBinaryFile: a binary or Latin-1 file is rejected with numbered
// lines and an error (exit status 1), not a panic.
func TestAnagrafeImportBinaryFile(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	db, err := store.Open(ctx, store.Options{DataDir: cfg.DataDir})
	if err != nil {
		t.Fatal(err)
	}
	if err := store.Migrate(ctx, db, anagrafe.Migrations()); err != nil {
		t.Fatal(err)
	}
	store.Close(db)
	var out bytes.Buffer
	bin := t.TempDir() + "/foto.csv"
	anagrafeWriteFile(t, bin, "\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x01\x00\xff\xd8")
	err = anagrafeCommand(ctx, cfg, []string{"import", bin}, &out)
	if !errors.Is(err, anagrafe.ErrRejected) || !strings.Contains(out.String(), "line 1: not UTF-8 text") {
		t.Fatalf("binary file: %v\n%s", err, out.String())
	}
}
