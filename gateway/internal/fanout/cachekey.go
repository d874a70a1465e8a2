package fanout

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"unicode/utf8"

	"github.com/osirisplane/osiris/gateway/internal/wire"
)

// cacheKey is the key of call's result under policy p: sha256 over the tool, the policy's
// scope and its value for this call (the session id, the principal, or nothing), and the
// chosen arguments, encoded canonically (members sorted, numbers as the agent wrote them). It
// returns the decoded arguments for the policy's tags, and false when the call cannot be
// keyed exactly: arguments that are not one JSON object (null among them, which an upstream
// may answer differently from absent), text that is not UTF-8 or escapes a UTF-16 surrogate
// (decoding would merge different strings into U+FFFD), or session scope without a session id.
func cacheKey(call *wire.Call, p Policy) (string, map[string]any, bool) {
	args, ok := decodeArguments(call.Arguments())
	if !ok {
		return "", nil, false
	}
	scope, of := p.Scope, ""
	switch scope {
	case ScopeGlobal:
	case ScopePrincipal:
		of = call.Principal // "" while the gateway knows one shared token: one principal
	default:
		scope, of = ScopeSession, call.Session
		if of == "" {
			return "", nil, false
		}
	}
	chosen := args
	if len(p.Key) > 0 {
		chosen = make(map[string]any, len(p.Key))
		for _, n := range p.Key {
			if v, ok := args[n]; ok {
				chosen[n] = v
			}
		}
	}
	tool := call.Name()
	// Maps encode with sorted keys, json.Number as its literal text.
	b, err := json.Marshal(map[string]any{"tool": tool, "scope": scope, "of": of, "args": chosen})
	if err != nil {
		return "", nil, false
	}
	sum := sha256.Sum256(b)
	return tool + "/" + hex.EncodeToString(sum[:16]), args, true
}

// decodeArguments decodes a call's arguments with every number kept as its text, so 1 and
// 1.0, or two integers past 2^53, are different keys, as they are different JSON. Absent
// arguments are the empty object.
func decodeArguments(raw json.RawMessage) (map[string]any, bool) {
	if len(raw) == 0 {
		return map[string]any{}, true
	}
	if !utf8.Valid(raw) || hasSurrogateEscape(raw) {
		return nil, false
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var args map[string]any
	if err := dec.Decode(&args); err != nil || args == nil {
		return nil, false
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, false
	}
	return args, true
}

// hasSurrogateEscape reports a \uD800-\uDFFF escape in raw. A lone one decodes to U+FFFD, so
// two different strings would share a key; a paired one (an escaped emoji) is merely not
// cached, which is the safe side.
func hasSurrogateEscape(raw []byte) bool {
	for i := bytes.Index(raw, []byte(`\u`)); i >= 0 && i+3 < len(raw); {
		if c, d := raw[i+2]|0x20, raw[i+3]|0x20; c == 'd' && d >= '8' && d <= '9' || c == 'd' && d >= 'a' && d <= 'f' {
			return true
		}
		next := bytes.Index(raw[i+2:], []byte(`\u`))
		if next < 0 {
			return false
		}
		i += 2 + next
	}
	return false
}
