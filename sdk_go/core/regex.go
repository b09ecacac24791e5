package core

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// MaxRegexLength and MaxRepeat bound portable patterns (as rules.py does).
const (
	MaxRegexLength = 1000
	MaxRepeat      = 1000
)

// goDot is `.` of the portable subset: any character but \n, \r, U+2028, U+2029.
const goDot = `[^\n\r\x{2028}\x{2029}]`

// RegexError is a pattern outside the portable subset.
type RegexError struct{ Msg string }

func (e *RegexError) Error() string { return e.Msg }

func regexErr(format string, args ...any) error {
	return &RegexError{Msg: fmt.Sprintf(format, args...)}
}

func isSyntaxChar(c rune) bool  { return strings.ContainsRune(`^$\.*+?()[]{}|/`, c) }
func isClassEscape(c rune) bool { return c == 'd' || c == 'D' || c == 'w' || c == 'W' }
func controlEscape(c rune) rune {
	switch c {
	case 'n':
		return '\n'
	case 'r':
		return '\r'
	case 't':
		return '\t'
	case 'f':
		return '\f'
	case 'v':
		return '\v'
	}
	return -1
}

// TranslateRegex checks pattern against the portable subset (exactly as
// rules.py's translate_regex does) and returns its RE2 spelling.
//
// The subset: literals; `.` (any character but \n, \r, U+2028, U+2029); `^`
// and `$` (start and end of the value); \d \D \w \W (ASCII); \n \r \t \f \v;
// a backslash before one of ^$\.*+?()[]{}|/; classes [...] and [^...] of
// characters, escapes and ranges (`-` only first or last, no nested `[`, no
// &&, ~~, ||); groups (...) and (?:...); alternation; quantifiers * + ? {n}
// {n,} {n,m} (at most 1000), optionally lazy. A quantifier may not apply to a
// group that already contains one.
func TranslateRegex(pattern string) (string, error) {
	p := []rune(pattern)
	n := len(p)
	if n > MaxRegexLength {
		return "", regexErr("pattern longer than %d characters", MaxRegexLength)
	}
	var out strings.Builder
	var groups []bool // per open group: whether it holds a quantifier
	last := "start"   // atom, group, quant, anchor, start
	lastGroupHasQuant := false
	i := 0
	for i < n {
		ch := p[i]
		switch {
		case ch == '\\':
			if i+1 >= n {
				return "", regexErr("pattern ends with a lone backslash")
			}
			nxt := p[i+1]
			if isClassEscape(nxt) || isSyntaxChar(nxt) || controlEscape(nxt) >= 0 {
				out.WriteRune('\\')
				out.WriteRune(nxt)
			} else {
				return "", regexErr("escape \\%c at %d is not portable", nxt, i)
			}
			i += 2
			last = "atom"
		case ch == '.':
			out.WriteString(goDot)
			i++
			last = "atom"
		case ch == '^':
			out.WriteString("^")
			i++
			last = "anchor"
		case ch == '$':
			out.WriteString(`\z`)
			i++
			last = "anchor"
		case ch == '|':
			out.WriteString("|")
			i++
			last = "start"
		case ch == '(':
			if i+2 < n && p[i+1] == '?' && p[i+2] == ':' {
				out.WriteString("(?:")
				i += 3
			} else if i+1 < n && p[i+1] == '?' {
				return "", regexErr("group syntax at %d is not portable (only ( and (?: are)", i)
			} else {
				out.WriteString("(")
				i++
			}
			groups = append(groups, false)
			last = "start"
		case ch == ')':
			if len(groups) == 0 {
				return "", regexErr("unbalanced ) at %d", i)
			}
			hasQuant := groups[len(groups)-1]
			groups = groups[:len(groups)-1]
			if hasQuant && len(groups) > 0 {
				groups[len(groups)-1] = true
			}
			out.WriteString(")")
			i++
			last = "group"
			lastGroupHasQuant = hasQuant
		case ch == '*' || ch == '+' || ch == '?' || ch == '{':
			var token string
			width := 1
			if ch == '{' {
				low, high, w, ok := parseRepeat(p, i)
				if !ok {
					return "", regexErr("{ at %d is not a quantifier {n}, {n,} or {n,m}", i)
				}
				if low > MaxRepeat || high > MaxRepeat {
					return "", regexErr("repeat count above %d at %d", MaxRepeat, i)
				}
				if high >= 0 && high < low {
					return "", regexErr("repeat range {%d,%d} at %d is reversed", low, high, i)
				}
				// RE2 reads {02} as a literal, so write the counts without leading zeros.
				switch high {
				case -2:
					token = "{" + strconv.Itoa(low) + "}"
				case -1:
					token = "{" + strconv.Itoa(low) + ",}"
				default:
					token = "{" + strconv.Itoa(low) + "," + strconv.Itoa(high) + "}"
				}
				width = w
			} else {
				token = string(ch)
			}
			if last != "atom" && last != "group" {
				return "", regexErr("quantifier %s at %d has nothing to repeat", token, i)
			}
			if last == "group" && lastGroupHasQuant {
				return "", regexErr("quantifier %s at %d repeats a group that already repeats", token, i)
			}
			i += width
			if i < n && p[i] == '?' {
				token += "?"
				i++
			}
			out.WriteString(token)
			if len(groups) > 0 {
				groups[len(groups)-1] = true
			}
			last = "quant"
		case ch == '[':
			text, next, err := translateClass(p, i)
			if err != nil {
				return "", err
			}
			out.WriteString(text)
			i = next
			last = "atom"
		case ch == ']' || ch == '}':
			return "", regexErr("unescaped %c at %d", ch, i)
		default:
			out.WriteRune(ch)
			i++
			last = "atom"
		}
	}
	if len(groups) > 0 {
		return "", regexErr("unbalanced ( in pattern")
	}
	return out.String(), nil
}

