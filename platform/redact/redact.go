package redact

import (
	"encoding/json"
	"regexp"
	"strings"

	"google.golang.org/protobuf/types/known/structpb"
)

const (
	// AuditMask replaces secrets in records written to the audit log. It is
	// long and unmistakable so that a reader of the log sees at a glance that
	// a value was removed rather than empty.
	AuditMask = "***MASKED***"
	// SessionMask replaces secrets in session store entries.
	SessionMask = "***"
)

// maxRounds bounds how often String re-scans a string. Masking one
// credential can change the context of another (for example, it can open a
// word boundary in front of "Bearer"), so the patterns are applied until the
// text stops changing. With the masks defined here the text settles after at
// most two rewriting rounds in practice; the bound only guards against a
// caller-supplied mask that a pattern keeps rewriting.
const maxRounds = 8

// pattern is one credential shape: re finds it, group is the submatch that
// holds the secret (0 for the whole match), and accept, when set, decides
// whether a match really is a secret where a regular expression cannot say.
type pattern struct {
	re     *regexp.Regexp
	group  int
	accept func(string) bool
	// maybe is a cheap test that every match must pass (a literal it contains, a minimum
	// length), so the regular expression runs only on strings that could match. Redaction
	// runs on every argument of every audited call; most values are short and plain.
	maybe func(string) bool
}

// Redactor masks secrets in structured data and free text. It is immutable
// after New and safe for concurrent use by multiple goroutines.
type Redactor struct {
	mask string
	// secretWords are matched as substrings of lower-cased keys.
	secretWords []string
	// exemptKeys are lower-cased keys that are never masked by name.
	exemptKeys map[string]struct{}
	// numericSuffixes mark keys whose numeric values are measurements.
	numericSuffixes []string
	varRef          *regexp.Regexp
	patterns        []pattern
}

// New returns a Redactor that replaces secrets with mask, usually AuditMask
// or SessionMask. An empty mask is replaced by AuditMask, because a secret
// that silently disappears makes a record look as if the value was never set.
func New(mask string) *Redactor {
	if mask == "" {
		mask = AuditMask
	}
	return &Redactor{
		mask: mask,
		secretWords: []string{
			"password", "passwd", "pass", "pwd", "secret", "key", "token",
			"auth", "credential", "api_key", "access_key", "private_key",
			"client_secret", "bearer", "cookie", "jwt",
		},
		exemptKeys: map[string]struct{}{
			"primary_key": {},
			"session":     {},
			"session_id":  {},
			"event":       {},
			"event_type":  {},
			"command":     {},
			"key":         {},
		},
		numericSuffixes: []string{"_count", "_ms", "_seconds", "_bytes", "_tokens"},
		varRef:          regexp.MustCompile(`^\$\{[A-Za-z_][A-Za-z0-9_]*\}$`),
		patterns: []pattern{
			// The password in a URL's user information; the user name and
			// host stay readable because they say which system failed. The
			// greedy password runs to the last @ of the authority, as URL
			// parsers do, so a password containing @ is masked whole.
			{re: regexp.MustCompile(`[A-Za-z][A-Za-z0-9+.\-]*://[^\s:/?#@]*:([^\s/?#]+)@`), group: 1, maybe: contains("://")},
			// The token after the HTTP authentication scheme "Bearer", whose
			// name is case-insensitive on the wire; the scheme word stays so
			// that a reader still sees what kind of header it was.
			{re: regexp.MustCompile(`(?i)\bbearer\s+([A-Za-z0-9._~+/\-]+=*)`), group: 1, maybe: containsFold("bearer")},
			// JSON Web Tokens: a base64url header and payload that both
			// start with `{"`, and a signature that may be empty.
			{re: regexp.MustCompile(`eyJ[A-Za-z0-9_\-]+\.eyJ[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]*`), maybe: contains("eyJ")},
			{re: regexp.MustCompile(`github_pat_[A-Za-z0-9_]{20,}`), maybe: contains("github_pat_")},
			{re: regexp.MustCompile(`gh[pousr]_[A-Za-z0-9]{20,}`), maybe: contains("gh")},
			{re: regexp.MustCompile(`xox[abposr]-[A-Za-z0-9\-]{10,}`), maybe: contains("xox")},
			// AKIA ids belong to long-term keys, ASIA ids to temporary
			// session credentials; both sit next to their secret key.
			{re: regexp.MustCompile(`(?:AKIA|ASIA)[A-Z0-9]{16}`), maybe: func(s string) bool {
				return strings.Contains(s, "AKIA") || strings.Contains(s, "ASIA")
			}},
			// Random API keys of unknown origin. RE2 has no lookahead, so
			// the mixed-case test is done in Go; leftmost greedy matching
			// makes every match a whole run of letters and digits.
			{re: regexp.MustCompile(`[A-Za-z0-9]{32,}`), accept: mixedCase, maybe: func(s string) bool { return len(s) >= 32 }},
		},
	}
}

