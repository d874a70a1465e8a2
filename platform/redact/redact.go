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

// Redactor masks secrets in structured data and free text. It is immutable
// after New and safe for concurrent use by multiple goroutines.
type Redactor struct {
	mask string
	// secretWords are matched as substrings of lower-cased keys.
	secretWords []string
	// exemptKeys are lower-cased keys that are never masked by name.
	exemptKeys map[string]struct{}
	patterns   []pattern
	// keyHeader and keyFooter find the boundaries of a private key (text.go).
	keyHeader, keyFooter *regexp.Regexp
	// secretFlag is a command-line flag that names a secret, standing alone in a list of
	// arguments, so that the next element is its value: ["--password", "hunter2"].
	secretFlag *regexp.Regexp
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
		patterns:   credentialPatterns(),
		keyHeader:  regexp.MustCompile(strings.Replace(pemBoundary, "%s", "BEGIN", 1)),
		keyFooter:  regexp.MustCompile(strings.Replace(pemBoundary, "%s", "END", 1)),
		secretFlag: regexp.MustCompile(`(?i)^--?[a-z0-9_\-]*(?:` + secretName + `)[a-z0-9_\-]*$`),
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
		if isVarRef(kind.StringValue) {
			return r.Value(v)
		}
	case *structpb.Value_NumberValue:
		if isMeasurementKey(lk) {
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
	var seq sequence
	for i, v := range l.GetValues() {
		if s, ok := v.GetKind().(*structpb.Value_StringValue); ok {
			out.Values[i] = structpb.NewStringValue(r.element(&seq, s.StringValue))
			continue
		}
		seq.other()
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
	if s, ok := v.(string); ok && isVarRef(s) {
		return s
	}
	if isNumber(v) && isMeasurementKey(lk) {
		return v
	}
	return r.mask
}

// stringField redacts the string s stored under key k, for maps whose
// values can only be strings.
func (r *Redactor) stringField(k, s string) string {
	if r.isSecretKey(strings.ToLower(k)) && !isVarRef(s) {
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
		var seq sequence
		for i, e := range t {
			if s, ok := e.(string); ok {
				out[i] = r.element(&seq, s)
				continue
			}
			seq.other()
			out[i] = r.anyValue(e)
		}
		return out
	case []string:
		if t == nil {
			return t
		}
		out := make([]string, len(t))
		var seq sequence
		for i, s := range t {
			out[i] = r.element(&seq, s)
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

// isMeasurementKey reports whether the lower-cased key lk names a quantity
// whose numeric value is not a secret even though the key contains a
// secret word, such as max_tokens.
func isMeasurementKey(lk string) bool {
	for _, s := range [...]string{"_count", "_ms", "_seconds", "_bytes", "_tokens"} {
		if strings.HasSuffix(lk, s) {
			return true
		}
	}
	return false
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
