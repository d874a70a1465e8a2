package redact

import (
	"encoding/base64"
	"regexp"
	"strings"
)

// pattern is one credential shape. re finds it; groups are the submatches that hold the
// secret (none: the whole match), of which each participating non-empty one is masked. keep,
// when set, leaves a match alone where a regular expression cannot decide, given the text,
// the submatch indexes and the value that would be masked. find replaces re for shapes a
// scan decides better than a regular expression.
type pattern struct {
	class  string
	re     *regexp.Regexp
	groups []int
	keep   func(s string, m []int, value string) bool
	find   func(s string) [][]int
	// at, when set, runs re only where a match can start (see anchor); re is then anchored.
	at *anchor
	// What every match has, asked before anything else (see prefilter.go): at least minLen
	// bytes, one of the bytes of anyByte (when set) and one of lits (when set).
	minLen  int
	anyByte string
	lits    literals
}

// maybe reports whether t's text passes p's cheap tests, so that p could match it.
func (p *pattern) maybe(t *subject) bool {
	return len(t.s) >= p.minLen && (p.anyByte == "" || strings.ContainsAny(t.s, p.anyByte)) && p.lits.in(t)
}

// Names of secrets in free text, as in "password=…", "--api-key …" or YAML "token: …". A
// narrower list than the one for map keys: free text says "author", "keyboard" or "passes"
// far more often than a map names a field so.
const secretName = `passw(?:or)?d|passphrase|pwd|secret|token|api[_.\-]?key|` +
	`(?:access|account|private|signing|encryption|master|client|shared[_\-]?access)[_.\-]?key|credentials?`

// pemBoundary is the header or footer of a private key of any kind: PKCS#1 (RSA, DSA, EC),
// PKCS#8 (plain or ENCRYPTED), OpenSSH, PGP's "PRIVATE KEY BLOCK" and SSH2's "---- BEGIN".
const pemBoundary = `-{4,5} ?%s [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)? ?-{4,5}`

