package anagrafe

import (
	"os"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzImport feeds arbitrary files to the importer's parser and checks (the part
// that runs before the database). It must never panic; every error has a message;
// and a file it accepts holds only text PostgreSQL can store: valid UTF-8 without
// NUL or other control characters (tab and line breaks aside).
func FuzzImport(f *testing.F) {
	good, err := os.ReadFile("testdata/esempio.csv")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add([]byte("P;RSSMRA60A01H501Q;ROSSI;MARIO;M;1960-01-01;ROMA;RM;;ITALIA;coniugato;;F1;intestatario;1990-02-01\n"))
	f.Add([]byte("\"a\"b;\n\x00\xff"))
	f.Add([]byte("F,T-F01,famiglia,,\"Via\nA\"\r\nE;X\n"))
	f.Add([]byte("\ufeffF;T;convivenza;\"\";Via\x1b\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, rows, errs := parse(strings.NewReader(string(data)))
		if rows < 0 {
			t.Fatalf("rows %d", rows)
		}
		for _, e := range errs {
			if e.Line < 0 || e.Msg == "" {
				t.Fatalf("bad error %+v", e)
			}
		}
		if len(errs) > 0 {
			return
		}
		walkStrings(reflect.ValueOf(p), func(s string) {
			if !utf8.ValidString(s) || strings.IndexFunc(s, isControl) >= 0 {
				t.Fatalf("accepted text %q", s)
			}
		})
	})
}

// walkStrings calls fn with every string reachable from v, unexported fields included.
func walkStrings(v reflect.Value, fn func(string)) {
	switch v.Kind() {
	case reflect.String:
		fn(v.String())
	case reflect.Struct:
		for i := range v.NumField() {
			walkStrings(v.Field(i), fn)
		}
	case reflect.Slice, reflect.Array:
		for i := range v.Len() {
			walkStrings(v.Index(i), fn)
		}
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			walkStrings(v.Elem(), fn)
		}
	}
}
