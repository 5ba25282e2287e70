package web_test

import (
	"testing"

	"github.com/comuni-italiani/sportello/app/web"
)

func TestSafeLocalPath(t *testing.T) {
	for _, tc := range []struct {
		in   string
		safe bool
	}{
		{"/servizi/certificati", true},
		{"/servizi/certificati?tipo=residenza&x=1#valutazione", true},
		{"/area-personale", true},
		{"/cerca?q=caf%C3%A8", true},
		{"/a/b%2Fc", true}, // an encoded slash inside the path is not at its start
		{"", false},
		{"servizi", false},
		{"//evil.example", false},
		{"///evil.example", false},
		{"/\\evil.example", false},
		{"/\\/evil.example", false},
		{"\\\\evil.example", false},
		{"/\t/evil.example", false},
		{"/\n/evil.example", false},
		{"/\r/evil.example", false},
		{"/ /evil.example", false},
		{"/\x00/evil.example", false},
		{"/\x7f/evil.example", false},
		{"/\u00a0/evil.example", false},
		{"/\u2028/evil.example", false},
		{"/%2F%2Fevil.example", false},
		{"%2F%2Fevil.example", false},
		{"/%2fevil.example", false},
		{"/%5Cevil.example", false},
		{"/%5cevil.example", false},
		{"/%09/evil.example", false},
		{"/%0a/evil.example", false},
		{"/%00", false},
		{"https://evil.example/", false},
		{"http:/evil.example", false},
		{"javascript:alert(1)", false},
		{"/\xff\xfe", false},
		{"/" + string(make([]byte, web.MaxLocalPath)), false},
	} {
		got := web.SafeLocalPath(tc.in)
		if tc.safe && got != tc.in {
			t.Errorf("SafeLocalPath(%q) = %q, want it kept", tc.in, got)
		}
		if !tc.safe && got != "" {
			t.Errorf("SafeLocalPath(%q) = %q, want refused", tc.in, got)
		}
	}
}