// credentialPatterns returns the shapes in the order they are applied. Earlier shapes are
// the wider ones (a whole key block, a whole header value), so later ones see masks, not
// fragments of the same secret.
func credentialPatterns() []pattern {
	// The value after a name: a variable reference (kept), quoted (plain or JSON-escaped quotes) or up to a delimiter.
	value := `(?:(\$\{[A-Za-z_][A-Za-z0-9_]*\})|\\"([^"\\\r\n]*)\\"|"([^"\r\n]*)"|'([^'\r\n]*)'|([^\s"'\\,;&)}\]<>=][^\s"'\\,;&)}\]<>]*))`
	return []pattern{
		{
			// The body of a private key, up to its footer or, cut off, to the end of the text.
			// Header and footer stay: they tell a reader what kind of key was removed.
			class: "private key block",
			re: anchored(strings.Replace(pemBoundary, "%s", "BEGIN", 1) + `([\s\S]+?)(?:` +
				strings.Replace(pemBoundary, "%s", "END", 1) + `|$)`),
			at: at(nil, "----"), groups: []int{1}, lits: contains("PRIVATE KEY"),
		},
		{
			class: "PuTTY private key", re: regexp.MustCompile(`Private-Lines:\s*\d+([\s\S]+?)(?:Private-MAC:|$)`),
			groups: []int{1}, lits: contains("Private-Lines:"),
		},
		{
			// Digest credentials are a list of parameters; all of them go.
			class: "authorization header",
			re:    anchored(`(?i)authorization\\?["']?\s*[:=]\s*\\?["']?digest\s+([^\r\n]+)`),
			at:    at(wordStart, "authorization"), groups: []int{1}, lits: containsFold("authorization"),
		},
		{
			// The credential after the scheme, or the whole value when no known scheme precedes it.
			class: "authorization header",
			re: anchored(`(?i)authorization\\?["']?\s*[:=]\s*\\?["']?` +
				`(?:(?:basic|bearer|token|digest|negotiate|ntlm|apikey|key|sso-key)\s+)?([^\s"'\\,;]+)`),
			at: at(wordStart, "authorization"), groups: []int{1}, lits: containsFold("authorization"),
		},
		{
			// "Basic" and base64 of user:password, outside a header too; only a value that
			// decodes to something with a colon, so "basic authentication" stays.
			class: "basic credentials", re: anchored(`(?i)basic\s+([A-Za-z0-9+/]{4,}={0,2})`),
			at: at(wordStart, "basic"), groups: []int{1}, keep: notBasicCredentials, lits: containsFold("basic"),
		},
		{
			// The token after the HTTP authentication scheme "Bearer", whose name is
			// case-insensitive on the wire; the scheme word stays.
			class: "bearer token", re: anchored(`(?i)bearer\s+([A-Za-z0-9._~+/\-]+=*)`),
			at: at(wordStart, "bearer"), groups: []int{1}, lits: containsFold("bearer"),
		},
		{
			// A cookie header's value to the end of the line: every pair in it may be a session.
			class: "cookie header",
			re:    anchored(`(?i)cookie\\?["']?[ \t]*[:=][ \t]*\\?["']?([^\r\n"'\\]+)`),
			at:    at(wordStart, "cookie"), groups: []int{1}, lits: containsFold("cookie"),
		},
		{
			// The password in a URL's user information; the user name and host stay readable
			// because they say which system failed. The greedy password runs to the last @ of
			// the authority, as URL parsers do, so a password containing @ is masked whole.
			class: "URL password", re: anchored(`://[^\s:/?#@]*:([^\s/?#]+)@`),
			at: at(afterScheme, "://"), groups: []int{1}, lits: contains("://"),
		},
		{
			// name=value, name: value (YAML), name := value, "name": "value" (JSON), and so
			// flags (--password=…) and query parameters (?access_token=…) of such names.
			class: "secret assignment",
			// The name starts at a secret word rather than at the start of the whole name
			// (db_password): a leading [a-z…]* would make every position a candidate start.
			// keepAssigned looks back for the rest of the name.
			re: anchored(`(?i)((?:` + secretName + `)[a-z0-9_.\-]*)(?:\\?["'])?[ \t]*(?::=|=>|[:=])[ \t]*` +
				value),
			// The words every name of secretName starts with.
			at: at(nil, "passw", "passphrase", "pwd", "secret", "token", "api", "access", "account",
				"private", "signing", "encryption", "master", "client", "shared", "credential"),
			groups: []int{2, 3, 4, 5, 6}, keep: keepAssigned, lits: secretNameParts, anyByte: secretNameSeparators,
		},
		{
			// A flag naming a secret followed by its value as the next word: --password hunter2.
			class: "secret flag",
			at:    at(afterSpace, "-"),
			re: anchored(`(?i)--?([a-z0-9_\-]*(?:` + secretName + `)[a-z0-9_\-]*)\s+` +
				`(?:"([^"\r\n]*)"|'([^'\r\n]*)'|([^\s"'\-][^\s"']*))`),
			groups: []int{2, 3, 4}, keep: keepAssigned, lits: secretNameParts, anyByte: secretNameSeparators,
		},
		{
			class: "curl user", re: anchored(`(?:-u|--user)[ \t=]+['"]?[^\s:'"]+:([^\s'"]+)`),
			at: at(afterSpace, "-"), groups: []int{1}, lits: contains("-u"),
		},
		{
			// Query parameters that carry a key or a signature under a name too short or too
			// common for the assignment rule: Google's key=, SAS sig=, OAuth code=, presigned URLs.
			class: "URL query credential",
			re: anchored(`(?i)[?&;](?:key|sig|signature|code|auth|x-amz-signature|x-amz-credential|` +
				`x-goog-signature|x-goog-credential)=([^&#\s"'<>]+)`),
			at:     at(nil, "?", "&", ";"),
			groups: []int{1}, lits: containsFold("key=", "sig=", "signature=", "code=", "auth=", "credential="),
		},
		{
			class: "webhook URL", re: regexp.MustCompile(`(?:hooks\.slack\.com/(?:services|workflows|triggers)|discord(?:app)?\.com/api/webhooks)/([A-Za-z0-9+/_\-]+)`),
			groups: []int{1}, lits: contains("hook"),
		},
		token("JSON web token", `eyJ[A-Za-z0-9_\-]+\.eyJ[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]*`, "eyJ"),
		token("GitHub token", `github_pat_[A-Za-z0-9_]{20,}`, "github_pat_"),
		token("GitHub token", `gh[pousr]_[A-Za-z0-9]{20,}`, "ghp_", "gho_", "ghu_", "ghs_", "ghr_"),
		token("GitLab token", `gl(?:pat|ptt|dt|rt|cbt|oas)-[A-Za-z0-9_\-]{20,}`, "glpat-", "glptt-", "gldt-", "glrt-", "glcbt-", "gloas-"),
		token("Slack token", `xox[abposre]-[A-Za-z0-9\-]{10,}|xapp-\d-[A-Za-z0-9\-]{10,}`, "xox", "xapp-"),
		// AKIA ids belong to long-term keys, ASIA ids to temporary session credentials.
		token("AWS access key id", `(?:A3T[A-Z0-9]|AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}`, "AKIA", "ASIA", "ABIA", "ACCA", "A3T"),
		token("Google API key", `AIza[A-Za-z0-9_\-]{35}`, "AIza"),
		token("Google OAuth token", `ya29\.[A-Za-z0-9_\-]{20,}`, "ya29."),
		token("Stripe key", `(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{10,}|whsec_[A-Za-z0-9]{20,}`, "k_live_", "k_test_", "whsec_"),
		token("OpenAI or Anthropic key", `\bsk-(?:ant-|proj-|svcacct-|admin-)?[A-Za-z0-9_\-]{20,}`, "sk-"),
		token("npm token", `npm_[A-Za-z0-9]{36}`, "npm_"),
		token("PyPI token", `pypi-AgEIcHlwaS5vcmc[A-Za-z0-9_\-]{50,}`, "pypi-"),
		token("SendGrid key", `SG\.[A-Za-z0-9_\-]{22}\.[A-Za-z0-9_\-]{43}`, "SG."),
		token("Vault token", `\bhv[sbr]\.[A-Za-z0-9_\-]{24,}`, "hv"),
		token("DigitalOcean token", `do[opr]_v1_[a-f0-9]{64}`, "_v1_"),
		token("Shopify token", `shp(?:at|ca|pa|ss)_[a-fA-F0-9]{32}`, "shp"),
		token("Hugging Face token", `\bhf_[A-Za-z0-9]{34}`, "hf_"),
		token("Azure client secret", `[A-Za-z0-9_~.]{3}\dQ~[A-Za-z0-9_~.\-]{31,34}`, "Q~"),
		token("age secret key", `AGE-SECRET-KEY-1[QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L]{58}`, "AGE-"),
		{class: "high-entropy run", find: highEntropyRuns, minLen: minRun},
	}
}

