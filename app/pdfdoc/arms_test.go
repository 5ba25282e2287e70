package pdfdoc

import (
	"strings"
	"testing"
)

func TestParsePath(t *testing.T) {
	segs, err := parsePath("M8 6h48v26c0 14-11 23-24 27C19 55 8 46 8 32z")
	if err != nil {
		t.Fatal(err)
	}
	want := []segment{
		{cmd: 'M', arg: [6]float64{8, 6}},
		{cmd: 'L', arg: [6]float64{56, 6}},
		{cmd: 'L', arg: [6]float64{56, 32}},
		{cmd: 'C', arg: [6]float64{56, 46, 45, 55, 32, 59}},
		{cmd: 'C', arg: [6]float64{19, 55, 8, 46, 8, 32}},
		{cmd: 'Z'},
	}
	if len(segs) != len(want) {
		t.Fatalf("got %d segments %v", len(segs), segs)
	}
	for i := range want {
		if segs[i] != want[i] {
			t.Errorf("segment %d: %v, want %v", i, segs[i], want[i])
		}
	}
	// Implicit lineto after a moveto, commas, negative numbers without a separator.
	segs, err = parsePath("m1,1 2,2-1-1z")
	if err != nil || len(segs) != 4 || segs[1] != (segment{cmd: 'L', arg: [6]float64{3, 3}}) || segs[2] != (segment{cmd: 'L', arg: [6]float64{2, 2}}) {
		t.Fatalf("implicit lineto: %v %v", segs, err)
	}
	for _, bad := range []string{"", "A1 1 0 0 1 2 2", "M1", "1 1"} {
		if _, err := parsePath(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func TestParseArms(t *testing.T) {
	a, err := ParseArms([]byte(`<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 64 64"><path fill="#06c" d="M8 6h48v26z"/><g fill="#fff"><path d="M1 1L2 2z"/></g><path fill="none" d="M0 0L1 1"/></svg>`))
	if err != nil {
		t.Fatal(err)
	}
	if a.w != 64 || a.h != 64 || len(a.paths) != 2 || a.paths[0].rgb != [3]int{0, 0x66, 0xcc} || a.paths[1].rgb != [3]int{255, 255, 255} {
		t.Fatalf("parsed: %+v", a)
	}
	for _, bad := range []string{`<svg viewBox="0 0 1 1"></svg>`, `<svg><path d="M0 0L1 1z"/></svg>`,
		`<svg viewBox="0 0 1 1"><path fill="url(#g)" d="M0 0L1 1z"/></svg>`, `not xml`} {
		if _, err := ParseArms([]byte(bad)); err == nil || !strings.HasPrefix(err.Error(), "pdfdoc: coat of arms") {
			t.Errorf("%s: error %v", bad, err)
		}
	}
}
