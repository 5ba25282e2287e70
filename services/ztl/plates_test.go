package ztl

import (
	"errors"
	"testing"
)

func TestPlateRules(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		number, country string
		want, kind      string
		err             error
	}{
		{"AB123CD", "", "AB123CD", PlateCar, nil},
		{" ab 123 cd ", "", "AB123CD", PlateCar, nil},
		{"ab-123-cd", "IT", "AB123CD", PlateCar, nil},
		{"GM·456·ZZ", "", "GM456ZZ", PlateCar, nil},
		{"AI123CD", "", "", "", ErrPlateFormat},  // I is never used
		{"AB123CO", "", "", "", ErrPlateFormat},  // nor O
		{"QB123CD", "", "", "", ErrPlateFormat},  // nor Q
		{"AB12CD", "", "", "", ErrPlateFormat},   // too short
		{"AB1234CD", "", "", "", ErrPlateFormat}, // too long
		{"AB12345", "", "AB12345", PlateMotorbike, nil},
		{"X2B 3C4", "", "X2B3C4", PlateMoped, nil},
		{"XA2345", "", "", "", ErrPlateFormat}, // vowels never appear on moped plates
		{"278YG", "", "278YG", PlateMopedOld, nil},
		{"MI 123456", "", "MI123456", PlateProvince, nil},
		{"TO A12345", "", "TOA12345", PlateProvince, nil},
		{"ROMA 60123B", "", "ROMA60123B", PlateProvince, nil},
		{"B-AB 1234", "de", "BAB1234", PlateForeign, nil},
		{"VD 123456", "CH", "VD123456", PlateForeign, nil},
		{"B AB 1234", "GERMANIA", "", "", ErrPlateCountry},
		{"ÀB123", "FR", "", "", ErrPlateFormat},
		{"  ", "", "", "", ErrPlateEmpty},
		{"AB123CD<script>", "", "", "", ErrPlateFormat},
	} {
		p, err := ParsePlate(tc.number, tc.country)
		if !errors.Is(err, tc.err) {
			t.Errorf("ParsePlate(%q, %q): error %v, want %v", tc.number, tc.country, err, tc.err)
			continue
		}
		if err == nil && (p.Number != tc.want || p.Kind != tc.kind) {
			t.Errorf("ParsePlate(%q, %q) = %+v, want %s (%s)", tc.number, tc.country, p, tc.want, tc.kind)
		}
	}
	p, _ := ParsePlate("B-AB 1234", "DE")
	if p.String() != "DE:BAB1234" {
		t.Errorf("foreign key %q", p.String())
	}
	if q, err := ParsePlateKey("DE:BAB1234"); err != nil || q != p {
		t.Errorf("ParsePlateKey: %+v %v", q, err)
	}
}
