package sessions

import (
	"strings"
	"testing"
	"time"
)

// The original id formats and generated ids are accepted; nothing else outside 1 to 128
// visible ASCII characters is.
func TestIDs(t *testing.T) {
	now := time.Date(2025, 11, 4, 15, 30, 12, 0, time.UTC)
	for _, id := range []string{"20251104_153012_a1b2c3d4", "chat_1762270212", "connections_1762270212345", "ephemeral_validate_1762270212", newID(now), strings.Repeat("~", 128), "!"} {
		if err := checkID("id", id); err != nil {
			t.Fatalf("%q refused: %v", id, err)
		}
	}
	for _, id := range []string{"", " ", "a b", "tab\t", "é", "nul\x00", strings.Repeat("a", 129), "del\x7f"} {
		if checkID("id", id) == nil {
			t.Fatalf("%q accepted", id)
		}
	}
	a, b := newID(now), newID(now)
	if a == b || !strings.HasPrefix(a, "20251104_153012_") || len(a) != len("20251104_153012_")+32 {
		t.Fatalf("generated ids %q, %q", a, b)
	}
}

// Page tokens come from clients: decoding never panics, and what the service issues decodes
// to what it encoded.
func FuzzPageToken(f *testing.F) {
	for _, s := range []string{"", "AQ", "AWE", "%%%", encodeToken("session:abc"), encodeToken(strings.Repeat("k", 256))} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, tok string) {
		last, err := decodeToken(tok)
		if err == nil && tok != "" && last == "" {
			t.Fatalf("token %q decoded to an empty position", tok)
		}
		if tok == "" {
			return // the service never issues a token for an empty id or key
		}
		if got, err := decodeToken(encodeToken(tok)); err != nil || got != tok {
			t.Fatalf("round trip of %q: %q, %v", tok, got, err)
		}
	})
}
