package verify

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"unicode/utf8"

	"github.com/gowebpki/jcs"
	"github.com/transparency-dev/merkle/rfc6962"
)

// exportLine is what one line of an export states: its seq, the hash it claims, and the leaf
// hash recomputed from the rest of it.
type exportLine struct {
	seq      uint64
	claimed  []byte
	computed []byte
}

// parseLine reads one export line without knowing the event schema: whatever members the line
// has, except "hash", form the leaf object whose JCS bytes are hashed. So an edit to any
// member, known or not, changes the leaf hash. Duplicate keys are refused at the top level
// here and below it by jcs.Transform: a reader that keeps the first and one that keeps the
// last would otherwise see different events under one hash.
func parseLine(line []byte) (exportLine, error) {
	var l exportLine
	if len(bytes.TrimSpace(line)) == 0 {
		return l, errors.New("empty line")
	}
	if !utf8.Valid(line) {
		return l, errors.New("not UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(line))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return l, errors.New("not a JSON object")
	}
	obj := make([]byte, 0, len(line))
	obj = append(obj, '{')
	seen := map[string]bool{}
	var seqRaw json.RawMessage
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return l, fmt.Errorf("not JSON: %w", err)
		}
		key := t.(string) // inside an object, Token returns keys as strings
		if seen[key] {
			return l, fmt.Errorf("the key %q appears twice", key)
		}
		seen[key] = true
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return l, fmt.Errorf("not JSON: %w", err)
		}
		switch key {
		case "hash":
			var s string
			if err := json.Unmarshal(raw, &s); err != nil {
				return l, errors.New(`"hash" is not a string`)
			}
			if l.claimed, err = hex.DecodeString(s); err != nil || len(l.claimed) != rfc6962.DefaultHasher.Size() {
				return l, fmt.Errorf(`"hash" %q is not a hex SHA-256 hash`, s)
			}
			continue
		case "seq":
			seqRaw = raw
		}
		if len(obj) > 1 {
			obj = append(obj, ',')
		}
		k, _ := json.Marshal(key)
		obj = append(append(append(obj, k...), ':'), raw...)
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return l, fmt.Errorf("not JSON: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return l, errors.New("more than one JSON value")
	}
	if l.claimed == nil {
		return l, errors.New(`no "hash"`)
	}
	if seqRaw == nil {
		return l, errors.New(`no "seq"`)
	}
	seq, err := strconv.ParseUint(string(seqRaw), 10, 64)
	if err != nil || seq == 0 || seq > 1<<53-1 || seqRaw[0] == '0' {
		return l, fmt.Errorf(`"seq" %s is not an integer from 1 to 2^53-1`, seqRaw)
	}
	l.seq = seq
	canonical, err := jcs.Transform(append(obj, '}'))
	if err != nil {
		return l, fmt.Errorf("not canonicalizable JSON: %w", err)
	}
	l.computed = rfc6962.DefaultHasher.HashLeaf(canonical)
	return l, nil
}