// Struct returns a redacted deep copy of s. The input is never modified, so
// a caller may keep using the original, for example to serve the request
// while the copy goes to the audit log. A nil Struct yields nil.
func (r *Redactor) Struct(s *structpb.Struct) *structpb.Struct {
	if s == nil {
		return nil
	}
	out := &structpb.Struct{Fields: make(map[string]*structpb.Value, len(s.GetFields()))}
	for k, v := range s.GetFields() {
		out.Fields[k] = r.structField(k, v)
	}
	return out
}

// Value returns a redacted deep copy of v. Without a key there is no key
// rule to apply, so only string patterns are masked, and maps nested in v
// are redacted by their own keys. A nil Value yields nil.
func (r *Redactor) Value(v *structpb.Value) *structpb.Value {
	if v == nil {
		return nil
	}
	switch k := v.GetKind().(type) {
	case *structpb.Value_StringValue:
		return structpb.NewStringValue(r.text(k.StringValue))
	case *structpb.Value_StructValue:
		return structpb.NewStructValue(r.Struct(k.StructValue))
	case *structpb.Value_ListValue:
		return structpb.NewListValue(r.list(k.ListValue))
	case *structpb.Value_NumberValue:
		return structpb.NewNumberValue(k.NumberValue)
	case *structpb.Value_BoolValue:
		return structpb.NewBoolValue(k.BoolValue)
	case *structpb.Value_NullValue:
		return &structpb.Value{Kind: &structpb.Value_NullValue{NullValue: k.NullValue}}
	default:
		// A Value with no kind set holds nothing to redact.
		return &structpb.Value{}
	}
}

// String masks credential-shaped substrings of free text such as error
// messages and URIs, leaving the rest of the text readable. A string that
// is exactly a variable reference such as ${API_KEY} is returned unchanged.
func (r *Redactor) String(s string) string {
	return r.text(s)
}

// Map redacts a JSON-like Go value tree, as produced by encoding/json
// (map[string]any, []any, string, float64, bool and nil), and returns a deep
// copy; the input is never modified. Other numeric types and json.Number
// are kept like float64, and []string, map[string]string and
// []map[string]any are redacted element by element. Any other type is
// replaced by the mask, because a value the Redactor cannot look inside
// could hold a secret. A nil map yields nil.
func (r *Redactor) Map(m map[string]any) map[string]any {
	if m == nil {
		return nil
	}
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = r.mapField(k, v)
	}
	return out
}

// structField redacts the value stored under key k of a Struct.
func (r *Redactor) structField(k string, v *structpb.Value) *structpb.Value {
	lk := strings.ToLower(k)
	if !r.isSecretKey(lk) {
		return r.Value(v)
	}
	switch kind := v.GetKind().(type) {
	case nil, *structpb.Value_NullValue:
		return r.Value(v)
	case *structpb.Value_StringValue:
		if r.varRef.MatchString(kind.StringValue) {
			return r.Value(v)
		}
	case *structpb.Value_NumberValue:
		if r.isMeasurement(lk) {
			return r.Value(v)
		}
	}
	return structpb.NewStringValue(r.mask)
}

// list redacts every element of l.
func (r *Redactor) list(l *structpb.ListValue) *structpb.ListValue {
	if l == nil {
		return nil
	}
	out := &structpb.ListValue{Values: make([]*structpb.Value, len(l.GetValues()))}
	for i, v := range l.GetValues() {
		out.Values[i] = r.Value(v)
	}
	return out
}

