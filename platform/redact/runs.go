package redact

import "strings"

// minRun is the shortest random key of unknown origin that is masked by shape alone.
const minRun = 32

// highEntropyRuns finds, in one pass, random keys of unknown origin: runs of base64
// characters of at least minRun. A run is masked whole when it looks like a line of a
// base64-encoded key: it has a + or /, both letter cases and a digit, and few slashes (an
// AWS secret access key, a line of a PEM body); a path such as
// /var/lib/Docker/overlay2/abc123/merged has a slash every few characters instead of about
// one in 64. Otherwise each run of 32 or more letters and digits inside it that mixes upper-
// and lower-case letters is masked; requiring both cases keeps hex digests such as SHA-256
// sums, and UUIDs, readable. The spans are returned as match indexes for pattern.replace.
func highEntropyRuns(s string) [][]int {
	var out [][]int
	for i := 0; i < len(s); {
		if !isBase64(s[i]) {
			i++
			continue
		}
		j := i
		for j < len(s) && isBase64(s[j]) {
			j++
		}
		end := j
		for end < len(s) && end-j < 2 && s[end] == '=' {
			end++
		}
		if j-i >= minRun {
			if run := s[i:j]; keyLine(run) {
				out = append(out, []int{i, end})
			} else {
				out = appendMixedCase(out, s, i, j)
			}
		}
		i = end
	}
	return out
}

// keyLine reports whether a base64 run looks like encoded key material rather than a path.
func keyLine(run string) bool {
	slashes := strings.Count(run, "/")
	if slashes+strings.Count(run, "+") == 0 || slashes > 1+len(run)/16 {
		return false
	}
	return mixedCase(run) && strings.ContainsAny(run, "0123456789")
}

// appendMixedCase appends the spans of s[i:j] that are runs of at least minRun letters and
// digits mixing upper- and lower-case letters.
func appendMixedCase(out [][]int, s string, i, j int) [][]int {
	for i < j {
		if !isAlnum(s[i]) {
			i++
			continue
		}
		k := i
		for k < j && isAlnum(s[k]) {
			k++
		}
		if k-i >= minRun && mixedCase(s[i:k]) {
			out = append(out, []int{i, k})
		}
		i = k
	}
	return out
}

func isAlnum(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

func isBase64(c byte) bool { return isAlnum(c) || c == '+' || c == '/' }

// mixedCase reports whether s contains both an upper- and a lower-case
// ASCII letter, which random keys almost always do and hex digests never do.
func mixedCase(s string) bool {
	var upper, lower bool
	for i := 0; i < len(s); i++ {
		c := s[i]
		upper = upper || ('A' <= c && c <= 'Z')
		lower = lower || ('a' <= c && c <= 'z')
	}
	return upper && lower
}
