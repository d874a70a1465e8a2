package redact

import "strings"

// Redaction runs on every string of every audited call, and most are short and plain, so
// each pattern first asks a cheap question that every match must answer yes (it has one of
// the pattern's literals, a minimum length); the regular expression runs only then. Asking
// each literal with strings.Contains cost a scan of the text per literal: about 60 scans per
// string, 2.7 µs for a 117-byte sentence (BenchmarkPrefilter). Instead, the byte pairs of the
// text are set, in one pass, in a bitmap (folded to lower case and hashed, so a pair of the
// text may stand for others, never the reverse), and a literal is looked for only when all
// its pairs are in the bitmap, which for a literal of 4 or more bytes in plain text is rare.

// pairBits is the size of the bitmap of byte pairs.
const pairBits = 4096

// subject is a text under test and the bitmap of its byte pairs, made on first use.
type subject struct {
	s     string
	ready bool
	pairs [pairBits / 64]uint64
}

func pairKey(a, b byte) uint16 { return uint16((uint(a|0x20)*67 + uint(b|0x20)) % pairBits) }

func (t *subject) has(keys []uint16) bool {
	if !t.ready {
		for i := 0; i+1 < len(t.s); i++ {
			k := pairKey(t.s[i], t.s[i+1])
			t.pairs[k/64] |= 1 << (k % 64)
		}
		t.ready = true
	}
	for _, k := range keys {
		if t.pairs[k/64]&(1<<(k%64)) == 0 {
			return false
		}
	}
	return true
}

// literal is a word a match contains, exactly or in any case, and the keys of its pairs.
type literal struct {
	word string
	fold bool
	keys []uint16
}

// literals is a list of which a match contains at least one; an empty list asks nothing.
type literals []literal

func newLiterals(fold bool, words ...string) literals {
	out := make(literals, len(words))
	for i, w := range words {
		out[i] = literal{word: w, fold: fold}
		for j := 0; j+1 < len(w); j++ {
			out[i].keys = append(out[i].keys, pairKey(w[j], w[j+1]))
		}
	}
	return out
}

// contains is a list of literals that a match contains as they are.
func contains(words ...string) literals { return newLiterals(false, words...) }

// containsFold is a list of lower-case ASCII literals that a match contains in any case.
func containsFold(words ...string) literals { return newLiterals(true, words...) }

// in reports whether t's text contains one of l (true for an empty list).
func (l literals) in(t *subject) bool {
	if len(l) == 0 {
		return true
	}
	for _, w := range l {
		if !t.has(w.keys) {
			continue
		}
		if w.fold && indexFold(t.s, w.word) || !w.fold && strings.Contains(t.s, w.word) {
			return true
		}
	}
	return false
}

// indexFold reports whether s contains the lower-case ASCII word in any case.
func indexFold(s, word string) bool {
	first := word[0]
	for i := 0; i+len(word) <= len(s); i++ {
		if s[i]|0x20 == first && strings.EqualFold(s[i:i+len(word)], word) {
			return true
		}
	}
	return false
}

// secretNameParts are pieces every name of secretName contains; a text that could hold such
// a name and a value after it also has one of secretNameSeparators.
var secretNameParts = containsFold("pass", "pwd", "secret", "token", "key", "credential")

const secretNameSeparators = "=: \t\n"