// mapField redacts the value stored under key k of a Go map.
func (r *Redactor) mapField(k string, v any) any {
	if v == nil {
		return nil
	}
	lk := strings.ToLower(k)
	if !r.isSecretKey(lk) {
		return r.anyValue(v)
	}
	if s, ok := v.(string); ok && r.varRef.MatchString(s) {
		return s
	}
	if isNumber(v) && r.isMeasurement(lk) {
		return v
	}
	return r.mask
}

// stringField redacts the string s stored under key k, for maps whose
// values can only be strings.
func (r *Redactor) stringField(k, s string) string {
	if r.isSecretKey(strings.ToLower(k)) && !r.varRef.MatchString(s) {
		return r.mask
	}
	return r.text(s)
}

// anyValue redacts a value of a Go value tree that sits under no key or
// under a key that is not a secret.
func (r *Redactor) anyValue(v any) any {
	switch t := v.(type) {
	case nil:
		return nil
	case string:
		return r.text(t)
	case bool:
		return t
	case map[string]any:
		return r.Map(t)
	case []any:
		if t == nil {
			return t
		}
		out := make([]any, len(t))
		for i, e := range t {
			out[i] = r.anyValue(e)
		}
		return out
	case []string:
		if t == nil {
			return t
		}
		out := make([]string, len(t))
		for i, s := range t {
			out[i] = r.text(s)
		}
		return out
	case map[string]string:
		if t == nil {
			return t
		}
		out := make(map[string]string, len(t))
		for k, s := range t {
			out[k] = r.stringField(k, s)
		}
		return out
	case []map[string]any:
		if t == nil {
			return t
		}
		out := make([]map[string]any, len(t))
		for i, m := range t {
			out[i] = r.Map(m)
		}
		return out
	}
	if isNumber(v) {
		return v
	}
	return r.mask
}

// isSecretKey reports whether the lower-cased key lk names a secret.
func (r *Redactor) isSecretKey(lk string) bool {
	if _, ok := r.exemptKeys[lk]; ok {
		return false
	}
	for _, w := range r.secretWords {
		if strings.Contains(lk, w) {
			return true
		}
	}
	return false
}

// isMeasurement reports whether the lower-cased key lk names a quantity
// whose numeric value is not a secret even though the key contains a
// secret word, such as max_tokens.
func (r *Redactor) isMeasurement(lk string) bool {
	for _, s := range r.numericSuffixes {
		if strings.HasSuffix(lk, s) {
			return true
		}
	}
	return false
}

// text masks credential-shaped substrings of s until no pattern changes it
// any more, which is what makes redaction idempotent.
func (r *Redactor) text(s string) string {
	if r.varRef.MatchString(s) {
		return s
	}
	for range maxRounds {
		next := s
		for _, p := range r.patterns {
			next = p.replace(next, r.mask)
		}
		if next == s {
			break
		}
		s = next
	}
	return s
}

// replace returns s with every accepted match of p replaced by mask.
func (p pattern) replace(s, mask string) string {
	if p.maybe != nil && !p.maybe(s) {
		return s
	}
	matches := p.re.FindAllStringSubmatchIndex(s, -1)
	if matches == nil {
		return s
	}
	var b strings.Builder
	last, changed := 0, false
	for _, m := range matches {
		start, end := m[2*p.group], m[2*p.group+1]
		if start < 0 || (p.accept != nil && !p.accept(s[start:end])) {
			continue
		}
		b.WriteString(s[last:start])
		b.WriteString(mask)
		last, changed = end, true
	}
	if !changed {
		return s
	}
	b.WriteString(s[last:])
	return b.String()
}

func contains(lit string) func(string) bool {
	return func(s string) bool { return strings.Contains(s, lit) }
}

// containsFold reports whether s contains the lower-case ASCII word lit in any case.
func containsFold(lit string) func(string) bool {
	return func(s string) bool {
		for i := 0; i+len(lit) <= len(s); i++ {
			if strings.EqualFold(s[i:i+len(lit)], lit) {
				return true
			}
		}
		return false
	}
}

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

// isNumber reports whether v is a Go number or a json.Number.
func isNumber(v any) bool {
	switch v.(type) {
	case float64, float32, int, int8, int16, int32, int64,
		uint, uint8, uint16, uint32, uint64, json.Number:
		return true
	}
	return false
}
