package core

import (
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// The vectors file is read in place (never copied): sdk_go/core -> repo root.
var vectorsPath = filepath.Join("..", "..", "proto", "testdata", "assignment_vectors.json")

type vectorInput struct {
	Units      map[string]string `json:"units"`
	Attributes map[string]string `json:"attributes"`
	Experiment string            `json:"experiment"`
}

type vectors struct {
	SpecVersion string `json:"spec_version"`
	HashCases   []struct {
		Name  string `json:"name"`
		Input string `json:"input"`
		Hash  uint32 `json:"hash"`
	} `json:"hash_cases"`
	BucketCases []struct {
		Name   string `json:"name"`
		UnitID string `json:"unit_id"`
		Salt   string `json:"salt"`
		Bucket uint32 `json:"bucket"`
	} `json:"bucket_cases"`
	AttributeCases []struct {
		Name    string          `json:"name"`
		Value   json.RawMessage `json:"value"`
		Encoded string          `json:"encoded"`
	} `json:"attribute_cases"`
	Snapshots map[string]json.RawMessage `json:"snapshots"`
	Cases     []struct {
		Name     string      `json:"name"`
		Snapshot string      `json:"snapshot"`
		Input    vectorInput `json:"input"`
		Expected struct {
			Variant *string `json:"variant"`
			Reason  string  `json:"reason"`
		} `json:"expected"`
	} `json:"cases"`
	AssignAllCases []struct {
		Name     string      `json:"name"`
		Snapshot string      `json:"snapshot"`
		Input    vectorInput `json:"input"`
		Expected []struct {
			Experiment string  `json:"experiment"`
			Variant    *string `json:"variant"`
			Reason     string  `json:"reason"`
		} `json:"expected"`
	} `json:"assign_all_cases"`
	RampPairs []struct {
		Name   string `json:"name"`
		Before string `json:"before"`
		After  string `json:"after"`
	} `json:"ramp_pairs"`
	InvalidSnapshots []struct {
		Name     string          `json:"name"`
		Field    string          `json:"field"`
		Snapshot json.RawMessage `json:"snapshot"`
	} `json:"invalid_snapshots"`
}

func loadVectors(t testing.TB) *vectors {
	t.Helper()
	data, err := os.ReadFile(vectorsPath)
	if err != nil {
		t.Fatalf("read vectors: %v", err)
	}
	var v vectors
	if err := json.Unmarshal(data, &v); err != nil {
		t.Fatalf("parse vectors: %v", err)
	}
	return &v
}

func compiledSnapshots(t testing.TB, v *vectors) map[string]*Snapshot {
	t.Helper()
	out := map[string]*Snapshot{}
	for name, doc := range v.Snapshots {
		s, err := LoadSnapshotJSON(doc)
		if err != nil {
			t.Fatalf("snapshot %s: %v", name, err)
		}
		out[name] = s
	}
	return out
}

func TestVectorsHash(t *testing.T) {
	v := loadVectors(t)
	if len(v.HashCases) == 0 || len(v.BucketCases) == 0 {
		t.Fatal("no hash or bucket cases")
	}
	for _, c := range v.HashCases {
		if got := Hash32(c.Input); got != c.Hash {
			t.Errorf("%s: Hash32(%q) = %d, want %d", c.Name, c.Input, got, c.Hash)
		}
	}
	for _, c := range v.BucketCases {
		if got := Bucket(c.UnitID, c.Salt); got != c.Bucket {
			t.Errorf("%s: Bucket(%q, %q) = %d, want %d", c.Name, c.UnitID, c.Salt, got, c.Bucket)
		}
	}
}

func TestVectorsAttributes(t *testing.T) {
	v := loadVectors(t)
	for _, c := range v.AttributeCases {
		dec := json.NewDecoder(strings.NewReader(string(c.Value)))
		dec.UseNumber()
		var value any
		if err := dec.Decode(&value); err != nil {
			t.Fatal(err)
		}
		// Python writes floats with a '.' or an exponent and ints without:
		// decode to the typed value a Go caller would pass.
		if n, ok := value.(json.Number); ok {
			if strings.ContainsAny(string(n), ".eE") {
				value, _ = n.Float64()
			} else {
				value, _ = n.Int64()
			}
		}
		got, ok := EncodeValue(value)
		if !ok || got != c.Encoded {
			t.Errorf("%s: EncodeValue(%s) = %q, %v; want %q", c.Name, c.Value, got, ok, c.Encoded)
		}
	}
}

func TestVectorsCases(t *testing.T) {
	v := loadVectors(t)
	snaps := compiledSnapshots(t, v)
	if len(v.Cases) < 1000 {
		t.Fatalf("only %d cases", len(v.Cases))
	}
	byName := map[string]Assignment{}
	for _, c := range v.Cases {
		s := snaps[c.Snapshot]
		got := s.Assign(c.Input.Experiment, c.Input.Units, c.Input.Attributes)
		want := ""
		if c.Expected.Variant != nil {
			want = *c.Expected.Variant
		}
		if got.Variant != want || got.Reason.String() != c.Expected.Reason {
			t.Errorf("%s: got (%q, %s), want (%q, %s)", c.Name, got.Variant, got.Reason, want, c.Expected.Reason)
		}
		if got.ExperimentKey != c.Input.Experiment {
			t.Errorf("%s: experiment key %q", c.Name, got.ExperimentKey)
		}
		byName[c.Name] = got
	}
	// Ramping never moves a unit that is already in.
	for _, p := range v.RampPairs {
		before, after := byName[p.Before], byName[p.After]
		if before.Reason == ReasonAssigned && (after.Reason != ReasonAssigned || after.Variant != before.Variant) {
			t.Errorf("%s: ramp moved a unit: %+v -> %+v", p.Name, before, after)
		}
	}
}

func TestVectorsAssignAll(t *testing.T) {
	v := loadVectors(t)
	snaps := compiledSnapshots(t, v)
	for _, c := range v.AssignAllCases {
		got := snaps[c.Snapshot].AssignAll(c.Input.Units, c.Input.Attributes)
		sort.Slice(got, func(i, j int) bool { return got[i].ExperimentKey < got[j].ExperimentKey })
		var gotText, wantText []string
		for _, a := range got {
			gotText = append(gotText, a.ExperimentKey+"="+a.Variant+"/"+a.Reason.String())
		}
		for _, e := range c.Expected {
			vk := ""
			if e.Variant != nil {
				vk = *e.Variant
			}
			wantText = append(wantText, e.Experiment+"="+vk+"/"+e.Reason)
		}
		if strings.Join(gotText, " ") != strings.Join(wantText, " ") {
			t.Errorf("%s:\n got  %v\n want %v", c.Name, gotText, wantText)
		}
		// AssignAll agrees with Assign for every experiment it lists.
		for _, a := range got {
			if one := snaps[c.Snapshot].Assign(a.ExperimentKey, c.Input.Units, c.Input.Attributes); one.Variant != a.Variant {
				t.Errorf("%s: AssignAll %+v but Assign %+v", c.Name, a, one)
			}
		}
	}
}

func TestVectorsInvalidSnapshots(t *testing.T) {
	v := loadVectors(t)
	if len(v.InvalidSnapshots) == 0 {
		t.Fatal("no invalid snapshots")
	}
	for _, c := range v.InvalidSnapshots {
		snap, err := ParseSnapshotJSON(c.Snapshot)
		if err != nil {
			t.Errorf("%s: parse: %v", c.Name, err)
			continue
		}
		errs := Validate(snap)
		found := false
		for _, e := range errs {
			if strings.HasPrefix(e.Field, c.Field) {
				found = true
			}
		}
		if !found {
			t.Errorf("%s: want an error on %s, got %v", c.Name, c.Field, errs)
		}
		if _, err := Compile(snap); err == nil {
			t.Errorf("%s: Compile accepted an invalid snapshot", c.Name)
		}
	}
}
