package core

import (
	"encoding/json"
	"math"
	"math/big"
	"strconv"
	"strings"
)

// FormatNumber writes f as ECMAScript's Number::toString does: the shortest
// round-trip digits, laid out as "16", "0.5", "1e+21", "1.5e-7".
func FormatNumber(f float64) string { return formatNumber(f, 64) }

func formatNumber(f float64, bitSize int) string {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case f == 0:
		return "0"
	case math.IsInf(f, 1):
		return "Infinity"
	case math.IsInf(f, -1):
		return "-Infinity"
	case f < 0:
		return "-" + formatNumber(-f, bitSize)
	}
	// Shortest digits d1.d2...dk and decimal exponent e: value = 0.d1...dk * 10^n, n = e+1.
	text := strconv.FormatFloat(f, 'e', -1, bitSize)
	mant, expText, _ := strings.Cut(text, "e")
	digits := strings.Replace(mant, ".", "", 1)
	exp, _ := strconv.Atoi(expText)
	k := len(digits)
	n := exp + 1
	switch {
	case k <= n && n <= 21:
		return digits + strings.Repeat("0", n-k)
	case 0 < n && n <= 21:
		return digits[:n] + "." + digits[n:]
	case -6 < n && n <= 0:
		return "0." + strings.Repeat("0", -n) + digits
	}
	sign := "+"
	if n-1 < 0 {
		sign = "-"
	}
	e := strconv.Itoa(abs(n - 1))
	if k == 1 {
		return digits + "e" + sign + e
	}
	return digits[:1] + "." + digits[1:] + "e" + sign + e
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

// EncodeValue is the contract's string for one typed attribute value: strings
// pass through, booleans become true/false, integers their decimal digits,
// floats the ECMAScript form. ok is false for values that are dropped (nil and
// other types), which then count as missing.
func EncodeValue(value any) (string, bool) {
	switch v := value.(type) {
	case string:
		return v, true
	case bool:
		if v {
			return "true", true
		}
		return "false", true
	case int:
		return strconv.FormatInt(int64(v), 10), true
	case int8:
		return strconv.FormatInt(int64(v), 10), true
	case int16:
		return strconv.FormatInt(int64(v), 10), true
	case int32:
		return strconv.FormatInt(int64(v), 10), true
	case int64:
		return strconv.FormatInt(v, 10), true
	case uint:
		return strconv.FormatUint(uint64(v), 10), true
	case uint8:
		return strconv.FormatUint(uint64(v), 10), true
	case uint16:
		return strconv.FormatUint(uint64(v), 10), true
	case uint32:
		return strconv.FormatUint(uint64(v), 10), true
	case uint64:
		return strconv.FormatUint(v, 10), true
	case float64:
		return formatNumber(v, 64), true
	case float32:
		return formatNumber(float64(v), 32), true
	case json.Number:
		// JSON integers stay integers (as in Python); anything else is a double.
		if !strings.ContainsAny(string(v), ".eE") {
			if i, ok := new(big.Int).SetString(string(v), 10); ok {
				return i.String(), true
			}
		}
		if f, err := v.Float64(); err == nil {
			return formatNumber(f, 64), true
		}
		return "", false
	}
	return "", false
}

// EncodeAttributes encodes typed attributes; unusable values are dropped.
func EncodeAttributes(attributes map[string]any) map[string]string {
	out := make(map[string]string, len(attributes))
	for k, v := range attributes {
		if s, ok := EncodeValue(v); ok {
			out[k] = s
		}
	}
	return out
}
