package wire

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// The gateway edits a message by splicing bytes into it, never by decoding and encoding it
// again: every member it does not touch keeps its bytes, its order, its null or its false.
// The functions here take a JSON object that the transport has already checked is valid JSON
// (every message is decoded once as a JSON-RPC envelope before it gets here); they still
// refuse what is not an object.

// errNotObject is returned for params or a result that is not a JSON object.
var errNotObject = errors.New("not a JSON object")

// member is one top-level member of an object: obj[start:end] is `"key":value`,
// obj[valueStart:end] is the value.
type member struct {
	key               string
	start, valueStart int
	end               int
}

// members scans the top-level members of obj, and returns the index of its closing brace.
func members(obj []byte) ([]member, int, error) {
	i := skipSpace(obj, 0)
	if i >= len(obj) || obj[i] != '{' {
		return nil, 0, errNotObject
	}
	var out []member
	i = skipSpace(obj, i+1)
	if i < len(obj) && obj[i] == '}' {
		return nil, i, nil
	}
	for {
		if i >= len(obj) || obj[i] != '"' {
			return nil, 0, fmt.Errorf("%w: expected a member name at byte %d", errNotObject, i)
		}
		start := i
		keyEnd, err := skipString(obj, i)
		if err != nil {
			return nil, 0, err
		}
		key, err := unquote(obj[start:keyEnd])
		if err != nil {
			return nil, 0, err
		}
		i = skipSpace(obj, keyEnd)
		if i >= len(obj) || obj[i] != ':' {
			return nil, 0, fmt.Errorf("%w: expected ':' at byte %d", errNotObject, i)
		}
		valueStart := skipSpace(obj, i+1)
		end, err := skipValue(obj, valueStart)
		if err != nil {
			return nil, 0, err
		}
		out = append(out, member{key: key, start: start, valueStart: valueStart, end: end})
		i = skipSpace(obj, end)
		if i >= len(obj) {
			return nil, 0, fmt.Errorf("%w: unterminated", errNotObject)
		}
		switch obj[i] {
		case ',':
			i = skipSpace(obj, i+1)
		case '}':
			return out, i, nil
		default:
			return nil, 0, fmt.Errorf("%w: expected ',' or '}' at byte %d", errNotObject, i)
		}
	}
}

func unquote(s []byte) (string, error) {
	if bytes.IndexByte(s, '\\') < 0 {
		return string(s[1 : len(s)-1]), nil
	}
	var out string
	err := json.Unmarshal(s, &out)
	return out, err
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// skipString returns the index after the string that starts at b[i] == '"'.
func skipString(b []byte, i int) (int, error) {
	for j := i + 1; j < len(b); {
		k := bytes.IndexAny(b[j:], `"\\`)
		if k < 0 {
			break
		}
		j += k
		if b[j] == '"' {
			return j + 1, nil
		}
		j += 2 // an escape and the byte it escapes
	}
	return 0, fmt.Errorf("%w: unterminated string at byte %d", errNotObject, i)
}

// skipValue returns the index after the value that starts at b[i].
func skipValue(b []byte, i int) (int, error) {
	if i >= len(b) {
		return 0, fmt.Errorf("%w: missing value", errNotObject)
	}
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for j := i; j < len(b); j++ {
			switch b[j] {
			case '"':
				end, err := skipString(b, j)
				if err != nil {
					return 0, err
				}
				j = end - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1, nil
				}
			}
		}
		return 0, fmt.Errorf("%w: unterminated value at byte %d", errNotObject, i)
	}
	j := i
	for j < len(b) && !bytes.ContainsRune([]byte(" \t\r\n,}]"), rune(b[j])) {
		j++
	}
	if j == i {
		return 0, fmt.Errorf("%w: missing value at byte %d", errNotObject, i)
	}
	return j, nil
}

// Member returns the raw value of obj's top-level member key.
func Member(obj []byte, key string) (json.RawMessage, bool) {
	ms, _, err := members(obj)
	if err != nil {
		return nil, false
	}
	for _, m := range ms {
		if m.key == key {
			return json.RawMessage(obj[m.valueStart:m.end]), true
		}
	}
	return nil, false
}

// SetMember returns a copy of obj with member key set to value: replaced in place if present,
// appended last if not. Every other byte is kept. A nil or empty obj is taken as {}.
func SetMember(obj []byte, key string, value []byte) ([]byte, error) {
	if len(bytes.TrimSpace(obj)) == 0 || bytes.Equal(bytes.TrimSpace(obj), []byte("null")) {
		obj = []byte("{}")
	}
	ms, closing, err := members(obj)
	if err != nil {
		return nil, err
	}
	for _, m := range ms {
		if m.key == key {
			out := make([]byte, 0, len(obj)-(m.end-m.valueStart)+len(value))
			out = append(out, obj[:m.valueStart]...)
			out = append(out, value...)
			return append(out, obj[m.end:]...), nil
		}
	}
	name, err := json.Marshal(key)
	if err != nil {
		return nil, err
	}
	// Appended after the last member, before whatever whitespace precedes the brace.
	at, sep := closing, ""
	if len(ms) > 0 {
		at, sep = ms[len(ms)-1].end, ","
	}
	out := make([]byte, 0, len(obj)+len(name)+len(value)+2)
	out = append(out, obj[:at]...)
	out = append(out, sep...)
	out = append(out, name...)
	out = append(out, ':')
	out = append(out, value...)
	return append(out, obj[at:]...), nil
}

// DeleteMember returns a copy of obj without member key (obj itself if it has none).
func DeleteMember(obj []byte, key string) ([]byte, error) {
	ms, _, err := members(obj)
	if err != nil {
		return nil, err
	}
	for n, m := range ms {
		if m.key != key {
			continue
		}
		// Remove the member and the comma that joins it to a neighbour.
		from, to := m.start, m.end
		switch {
		case n+1 < len(ms):
			to = ms[n+1].start
		case n > 0:
			from = ms[n-1].end
		}
		out := make([]byte, 0, len(obj)-(to-from))
		out = append(out, obj[:from]...)
		return append(out, obj[to:]...), nil
	}
	return obj, nil
}

// SetMeta returns a copy of obj with _meta.key set to value (JSON), creating _meta if needed.
func SetMeta(obj []byte, key string, value any) ([]byte, error) {
	v, err := json.Marshal(value)
	if err != nil {
		return nil, err
	}
	meta, ok := Member(obj, "_meta")
	if !ok || bytes.Equal(meta, []byte("null")) {
		meta = []byte("{}")
	}
	if meta, err = SetMember(meta, key, v); err != nil {
		return nil, fmt.Errorf("_meta: %w", err)
	}
	return SetMember(obj, "_meta", meta)
}
