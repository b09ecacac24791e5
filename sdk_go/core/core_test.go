package core

import (
	"math"
	"regexp"
	"strconv"
	"testing"

	pb "github.com/splitline/splitline/sdk_go/gen/splitline/v1"
)

func TestHashConcatMatchesHash32(t *testing.T) {
	inputs := []string{"", "a", "ab", "abc", "abcd", "abcde", "用户-42", "🙂", "x|y|z", "0123456789"}
	for _, a := range inputs {
		for _, b := range inputs {
			if got, want := hashConcat(a, b), Hash32(a+b); got != want {
				t.Errorf("hashConcat(%q, %q) = %d, want %d", a, b, got, want)
			}
		}
	}
	// Pinned numbers (mmh3.hash(s, 0, signed=False)).
	if got := Hash32("hello"); got != 613153351 {
		t.Errorf("Hash32(hello) = %d", got)
	}
	if got := Hash32(""); got != 0 {
		t.Errorf("Hash32('') = %d", got)
	}
}

func TestParseDecimal(t *testing.T) {
	good := map[string]float64{"16": 16, "+17": 17, ".5": 0.5, "17.": 17, "1e2": 100, "-3e0": -3, "1E-2": 0.01}
	for s, want := range good {
		if got, ok := ParseDecimal(s); !ok || got != want {
			t.Errorf("ParseDecimal(%q) = %v, %v", s, got, ok)
		}
	}
	if got, ok := ParseDecimal("1e400"); !ok || !math.IsInf(got, 1) {
		t.Errorf("1e400 = %v, %v; want +Inf", got, ok)
	}
	if got, ok := ParseDecimal("-1e400"); !ok || !math.IsInf(got, -1) {
		t.Errorf("-1e400 = %v, %v; want -Inf", got, ok)
	}
	if got, ok := ParseDecimal("1e-400"); !ok || got != 0 {
		t.Errorf("1e-400 = %v, %v; want 0", got, ok)
	}
	for _, s := range []string{"", "abc", "0x11", "inf", "NaN", " 17", "17 ", "1_7", ".", "e5", "1e", "1e+", "+", "--1", "١٢"} {
		if _, ok := ParseDecimal(s); ok {
			t.Errorf("ParseDecimal(%q) parsed", s)
		}
	}
}

func TestSemver(t *testing.T) {
	cases := []struct {
		a, b string
		want int
	}{
		{"2.3.5", "2.3.4", 1}, {"2.10", "2.9", 1}, {"v1", "1.0.0", 0}, {"02.03.05", "2.3.5", 0},
		{"1.0.0-beta", "1", 0}, {"1.", "1.0", 0}, {"99999999999999999999999", "99999999999999999999998", 1},
		{"1.99999999999999999999", "1.100000000000000000000", -1},
	}
	for _, c := range cases {
		a, okA := parseSemver(c.a)
		b, okB := parseSemver(c.b)
		if !okA || !okB || compareSemver(a, b) != c.want {
			t.Errorf("compare(%q, %q) = %d, want %d", c.a, c.b, compareSemver(a, b), c.want)
		}
	}
	for _, s := range []string{"", "v", "V2", "x2.4", "garbage", ".1"} {
		if _, ok := parseSemver(s); ok {
			t.Errorf("parseSemver(%q) parsed", s)
		}
	}
}

func TestFormatNumber(t *testing.T) {
	cases := map[float64]string{
		0: "0", math.Copysign(0, -1): "0", 16: "16", 0.5: "0.5", -0.25: "-0.25", 1e21: "1e+21", 1e-7: "1e-7",
		1.5e-7: "1.5e-7", 1e20: "100000000000000000000", 123456789.125: "123456789.125", 0.000001: "0.000001",
		1.7976931348623157e308: "1.7976931348623157e+308", 5e-324: "5e-324", math.Inf(1): "Infinity",
		math.Inf(-1): "-Infinity", math.NaN(): "NaN", 1.0 / 3: "0.3333333333333333",
	}
	for f, want := range cases {
		if got := FormatNumber(f); got != want {
			t.Errorf("FormatNumber(%v) = %q, want %q", f, got, want)
		}
	}
	if got, _ := EncodeValue(float32(0.1)); got != "0.1" {
		t.Errorf("float32(0.1) = %q", got)
	}
}

