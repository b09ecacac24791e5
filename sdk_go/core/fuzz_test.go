package core

import (
	"sync"
	"testing"
)

var (
	fuzzOnce sync.Once
	fuzzSnap *Snapshot
)

// FuzzAssign: evaluation never panics, whatever the unit, attributes or key,
// and Assign and AssignAll agree.
func FuzzAssign(f *testing.F) {
	f.Add("12345", "user_id", "country", "US", "search_rank", "2.1.0")
	f.Add("", "device_id", "attr", "ann@example.com", "op_regex", "")
	f.Add("qa-alice", "user_id", "attr", "1e400", "op_gt", "v99999999999999999999")
	f.Add("\xff\xfe", "session_id", "age", "-.5e-3", "session_exp", "1.")
	f.Fuzz(func(t *testing.T, uid, unitType, attr, value, key, version string) {
		fuzzOnce.Do(func() {
			v := loadVectors(t)
			fuzzSnap = compiledSnapshots(t, v)["main"]
		})
		units := map[string]string{unitType: uid, "user_id": uid + "u"}
		attrs := map[string]string{attr: value, "app_version": version, "age": value, "country": value}
		for _, k := range []string{key, "checkout_v2", "search_rank", "op_regex", "op_semver_gt", "op_gt", "regex_6"} {
			a := fuzzSnap.Assign(k, units, attrs)
			if a.Reason == ReasonUnspecified || (a.Variant != "") != (a.Reason == ReasonAssigned || a.Reason == ReasonOverride || a.Reason == ReasonShipped) {
				t.Fatalf("inconsistent assignment %+v", a)
			}
		}
		for _, a := range fuzzSnap.AssignAll(units, attrs) {
			if one := fuzzSnap.Assign(a.ExperimentKey, units, attrs); one.Variant != a.Variant {
				t.Fatalf("AssignAll %+v, Assign %+v", a, one)
			}
		}
	})
}

// FuzzParseSnapshot: any document is refused or compiled, never a panic.
func FuzzParseSnapshot(f *testing.F) {
	f.Add(`{"revision":"1","layers":[{"id":"l"}],"experiments":[{"key":"e","layerId":"l","unitType":"u","status":"RUNNING","ranges":[{"start":0,"end":5000}],"variants":[{"key":"a","weight":5000},{"key":"b","weight":5000}],"rules":[{"attribute":"x","operator":"REGEX","values":["a.c"]}]}]}`)
	f.Add(`{"experiments":[{"variants":[{"weight":"10000"}],"rules":[{"values":[1.5,true,null,{"a":[1]}]}]}]}`)
	f.Fuzz(func(t *testing.T, doc string) {
		s, err := LoadSnapshotJSON([]byte(doc))
		if err != nil {
			return
		}
		for _, k := range s.ExperimentKeys() {
			s.Assign(k, map[string]string{"u": "1"}, map[string]string{"x": "abc"})
		}
		s.AssignAll(map[string]string{"u": "1"}, nil)
	})
}
