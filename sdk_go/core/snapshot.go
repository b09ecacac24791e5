package core

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"sort"
	"strconv"
	"strings"
	"unicode/utf16"

	"google.golang.org/protobuf/encoding/protojson"

	pb "github.com/splitline/splitline/sdk_go/gen/splitline/v1"
)

// SnapshotFileError is a snapshot document that cannot be read.
type SnapshotFileError struct{ Msg string }

func (e *SnapshotFileError) Error() string { return e.Msg }

// ParseSnapshotJSON reads a snapshot in proto3 JSON, as snapshot_file.py's
// parse_snapshot does: short enum names (status RUNNING, operator IN) are
// expanded, non-string rule values are written as JSON text, and variants
// that all lack ranges get contiguous ranges from their weights. The result is
// not validated yet (Compile does that).
func ParseSnapshotJSON(data []byte) (*pb.ConfigSnapshot, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var doc any
	if err := dec.Decode(&doc); err != nil {
		return nil, &SnapshotFileError{"cannot parse: " + err.Error()}
	}
	if dec.More() {
		return nil, &SnapshotFileError{"cannot parse: trailing data after the document"}
	}
	obj, ok := doc.(map[string]any)
	if !ok {
		return nil, &SnapshotFileError{"the top level must be a mapping"}
	}
	normalizeDocument(obj)
	text, err := json.Marshal(obj)
	if err != nil {
		return nil, &SnapshotFileError{err.Error()}
	}
	snapshot := &pb.ConfigSnapshot{}
	if err := protojson.Unmarshal(text, snapshot); err != nil {
		return nil, &SnapshotFileError{err.Error()}
	}
	return snapshot, nil
}

// LoadSnapshotJSON parses, validates and compiles a proto3 JSON snapshot.
func LoadSnapshotJSON(data []byte) (*Snapshot, error) {
	snapshot, err := ParseSnapshotJSON(data)
	if err != nil {
		return nil, err
	}
	return Compile(snapshot)
}

func prefixed(value any, prefix string) any {
	if s, ok := value.(string); ok && !strings.HasPrefix(s, prefix) {
		return prefix + strings.ToUpper(s)
	}
	return value
}

func asList(v any) []any {
	list, _ := v.([]any)
	return list
}

func normalizeDocument(doc map[string]any) {
	for _, item := range asList(doc["experiments"]) {
		exp, ok := item.(map[string]any)
		if !ok {
			continue
		}
		if status, ok := exp["status"]; ok {
			exp["status"] = prefixed(status, "EXPERIMENT_STATUS_")
		}
		for _, r := range asList(exp["rules"]) {
			rule, ok := r.(map[string]any)
			if !ok {
				continue
			}
			if op, ok := rule["operator"]; ok {
				rule["operator"] = prefixed(op, "OPERATOR_")
			}
			if values, ok := rule["values"].([]any); ok {
				for i, v := range values {
					if _, isString := v.(string); !isString {
						values[i] = pyDumps(v)
					}
				}
			}
		}
		deriveRanges(asList(exp["variants"]))
	}
}

func truthy(v any) bool {
	switch x := v.(type) {
	case nil:
		return false
	case bool:
		return x
	case string:
		return x != ""
	case []any:
		return len(x) > 0
	case map[string]any:
		return len(x) > 0
	case json.Number:
		f, err := x.Float64()
		return err != nil || f != 0
	}
	return true
}

// deriveRanges gives variants without ranges contiguous ranges from their
// weights, in variant order, when every variant lacks ranges and the weights
// are non-negative integers summing to 10000 (else validation reports them).
func deriveRanges(variants []any) {
	if len(variants) == 0 {
		return
	}
	weights := make([]int64, len(variants))
	total := int64(0)
	for i, item := range variants {
		v, ok := item.(map[string]any)
		if !ok || truthy(v["ranges"]) {
			return
		}
		w, ok := intOf(v["weight"])
		if !ok || w < 0 {
			return
		}
		weights[i] = w
		total += w
	}
	if total != int64(BucketCount) {
		return
	}
	start := int64(0)
	for i, item := range variants {
		v := item.(map[string]any)
		if weights[i] > 0 {
			v["ranges"] = []any{map[string]any{"start": start, "end": start + weights[i]}}
		} else {
			v["ranges"] = []any{}
		}
		start += weights[i]
	}
}

