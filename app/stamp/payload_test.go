package stamp

import (
	"bytes"
	"testing"
	"time"
)

type certData struct {
	Comune  string    `cbor:"comune"`
	Members []string  `cbor:"members"`
	Born    time.Time `cbor:"born"`
}

func TestDataHash(t *testing.T) {
	t.Parallel()
	born := time.Date(1985, time.December, 10, 8, 0, 0, 0, cet)
	base := certData{Comune: "Roma", Members: []string{"RSSMRA85T10A562S"}, Born: born}
	h := DataHash(base)
	if len(h) != 32 {
		t.Fatalf("DataHash is %d bytes, want 32", len(h))
	}

	m1 := map[string]any{"a": 1, "b": "due", "c": []int{3}}
	m2 := map[string]any{}
	for _, k := range []string{"c", "b", "a"} {
		m2[k] = m1[k]
	}

	same := []struct {
		name string
		a, b any
	}{
		{"same struct", base, certData{Comune: "Roma", Members: []string{"RSSMRA85T10A562S"}, Born: born}},
		{"time in another location", base, certData{Comune: "Roma", Members: []string{"RSSMRA85T10A562S"}, Born: born.UTC()}},
		{"maps built in another order", m1, m2},
		{"nil and empty slice", certData{Comune: "Roma"}, certData{Comune: "Roma", Members: []string{}}},
		{"integer kinds", map[string]any{"n": int8(5)}, map[string]any{"n": uint64(5)}},
	}
	for _, tt := range same {
		if !bytes.Equal(DataHash(tt.a), DataHash(tt.b)) {
			t.Errorf("%s: hashes differ", tt.name)
		}
	}
	differ := []struct {
		name string
		a, b any
	}{
		{"one member more", base, certData{Comune: "Roma", Members: []string{"RSSMRA85T10A562S", "BNCLRA88A41H501X"}, Born: born}},
		{"one second later", base, certData{Comune: "Roma", Members: []string{"RSSMRA85T10A562S"}, Born: born.Add(time.Second)}},
		{"member order", certData{Members: []string{"A", "B"}}, certData{Members: []string{"B", "A"}}},
		{"int and float", map[string]any{"n": 5}, map[string]any{"n": 5.0}},
	}
	for _, tt := range differ {
		if bytes.Equal(DataHash(tt.a), DataHash(tt.b)) {
			t.Errorf("%s: hashes are equal", tt.name)
		}
	}
}

func TestDataHashPanicsOnUnencodable(t *testing.T) {
	t.Parallel()
	defer func() {
		if recover() == nil {
			t.Error("DataHash of a func did not panic")
		}
	}()
	DataHash(map[string]any{"f": func() {}})
}
