package core

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"

	pb "github.com/splitline/splitline/sdk_go/gen/splitline/v1"
)

// Operator is a targeting operator; the values equal the splitline.v1.Operator proto numbers.
type Operator = pb.Operator

// RuleError is a rule that cannot be compiled; Field names the offending part.
type RuleError struct {
	Field   string
	Message string
}

func (e *RuleError) Error() string { return e.Field + ": " + e.Message }

// Attributes are targeting attributes as the contract's strings.
type Attributes = map[string]string

// Rule is one compiled targeting condition. Eval never panics.
type Rule struct {
	attribute string
	op        Operator
	values    []string            // IN / NOT_IN (small sets), EQ / NEQ (values[0])
	set       map[string]struct{} // IN / NOT_IN with many values
	number    float64             // numeric bound
	version   semver              // semver bound
	re        *regexp.Regexp
}

// inSetThreshold: IN/NOT_IN with more values use a map instead of a scan.
const inSetThreshold = 8

// CompileRule compiles one rule; field prefixes the error's field path.
func CompileRule(attribute string, op Operator, values []string, field string) (*Rule, error) {
	if attribute == "" {
		return nil, &RuleError{field + ".attribute", "must not be empty"}
	}
	name := opName(op)
	need := func(count int) error {
		if len(values) != count {
			return &RuleError{field + ".values", fmt.Sprintf("%s takes %d value(s), got %d", name, count, len(values))}
		}
		return nil
	}
	r := &Rule{attribute: attribute, op: op}
	switch op {
	case pb.Operator_OPERATOR_IN, pb.Operator_OPERATOR_NOT_IN:
		if len(values) == 0 {
			return nil, &RuleError{field + ".values", name + " needs at least one value"}
		}
		if len(values) > inSetThreshold {
			r.set = make(map[string]struct{}, len(values))
			for _, v := range values {
				r.set[v] = struct{}{}
			}
		} else {
			r.values = append([]string(nil), values...)
		}
	case pb.Operator_OPERATOR_EQ, pb.Operator_OPERATOR_NEQ:
		if err := need(1); err != nil {
			return nil, err
		}
		r.values = []string{values[0]}
	case pb.Operator_OPERATOR_GT, pb.Operator_OPERATOR_GTE, pb.Operator_OPERATOR_LT, pb.Operator_OPERATOR_LTE:
		if err := need(1); err != nil {
			return nil, err
		}
		bound, ok := ParseDecimal(values[0])
		if !ok {
			return nil, &RuleError{field + ".values[0]", fmt.Sprintf("%q is not a decimal number", values[0])}
		}
		r.number = bound
	case pb.Operator_OPERATOR_SEMVER_GT, pb.Operator_OPERATOR_SEMVER_GTE,
		pb.Operator_OPERATOR_SEMVER_LT, pb.Operator_OPERATOR_SEMVER_LTE:
		if err := need(1); err != nil {
			return nil, err
		}
		v, ok := parseSemver(values[0])
		if !ok {
			return nil, &RuleError{field + ".values[0]", fmt.Sprintf("%q is not a version (major[.minor[.patch]])", values[0])}
		}
		r.version = v
	case pb.Operator_OPERATOR_EXISTS, pb.Operator_OPERATOR_NOT_EXISTS:
		if err := need(0); err != nil {
			return nil, err
		}
	case pb.Operator_OPERATOR_REGEX:
		if err := need(1); err != nil {
			return nil, err
		}
		re, err := CompileRegex(values[0])
		if err != nil {
			return nil, &RuleError{field + ".values[0]", fmt.Sprintf("regex %q: %v", values[0], err)}
		}
		r.re = re
	default:
		return nil, &RuleError{field + ".operator", fmt.Sprintf("unknown operator %d", int32(op))}
	}
	return r, nil
}

func opName(op Operator) string {
	if name, ok := pb.Operator_name[int32(op)]; ok && len(name) > len("OPERATOR_") {
		return name[len("OPERATOR_"):]
	}
	return strconv.Itoa(int(op))
}

func (r *Rule) contains(v string) bool {
	if r.set != nil {
		_, ok := r.set[v]
		return ok
	}
	for _, x := range r.values {
		if x == v {
			return true
		}
	}
	return false
}