// intOf is Python's int() of a JSON weight (missing is 0).
func intOf(v any) (int64, bool) {
	switch x := v.(type) {
	case nil:
		return 0, true
	case bool:
		if x {
			return 1, true
		}
		return 0, true
	case json.Number:
		if i, err := strconv.ParseInt(string(x), 10, 64); err == nil {
			return i, true
		}
		f, err := x.Float64()
		if err != nil || math.IsInf(f, 0) || math.IsNaN(f) || math.Abs(f) > 1e18 {
			return 0, false
		}
		return int64(f), true
	case string:
		i, err := strconv.ParseInt(strings.TrimSpace(x), 10, 64)
		return i, err == nil
	}
	return 0, false
}

// pyDumps is Python's json.dumps for a decoded JSON value (object keys sorted).
func pyDumps(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case bool:
		if x {
			return "true"
		}
		return "false"
	case string:
		return pyQuote(x)
	case json.Number:
		s := string(x)
		if !strings.ContainsAny(s, ".eE") {
			if n, ok := new(big.Int).SetString(s, 10); ok {
				return n.String()
			}
		}
		f, _ := strconv.ParseFloat(s, 64)
		return pyFloatRepr(f)
	case []any:
		parts := make([]string, len(x))
		for i, item := range x {
			parts[i] = pyDumps(item)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = pyQuote(k) + ": " + pyDumps(x[k])
		}
		return "{" + strings.Join(parts, ", ") + "}"
	}
	return fmt.Sprint(v)
}

func pyQuote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		case '\b':
			b.WriteString(`\b`)
		case '\f':
			b.WriteString(`\f`)
		default:
			switch {
			case r < 0x20 || (r >= 0x7f && r < 0x10000):
				if r < 0x7f {
					fmt.Fprintf(&b, `\u%04x`, r)
				} else if r == 0x7f {
					b.WriteRune(r)
				} else {
					fmt.Fprintf(&b, `\u%04x`, r)
				}
			case r >= 0x10000:
				hi, lo := utf16.EncodeRune(r)
				fmt.Fprintf(&b, `\u%04x\u%04x`, hi, lo)
			default:
				b.WriteRune(r)
			}
		}
	}
	b.WriteByte('"')
	return b.String()
}

// pyFloatRepr is Python's repr of a float as json.dumps writes it.
func pyFloatRepr(f float64) string {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "Infinity"
	case math.IsInf(f, -1):
		return "-Infinity"
	case f == 0:
		if math.Signbit(f) {
			return "-0.0"
		}
		return "0.0"
	case f < 0:
		return "-" + pyFloatRepr(-f)
	}
	text := strconv.FormatFloat(f, 'e', -1, 64)
	mant, expText, _ := strings.Cut(text, "e")
	digits := strings.Replace(mant, ".", "", 1)
	exp, _ := strconv.Atoi(expText)
	k, n := len(digits), exp+1
	if -4 < n && n <= 16 {
		switch {
		case n <= 0:
			return "0." + strings.Repeat("0", -n) + digits
		case n >= k:
			return digits + strings.Repeat("0", n-k) + ".0"
		default:
			return digits[:n] + "." + digits[n:]
		}
	}
	m := digits[:1]
	if k > 1 {
		m += "." + digits[1:]
	}
	sign := "+"
	if exp < 0 {
		sign = "-"
	}
	return fmt.Sprintf("%se%s%02d", m, sign, abs(exp))
}
