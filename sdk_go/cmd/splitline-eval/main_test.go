package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The CLI reproduces every vector case (the vectors file is read in place).
func TestEvalVectors(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "..", "..", "proto", "testdata", "assignment_vectors.json"))
	if err != nil {
		t.Fatal(err)
	}
	var v struct {
		Snapshots map[string]json.RawMessage `json:"snapshots"`
		Cases     []struct {
			Name     string          `json:"name"`
			Snapshot string          `json:"snapshot"`
			Input    json.RawMessage `json:"input"`
			Expected struct {
				Variant *string `json:"variant"`
				Reason  string  `json:"reason"`
			} `json:"expected"`
		} `json:"cases"`
	}
	if err := json.Unmarshal(data, &v); err != nil {
		t.Fatal(err)
	}
	var in bytes.Buffer
	head, _ := json.Marshal(map[string]any{"snapshots": v.Snapshots})
	in.Write(head)
	in.WriteByte('\n')
	for _, c := range v.Cases {
		var input map[string]any
		_ = json.Unmarshal(c.Input, &input)
		input["id"] = c.Name
		input["snapshot"] = c.Snapshot
		line, _ := json.Marshal(input)
		in.Write(line)
		in.WriteByte('\n')
	}
	in.WriteString("not json\n")
	var out bytes.Buffer
	if err := run(&in, &out); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != len(v.Cases)+1 {
		t.Fatalf("%d output lines for %d cases", len(lines), len(v.Cases)+1)
	}
	for i, c := range v.Cases {
		var r struct {
			ID      string  `json:"id"`
			Variant *string `json:"variant"`
			Reason  string  `json:"reason"`
		}
		if err := json.Unmarshal([]byte(lines[i]), &r); err != nil {
			t.Fatal(err)
		}
		same := (r.Variant == nil) == (c.Expected.Variant == nil) && (r.Variant == nil || *r.Variant == *c.Expected.Variant)
		if r.ID != c.Name || !same || r.Reason != c.Expected.Reason {
			t.Errorf("%s: got %s", c.Name, lines[i])
		}
	}
	if !strings.Contains(lines[len(lines)-1], `"BAD_INPUT"`) {
		t.Errorf("bad line answered %s", lines[len(lines)-1])
	}
}