// token is a vendor's token whose whole match is the secret; every match contains one of lits
// and is at least minToken bytes long, which most values of a call are not.
func token(class, re string, lits ...string) pattern {
	return pattern{class: class, re: regexp.MustCompile(re), minLen: minToken, lits: contains(lits...)}
}

// minToken is the length of the shortest vendor token matched (a Slack token).
const minToken = 15

// replace returns t's text with every secret that p finds replaced by mask.
func (p *pattern) replace(t *subject, mask string) string {
	s := t.s
	if !p.maybe(t) {
		return s
	}
	var matches [][]int
	switch {
	case p.find != nil:
		matches = p.find(s)
	case p.at != nil:
		matches = p.at.matches(p.re, s)
	default:
		matches = p.re.FindAllStringSubmatchIndex(s, -1)
	}
	if matches == nil {
		return s
	}
	var b strings.Builder
	last := 0
	for _, m := range matches {
		spans := [][2]int{{m[0], m[1]}}
		if len(p.groups) > 0 {
			spans = spans[:0]
			for _, g := range p.groups {
				if start, end := m[2*g], m[2*g+1]; start >= 0 && end > start {
					spans = append(spans, [2]int{start, end})
				}
			}
		}
		for _, sp := range spans {
			if p.keep != nil && p.keep(s, m, s[sp[0]:sp[1]]) {
				continue
			}
			b.WriteString(s[last:sp[0]])
			b.WriteString(mask)
			last = sp[1]
		}
	}
	if last == 0 {
		return s
	}
	b.WriteString(s[last:])
	return b.String()
}

// keepAssigned keeps a variable reference (password=${DB_PASSWORD}), a number under a
// measurement name (max_tokens: 100), as the map rules do, and the value of a name that
// says where a secret is or what kind it is rather than holding it (--password-file
// /etc/db.pw, token_type=Bearer).
func keepAssigned(s string, m []int, value string) bool {
	if isVarRef(value) {
		return true
	}
	start := m[2]
	for start > 0 && (isAlnum(s[start-1]) || strings.IndexByte("_.-", s[start-1]) >= 0) {
		start--
	}
	name := strings.ToLower(s[start:m[3]])
	// Names ending so point to a secret or classify it (--password-file, token_type).
	for _, suffix := range [...]string{"file", "path", "dir", "type", "env"} {
		if strings.HasSuffix(name, suffix) {
			return true
		}
	}
	return isMeasurementKey(name) && isDecimal(value)
}

// notBasicCredentials keeps a word after "basic" that is not base64 of user:password.
func notBasicCredentials(_ string, _ []int, value string) bool {
	b, err := base64.StdEncoding.DecodeString(value)
	if err != nil {
		b, err = base64.RawStdEncoding.DecodeString(value)
	}
	return err != nil || !strings.Contains(string(b), ":")
}

func isDecimal(s string) bool {
	digits := 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case '0' <= c && c <= '9':
			digits++
		case c == '.' || (i == 0 && c == '-'):
		default:
			return false
		}
	}
	return digits > 0
}
