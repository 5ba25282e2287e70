package anagrafe_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/comuni-italiani/sportello/app/anagrafe"
	"github.com/comuni-italiani/sportello/app/store/storetest"
)

// TestImportMalformedFiles: binary data, control characters, Latin-1 text, huge
// fields, broken quoting and dates in the future are rejected with line-numbered
// errors, never a panic, and nothing is written, on both databases.
func TestImportMalformedFiles(t *testing.T) {
	t.Parallel()
	head := "F;T-F01;famiglia;;Via dei Platani 4\n"
	person := func(surname, birth string) string {
		return "P;RSSMRA60A01H501Q;" + surname + ";MARIO;M;" + birth + ";ROMA;RM;;ITALIA;coniugato;;T-F01;intestatario;1990-02-01\n"
	}
	tomorrow := time.Now().AddDate(0, 0, 2).Format("2006-01-02")
	cases := []struct {
		name, file string
		want       []string // substrings of the report, each with its line
	}{
		{"binary", "\x00\x01\x02\xff\xfe\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00", []string{"line 1: not UTF-8"}},
		{"nul", head + person("ROS\x00SI", "1960-01-01"), []string{"line 2: cognome: column 3 holds the control character U+0000"}},
		{"control", head + "F;T-F02;famiglia;;Via \x1b[31mRoma\n", []string{"line 2: indirizzo: column 5 holds the control character U+001B"}},
		{"latin1", head + person("CITT\xc0", "1960-01-01"), []string{"line 2: not UTF-8 text"}},
		{"5 MB field", head + person(strings.Repeat("R", 5<<20), "1960-01-01"), []string{"line 2: cognome: column 3 is 5242880 characters long, at most 100 allowed"}},
		{"long annotation", head + person("ROSSI", "1960-01-01") + "E;RSSMRA60A01H501Q;nascita;1960-01-01;ROMA;1960;I;;1;;;" + strings.Repeat("a", 3000) + "\n",
			[]string{"line 3: annotazioni: column 12 is 3000 characters long, at most 2000 allowed"}},
		{"future birth", head + person("ROSSI", tomorrow), []string{"line 2: data_nascita: " + tomorrow + " is in the future"}},
		{"implausible birth", head + person("ROSSI", "1066-10-14"), []string{"line 2: data_nascita: 1066-10-14 is before 1850"}},
		{"quote", head + "F;\"T-F02;famiglia;;Via A 1\n", []string{"line 2: not valid CSV"}},
		{"bare quote", head + "F;T\"F02;famiglia;;Via A 1\n", []string{"line 2: not valid CSV"}},
		{"record type", head + "\x7f;x\n", []string{"line 2: tipo_record: column 1 holds the control character U+007F"}},
	}
	storetest.Each(t, anagrafe.Migrations(), func(t *testing.T, db *gorm.DB) {
		for _, tc := range cases {
			for _, dry := range []bool{false, true} {
				rep, err := anagrafe.Import(ctx, db, strings.NewReader(tc.file), dry)
				if !errors.Is(err, anagrafe.ErrRejected) {
					t.Errorf("%s: err = %v", tc.name, err)
					continue
				}
				text := rep.String()
				for _, w := range tc.want {
					if !strings.Contains(text, w) {
						t.Errorf("%s: no %q in\n%.1000s", tc.name, w, text)
					}
				}
				if len(text) > 64<<10 {
					t.Errorf("%s: report of %d bytes", tc.name, len(text))
				}
				for _, model := range []any{&anagrafe.Person{}, &anagrafe.Household{}, &anagrafe.Event{}} {
					if n := count(t, db, model); n != 0 {
						t.Fatalf("%s: a rejected file wrote %d rows of %T", tc.name, n, model)
					}
				}
			}
		}
	})
}

// TestImportManyErrorsTruncated: a file of thousands of bad rows lists the first
// MaxRowErrors and says there are more.
func TestImportManyErrorsTruncated(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	for i := range 5000 {
		fmt.Fprintf(&b, "F;H%d;tribù;;Via A %d\n", i, i)
	}
	db := storetest.Open(t, "sqlite", anagrafe.Migrations())
	rep, err := anagrafe.Import(ctx, db, strings.NewReader(b.String()), false)
	if !errors.Is(err, anagrafe.ErrRejected) || !rep.Truncated || len(rep.Errors) != anagrafe.MaxRowErrors || rep.Rows != 5000 {
		t.Fatalf("err %v, truncated %v, %d errors, %d rows", err, rep.Truncated, len(rep.Errors), rep.Rows)
	}
}
