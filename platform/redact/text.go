package redact

import (
	"regexp"
	"strings"
)

// text masks credential-shaped substrings of s until no pattern changes it
// any more, which is what makes redaction idempotent.
func (r *Redactor) text(s string) string {
	if isVarRef(s) {
		return s
	}
	var t subject
	for range maxRounds {
		next := s
		for i := range r.patterns {
			if t.s != next {
				t = subject{s: next} // a new text: its pairs are made again when asked
			}
			next = r.patterns[i].replace(&t, r.mask)
		}
		if next == s {
			break
		}
		s = next
	}
	return s
}

// sequence is what the strings of one list have said so far. A secret can be cut into
// elements that each look harmless alone: a private key pasted line by line, or a flag and
// its value as separate arguments.
type sequence struct {
	inKey     bool // after a private key header whose footer has not come yet
	afterFlag bool // the previous element was a flag naming a secret
}

// other notes an element that is not a string; it ends a flag's value but not a key block.
func (q *sequence) other() { q.afterFlag = false }

// element redacts the string element s of a list, in the context of the ones before it.
func (r *Redactor) element(q *sequence, s string) string {
	afterFlag := q.afterFlag
	q.afterFlag = strings.HasPrefix(s, "-") && r.secretFlag.MatchString(s)
	switch {
	case q.inKey:
		if loc := lastIndex(r.keyFooter, s); loc >= 0 {
			q.inKey = false
			return r.maskPrefix(s, loc)
		}
		if strings.TrimSpace(s) == "" {
			return s
		}
		return r.mask
	case afterFlag && !strings.HasPrefix(s, "-") && s != "" && !isVarRef(s):
		return r.mask
	}
	if strings.Contains(s, "PRIVATE KEY") && lastIndex(r.keyHeader, s) > lastIndex(r.keyFooter, s) {
		q.inKey = true
	}
	return r.text(s)
}

// maskPrefix masks the key material before the footer at loc and redacts the rest.
func (r *Redactor) maskPrefix(s string, loc int) string {
	if strings.TrimSpace(s[:loc]) == "" {
		return r.text(s)
	}
	return r.mask + r.text(s[loc:])
}

// lastIndex is where the last match of re in s starts, or -1.
func lastIndex(re *regexp.Regexp, s string) int {
	if !strings.Contains(s, "PRIVATE KEY") {
		return -1
	}
	all := re.FindAllStringIndex(s, -1)
	if all == nil {
		return -1
	}
	return all[len(all)-1][0]
}

// isVarRef reports whether s is exactly a reference to a variable, such as ${DB_PASSWORD}:
// it names a secret rather than holding one. Checked by hand: it runs on every string.
func isVarRef(s string) bool {
	if len(s) < 4 || s[0] != '$' || s[1] != '{' || s[len(s)-1] != '}' {
		return false
	}
	name := s[2 : len(s)-1]
	if c := name[0]; !('a' <= c|0x20 && c|0x20 <= 'z' || c == '_') {
		return false
	}
	for i := 1; i < len(name); i++ {
		if !isWordByte(name[i]) {
			return false
		}
	}
	return true
}
