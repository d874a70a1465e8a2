package fanout

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// The memo encodes a result once per call: a second ask for the same result gets the size
// remembered (here shown by changing the result in between), another result is measured.
func TestResultSizeIsMeasuredOncePerCall(t *testing.T) {
	r := &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "hello"}}}
	b, _ := json.Marshal(r)
	ctx := withSizeMemo(context.Background())
	if n := resultSize(ctx, r); n != uint64(len(b)) {
		t.Fatalf("size %d, want %d", n, len(b))
	}
	r.Content = append(r.Content, &mcp.TextContent{Text: "more"})
	if n := resultSize(ctx, r); n != uint64(len(b)) {
		t.Fatalf("the same result was measured again: %d", n)
	}
	other := &mcp.CallToolResult{Content: []mcp.Content{}}
	ob, _ := json.Marshal(other)
	if n := resultSize(ctx, other); n != uint64(len(ob)) {
		t.Fatalf("another result: %d, want %d", n, len(ob))
	}
	if n := resultSize(context.Background(), r); n <= uint64(len(b)) {
		t.Fatalf("without a memo the result is measured as it is now: %d", n)
	}
	if n := resultSize(ctx, nil); n != 0 {
		t.Fatalf("nil result: %d", n)
	}
}

// The audit service refuses NUL in text fields; an upstream error that carries one is still
// recorded (with U+FFFD in its place), so the call is not failed closed for it.
func TestErrorTextHasNoNUL(t *testing.T) {
	got := errorText(errors.New("upstream said \x00 twice\x00"))
	if want := "upstream said \uFFFD twice\uFFFD"; got != want {
		t.Fatalf("errorText = %q, want %q", got, want)
	}
}