// parseRepeat reads \{([0-9]{1,4})(,([0-9]{0,4}))?\} at i. high is -2 for
// {n}, -1 for {n,}; width is the number of runes read.
func parseRepeat(p []rune, i int) (low, high, width int, ok bool) {
	j := i + 1
	digits := func() (int, int) {
		v, c := 0, 0
		for j < len(p) && p[j] >= '0' && p[j] <= '9' {
			v = v*10 + int(p[j]-'0')
			c++
			j++
			if c > 4 {
				return v, c
			}
		}
		return v, c
	}
	low, c := digits()
	if c < 1 || c > 4 {
		return 0, 0, 0, false
	}
	high = -2
	if j < len(p) && p[j] == ',' {
		j++
		var c2 int
		high, c2 = digits()
		if c2 > 4 {
			return 0, 0, 0, false
		}
		if c2 == 0 {
			high = -1
		}
	}
	if j >= len(p) || p[j] != '}' {
		return 0, 0, 0, false
	}
	return low, high, j + 1 - i, true
}

func translateClass(p []rune, start int) (string, int, error) {
	i := start + 1
	n := len(p)
	var out strings.Builder
	out.WriteByte('[')
	if i < n && p[i] == '^' {
		out.WriteByte('^')
		i++
	}
	first := i
	items := 0
	havePrev := false
	var prev rune
	for {
		if i >= n {
			return "", 0, regexErr("unterminated character class at %d", start)
		}
		ch := p[i]
		if ch == ']' {
			break
		}
		if ch == '[' {
			return "", 0, regexErr("unescaped [ inside a class at %d", i)
		}
		if (ch == '&' || ch == '~' || ch == '|') && i+1 < n && p[i+1] == ch {
			return "", 0, regexErr("%c%c inside a class at %d is not portable", ch, ch, i)
		}
		if ch == '-' {
			atEdge := i == first || (i+1 < n && p[i+1] == ']')
			if atEdge {
				out.WriteString(`\-`)
				prev, havePrev = '-', true
				i++
				items++
				continue
			}
			if !havePrev {
				return "", 0, regexErr("range at %d does not start with a single character", i)
			}
			low := prev
			text, high, single, next, err := classChar(p, i+1)
			if err != nil {
				return "", 0, err
			}
			i = next
			if !single {
				return "", 0, regexErr("range at %d does not end with a single character", i)
			}
			if high < low {
				return "", 0, regexErr("range %c-%c is reversed", low, high)
			}
			out.WriteString("-" + text)
			havePrev = false
			items++
			continue
		}
		text, c, single, next, err := classChar(p, i)
		if err != nil {
			return "", 0, err
		}
		out.WriteString(text)
		prev, havePrev = c, single
		i = next
		items++
	}
	if items == 0 {
		return "", 0, regexErr("empty character class at %d", start)
	}
	out.WriteByte(']')
	return out.String(), i + 1, nil
}

// classChar reads one class member at i: its RE2 text, the single character
// (single is false for \d and friends) and the next index.
func classChar(p []rune, i int) (string, rune, bool, int, error) {
	if i >= len(p) {
		return "", 0, false, 0, regexErr("unterminated character class")
	}
	ch := p[i]
	if ch == '\\' {
		if i+1 >= len(p) {
			return "", 0, false, 0, regexErr("pattern ends with a lone backslash")
		}
		nxt := p[i+1]
		if isClassEscape(nxt) {
			return `\` + string(nxt), 0, false, i + 2, nil
		}
		if c := controlEscape(nxt); c >= 0 {
			return `\` + string(nxt), c, true, i + 2, nil
		}
		if isSyntaxChar(nxt) || nxt == '-' {
			return `\` + string(nxt), nxt, true, i + 2, nil
		}
		return "", 0, false, 0, regexErr("escape \\%c at %d is not portable", nxt, i)
	}
	if ch == ']' || ch == '-' || ch == '[' {
		return "", 0, false, 0, regexErr("unexpected %c in a class at %d", ch, i)
	}
	if ch == '&' || ch == '~' || ch == '|' || ch == '^' {
		return `\` + string(ch), ch, true, i + 1, nil
	}
	return string(ch), ch, true, i + 1, nil
}

// CompileRegex validates a portable pattern and compiles it for Go.
func CompileRegex(pattern string) (*regexp.Regexp, error) {
	translated, err := TranslateRegex(pattern)
	if err != nil {
		return nil, err
	}
	re, err := regexp.Compile(translated)
	if err != nil {
		return nil, regexErr("RE2 refuses the pattern: %v", err)
	}
	return re, nil
}