func TestTranslateRegex(t *testing.T) {
	good := map[string]string{
		"a.c":       "a" + goDot + "c",
		"^a$":       `^a\z`,
		"a{02}":     "a{2}",
		"a{1,}?":    "a{1,}?",
		"[-a]":      `[\-a]`,
		"[a-]":      `[a\-]`,
		"[^&^]":     `[^\&\^]`,
		"(?:ab)+":   "(?:ab)+",
		`\/\d[\w.]`: `\/\d[\w.]`,
		"":          "",
	}
	for in, want := range good {
		got, err := TranslateRegex(in)
		if err != nil || got != want {
			t.Errorf("TranslateRegex(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	bad := []string{
		"(?=x)", `(a)\1`, "(a+)+$", `\s`, "a**", "*a", "^*", "a{1001}", "a{3,2}", "a{,2}", "[]", "[^]", "[a", "(a",
		"a)", "a]", "a}", "[z-a]", "[a-c-e]", `[\d-z]`, "[[a]", "[a&&b]", "[a~~b]", "[a||b]", `\`, `\b`, "(?i)a",
		"((a)*)*", "a{12345}",
	}
	for _, in := range bad {
		if got, err := TranslateRegex(in); err == nil {
			t.Errorf("TranslateRegex(%q) accepted: %q", in, got)
		}
	}
}

func TestRuleMissingAttribute(t *testing.T) {
	holdsWhenMissing := map[pb.Operator]bool{
		pb.Operator_OPERATOR_NOT_IN: true, pb.Operator_OPERATOR_NEQ: true, pb.Operator_OPERATOR_NOT_EXISTS: true,
	}
	for op := pb.Operator_OPERATOR_IN; op <= pb.Operator_OPERATOR_REGEX; op++ {
		values := []string{"1"}
		if op == pb.Operator_OPERATOR_EXISTS || op == pb.Operator_OPERATOR_NOT_EXISTS {
			values = nil
		}
		r, err := CompileRule("a", op, values, "rule")
		if err != nil {
			t.Fatalf("%v: %v", op, err)
		}
		if got := r.Eval(map[string]string{}); got != holdsWhenMissing[op] {
			t.Errorf("%v on a missing attribute = %v", op, got)
		}
	}
}

func TestInSetLarge(t *testing.T) {
	values := []string{"a", "b", "c", "d", "e", "f", "g", "h", "i", "j"}
	in, _ := CompileRule("x", pb.Operator_OPERATOR_IN, values, "r")
	notIn, _ := CompileRule("x", pb.Operator_OPERATOR_NOT_IN, values, "r")
	if !in.Eval(map[string]string{"x": "j"}) || in.Eval(map[string]string{"x": "k"}) {
		t.Error("IN with a large set")
	}
	if notIn.Eval(map[string]string{"x": "j"}) || !notIn.Eval(map[string]string{"x": "k"}) {
		t.Error("NOT_IN with a large set")
	}
}

func TestAssignDoesNotAllocate(t *testing.T) {
	v := loadVectors(t)
	s := compiledSnapshots(t, v)["main"]
	units := map[string]string{"user_id": "12345"}
	attrs := map[string]string{"country": "US", "app_version": "2.1.0", "age": "30"}
	for _, key := range []string{"checkout_v2", "search_rank", "no_such", "shipped_exp", "regex_0"} {
		if n := testing.AllocsPerRun(100, func() { s.Assign(key, units, attrs) }); n != 0 {
			t.Errorf("Assign(%s) allocates %v times", key, n)
		}
	}
	buf := make([]Assignment, 0, 64)
	if n := testing.AllocsPerRun(100, func() { buf = s.AppendAll(buf[:0], units, attrs) }); n != 0 {
		t.Errorf("AppendAll allocates %v times", n)
	}
}

// Every pattern the portable subset accepts must compile in RE2.
func FuzzTranslateRegex(f *testing.F) {
	for _, seed := range []string{"a.c", "^[a-z]+@example\\.(com|org)$", "[-a]", "x*?y", "^.{2,3}$", "(?:ab)+", "a{02,0010}"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, pattern string) {
		translated, err := TranslateRegex(pattern)
		if err != nil {
			return
		}
		if _, err := regexp.Compile(translated); err != nil {
			t.Fatalf("portable pattern %q -> %q refused by RE2: %v", pattern, translated, err)
		}
	})
}

func TestSimpleDecimalMatchesParseFloat(t *testing.T) {
	for _, s := range []string{"0", "-0", "17.", ".5", "0.1", "123456789012345", "-99999.99999", "3.14159265358979",
		"1.00000000000001", "+8.5", "999999999999999"} {
		fast, ok := parseSimpleDecimal(s)
		slow, err := strconv.ParseFloat(s, 64)
		if !ok || err != nil || math.Float64bits(fast) != math.Float64bits(slow) {
			t.Errorf("%q: fast %v (%v), ParseFloat %v (%v)", s, fast, ok, slow, err)
		}
	}
}
