package redact

import (
	"regexp"
	"strings"
)

// anchor makes a pattern's regular expression run only where a match can start: where one
// of its stems occurs (in any case) and, when set, before holds for the byte before it. An
// unanchored search whose expression starts with a class or a case-insensitive word makes
// Go's matcher try every position of the text, which for the longer patterns cost tens of
// microseconds per string; anchored runs cost the length of one candidate each.
type anchor struct {
	stems  []string
	first  [256]bool
	before func(s string, i int) bool
}

func at(before func(s string, i int) bool, stems ...string) *anchor {
	a := &anchor{stems: stems, before: before}
	for _, st := range stems {
		a.first[st[0]] = true
	}
	return a
}

// anchored compiles re to match only at the start of the text it is given.
func anchored(re string) *regexp.Regexp { return regexp.MustCompile(`^(?:` + re + `)`) }

// matches returns the submatch indexes of re's leftmost non-overlapping matches in s.
func (a *anchor) matches(re *regexp.Regexp, s string) [][]int {
	var out [][]int
	for i := 0; i < len(s); i++ {
		if !a.first[s[i]|0x20] || (a.before != nil && !a.before(s, i)) || !a.stemAt(s, i) {
			continue
		}
		m := re.FindStringSubmatchIndex(s[i:])
		if m == nil {
			continue
		}
		for k := range m {
			if m[k] >= 0 {
				m[k] += i
			}
		}
		out = append(out, m)
		i = max(i, m[1]-1)
	}
	return out
}

func (a *anchor) stemAt(s string, i int) bool {
	for _, st := range a.stems {
		if len(s)-i >= len(st) && strings.EqualFold(s[i:i+len(st)], st) {
			return true
		}
	}
	return false
}

// wordStart holds at the start of a word, as \b before a word would.
func wordStart(s string, i int) bool { return i == 0 || !isWordByte(s[i-1]) }

// afterSpace holds at the start of the text or after white space, where a flag can start.
func afterSpace(s string, i int) bool { return i == 0 || strings.IndexByte(" \t\r\n", s[i-1]) >= 0 }

// afterScheme holds after a URL scheme's last character (postgres://).
func afterScheme(s string, i int) bool {
	return i > 0 && (isAlnum(s[i-1]) || strings.IndexByte("+.-", s[i-1]) >= 0)
}

func isWordByte(c byte) bool { return isAlnum(c) || c == '_' }
