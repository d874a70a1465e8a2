package fanout

import (
	"context"
	"encoding/json"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// The audit and telemetry fan-outs both record a call's bytes_out, the size of its result as
// JSON. Encoding a result only to measure it is the costliest part of either, so the audit
// fan-out (outermost) leaves a memo in the call's context and whichever asks first encodes.

type sizeKey struct{}

type sizeMemo struct {
	of   *mcp.CallToolResult
	size uint64
}

// withSizeMemo returns ctx with room to remember one result's size.
func withSizeMemo(ctx context.Context) context.Context {
	return context.WithValue(ctx, sizeKey{}, &sizeMemo{})
}

// resultSize is the length of r as JSON (0 for nil or if it cannot be encoded), remembered
// in ctx's memo when there is one.
func resultSize(ctx context.Context, r *mcp.CallToolResult) uint64 {
	if r == nil {
		return 0
	}
	memo, _ := ctx.Value(sizeKey{}).(*sizeMemo)
	if memo != nil && memo.of == r {
		return memo.size
	}
	var n uint64
	if b, err := json.Marshal(r); err == nil {
		n = uint64(len(b))
	}
	if memo != nil {
		memo.of, memo.size = r, n
	}
	return n
}