// Eval reports whether the rule holds for attrs. A missing attribute fails
// every operator but NOT_IN, NEQ and NOT_EXISTS.
func (r *Rule) Eval(attrs Attributes) bool {
	value, present := attrs[r.attribute]
	switch r.op {
	case pb.Operator_OPERATOR_IN:
		return present && r.contains(value)
	case pb.Operator_OPERATOR_NOT_IN:
		return !present || !r.contains(value)
	case pb.Operator_OPERATOR_EQ:
		return present && value == r.values[0]
	case pb.Operator_OPERATOR_NEQ:
		return !present || value != r.values[0]
	case pb.Operator_OPERATOR_GT, pb.Operator_OPERATOR_GTE, pb.Operator_OPERATOR_LT, pb.Operator_OPERATOR_LTE:
		if !present {
			return false
		}
		x, ok := ParseDecimal(value)
		if !ok {
			return false
		}
		switch r.op {
		case pb.Operator_OPERATOR_GT:
			return x > r.number
		case pb.Operator_OPERATOR_GTE:
			return x >= r.number
		case pb.Operator_OPERATOR_LT:
			return x < r.number
		default:
			return x <= r.number
		}
	case pb.Operator_OPERATOR_SEMVER_GT, pb.Operator_OPERATOR_SEMVER_GTE,
		pb.Operator_OPERATOR_SEMVER_LT, pb.Operator_OPERATOR_SEMVER_LTE:
		if !present {
			return false
		}
		v, ok := parseSemver(value)
		if !ok {
			return false
		}
		c := compareSemver(v, r.version)
		switch r.op {
		case pb.Operator_OPERATOR_SEMVER_GT:
			return c > 0
		case pb.Operator_OPERATOR_SEMVER_GTE:
			return c >= 0
		case pb.Operator_OPERATOR_SEMVER_LT:
			return c < 0
		default:
			return c <= 0
		}
	case pb.Operator_OPERATOR_EXISTS:
		return present
	case pb.Operator_OPERATOR_NOT_EXISTS:
		return !present
	case pb.Operator_OPERATOR_REGEX:
		return present && r.re.MatchString(value)
	}
	return false
}

// ---------------------------------------------------------------- decimals

// isDecimal reports whether s matches
// [+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)? in full.
func isDecimal(s string) bool {
	i, n := 0, len(s)
	if i < n && (s[i] == '+' || s[i] == '-') {
		i++
	}
	intDigits := 0
	for i < n && s[i] >= '0' && s[i] <= '9' {
		i++
		intDigits++
	}
	fracDigits := 0
	if i < n && s[i] == '.' {
		i++
		for i < n && s[i] >= '0' && s[i] <= '9' {
			i++
			fracDigits++
		}
	}
	if intDigits == 0 && fracDigits == 0 {
		return false
	}
	if i < n && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < n && (s[i] == '+' || s[i] == '-') {
			i++
		}
		expDigits := 0
		for i < n && s[i] >= '0' && s[i] <= '9' {
			i++
			expDigits++
		}
		if expDigits == 0 {
			return false
		}
	}
	return i == n
}

// ParseDecimal is the value as a double when it is a decimal number string
// (correctly rounded; out-of-range values become ±Inf or 0 as in Python and JS).
func ParseDecimal(s string) (float64, bool) {
	if f, ok := parseSimpleDecimal(s); ok {
		return f, true
	}
	if !isDecimal(s) {
		return 0, false
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		var numErr *strconv.NumError
		if errors.As(err, &numErr) && numErr.Err == strconv.ErrRange {
			return f, true
		}
		return 0, false
	}
	return f, true
}

var exactPow10 = [...]float64{1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15}

// parseSimpleDecimal is the fast path for the common forms [+-]?digits[.digits]
// with at most 15 digits and no exponent: the digits and the power of ten
// are exact doubles, so one IEEE division is correctly rounded, exactly as
// ParseFloat's own exact path. ok is false when s needs the general parser.
func parseSimpleDecimal(s string) (float64, bool) {
	i, n := 0, len(s)
	neg := false
	if i < n && (s[i] == '+' || s[i] == '-') {
		neg = s[i] == '-'
		i++
	}
	var mant uint64
	digits, frac := 0, -1
	for ; i < n; i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
			mant = mant*10 + uint64(c-'0')
			digits++
			if frac >= 0 {
				frac++
			}
		case c == '.' && frac < 0:
			frac = 0
		default:
			return 0, false
		}
	}
	if digits == 0 || digits > 15 {
		return 0, false
	}
	f := float64(mant)
	if frac > 0 {
		f /= exactPow10[frac]
	}
	if neg {
		f = -f
	}
	return f, true
}

// ------------------------------------------------------------------ semver

// semver holds major, minor, patch as ASCII digit strings without leading
// zeros ("" is 0), so versions of any size compare exactly.
type semver [3]string

func trimZeros(s string) string {
	i := 0
	for i < len(s) && s[i] == '0' {
		i++
	}
	return s[i:]
}

func readDigits(s string, i int) int {
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	return i
}

// parseSemver reads v?MAJOR[.MINOR[.PATCH]] from the start of s.
func parseSemver(s string) (semver, bool) {
	var v semver
	i := 0
	if i < len(s) && s[i] == 'v' {
		i++
	}
	j := readDigits(s, i)
	if j == i {
		return v, false
	}
	v[0] = trimZeros(s[i:j])
	if j < len(s) && s[j] == '.' {
		k := readDigits(s, j+1)
		if k > j+1 {
			v[1] = trimZeros(s[j+1 : k])
			if k < len(s) && s[k] == '.' {
				m := readDigits(s, k+1)
				if m > k+1 {
					v[2] = trimZeros(s[k+1 : m])
				}
			}
		}
	}
	return v, true
}

// ParseSemver is parseSemver for callers outside the package (tests, tools).
func ParseSemver(s string) (major, minor, patch string, ok bool) {
	v, ok := parseSemver(s)
	return v[0], v[1], v[2], ok
}

func compareSemver(a, b semver) int {
	for i := 0; i < 3; i++ {
		if len(a[i]) != len(b[i]) {
			if len(a[i]) < len(b[i]) {
				return -1
			}
			return 1
		}
		if a[i] != b[i] {
			if a[i] < b[i] {
				return -1
			}
			return 1
		}
	}
	return 0
}
