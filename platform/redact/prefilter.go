package redact

import "strings"

// maybeSecretName returns a test that is true when s could hold a name of secretName and a
// value after it: s has a separator and one of the pieces every such name contains.
func maybeSecretName() func(string) bool {
	parts := containsFold("pass", "pwd", "secret", "token", "key", "credential")
	return func(s string) bool { return strings.ContainsAny(s, "=: \t\n") && parts(s) }
}

// contains reports whether s contains one of lits.
func contains(lits ...string) func(string) bool {
	return func(s string) bool {
		for _, lit := range lits {
			if strings.Contains(s, lit) {
				return true
			}
		}
		return false
	}
}

// containsFold reports whether s contains one of the lower-case ASCII words in any case,
// in one pass over s.
func containsFold(words ...string) func(string) bool {
	var first [256]bool
	for _, w := range words {
		first[w[0]] = true
	}
	return func(s string) bool {
		for i := 0; i < len(s); i++ {
			if !first[s[i]|0x20] {
				continue
			}
			for _, w := range words {
				if i+len(w) <= len(s) && strings.EqualFold(s[i:i+len(w)], w) {
					return true
				}
			}
		}
		return false
	}
}
