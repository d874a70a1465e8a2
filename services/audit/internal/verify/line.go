package verify

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
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
// has, except "hash", form the leaf object whose JCS bytes are hashed, so an edit to any
// member, known or not, changes the leaf hash. jcs.Transform refuses what has no canonical
// form, duplicate keys included: a reader that keeps the first of two and one that keeps the
// last would otherwise see different events under one hash. The line is canonicalized once;
// removing a member from a canonical object leaves it canonical.
func parseLine(line []byte) (exportLine, error) {
	var l exportLine
	trimmed := bytes.TrimLeft(line, " \t\r\n")
	switch {
	case len(bytes.TrimSpace(trimmed)) == 0:
		return l, errors.New("empty line")
	case !utf8.Valid(line):
		return l, errors.New("not UTF-8")
	case trimmed[0] != '{':
		return l, errors.New("not a JSON object")
	}
	c, err := jcs.Transform(line)
	if err != nil {
		return l, fmt.Errorf("not JSON: %w", err)
	}
	hashAt, hashEnd, seqAt, seqEnd := -1, -1, -1, -1
	for i := 1; c[i] != '}'; {
		start := i
		v := skipString(c, i) + 1 // the key and ':'
		i = skipValue(c, v)
		switch string(c[start:v]) {
		case `"hash":`:
			hashAt, hashEnd = start, i
		case `"seq":`:
			seqAt, seqEnd = v, i
		}
		if c[i] == ',' {
			i++
		}
	}
	if hashAt < 0 {
		return l, errors.New(`no "hash"`)
	}
	value := c[hashAt+len(`"hash":`) : hashEnd]
	if len(value) != 66 || value[0] != '"' {
		return l, fmt.Errorf(`"hash" %s is not a hex SHA-256 hash`, short(value))
	}
	if l.claimed, err = hex.DecodeString(string(value[1:65])); err != nil {
		return l, fmt.Errorf(`"hash" %s is not a hex SHA-256 hash`, short(value))
	}
	if seqAt < 0 {
		return l, errors.New(`no "seq"`)
	}
	seq, err := strconv.ParseUint(string(c[seqAt:seqEnd]), 10, 64)
	if err != nil || seq == 0 || seq > 1<<53-1 {
		return l, fmt.Errorf(`"seq" %s is not an integer from 1 to 2^53-1`, short(c[seqAt:seqEnd]))
	}
	l.seq = seq
	// Cut the "hash" member and one comma next to it.
	if c[hashAt-1] == ',' {
		hashAt--
	} else if c[hashEnd] == ',' {
		hashEnd++
	}
	leafObject := append(c[:hashAt], c[hashEnd:]...)
	l.computed = rfc6962.DefaultHasher.HashLeaf(leafObject)
	return l, nil
}

// skipString returns the index just past the JSON string that starts at c[i].
func skipString(c []byte, i int) int {
	for i++; c[i] != '"'; i++ {
		if c[i] == '\\' {
			i++
		}
	}
	return i + 1
}

// skipValue returns the index just past the JSON value that starts at c[i]. c is canonical
// JSON, so it is valid and has no whitespace.
func skipValue(c []byte, i int) int {
	switch c[i] {
	case '"':
		return skipString(c, i)
	case '{', '[':
		depth := 0
		for {
			switch c[i] {
			case '"':
				i = skipString(c, i)
				continue
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return i + 1
				}
			}
			i++
		}
	}
	for c[i] != ',' && c[i] != '}' && c[i] != ']' {
		i++
	}
	return i
}

// short quotes at most 80 bytes of an untrusted value for a verdict.
func short(b []byte) string {
	if len(b) > 80 {
		return fmt.Sprintf("%.80s... (%d bytes)", b, len(b))
	}
	return string(b)
}
