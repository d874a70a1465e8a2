package recorder

import (
	"bytes"
	"encoding/json"
	"fmt"
	"unicode/utf8"

	"google.golang.org/protobuf/types/known/structpb"
)

// Truncation of attachments, as in the original Osiris telemetry: an attachment whose JSON
// is over TruncateOverBytes is stored as a string holding its first TruncateKeepChars
// characters and "... [TRUNCATED: N bytes total]". The JSON is compact, with map keys
// sorted, so the same attachment always measures the same.
const (
	TruncateOverBytes = 4096
	TruncateKeepChars = 2048
)

// Truncate returns v, or the string that replaces it when its JSON is too long. v has been
// validated (finite numbers only), so it always encodes.
func Truncate(v *structpb.Value) (*structpb.Value, error) {
	if v == nil {
		return nil, nil
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v.AsInterface()); err != nil {
		return nil, fmt.Errorf("attachment cannot be encoded as JSON: %w", err)
	}
	js := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
	if len(js) <= TruncateOverBytes {
		return v, nil
	}
	return structpb.NewStringValue(fmt.Sprintf("%s... [TRUNCATED: %d bytes total]", firstChars(js, TruncateKeepChars), len(js))), nil
}

// firstChars is the prefix of b holding its first n characters (runes), so a cut never
// splits a multi-byte character.
func firstChars(b []byte, n int) []byte {
	i := 0
	for range n {
		if i >= len(b) {
			break
		}
		_, size := utf8.DecodeRune(b[i:])
		i += size
	}
	return b[:i]
}
