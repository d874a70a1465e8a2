package proxy

import (
	"context"
	"crypto/rand"
	"encoding/hex"
)

type sessionIDKey struct{}

// SessionID is the id of the agent session a request belongs to, as the proxy passes it to
// Around: the MCP session id over HTTP, a generated one over stdio (which has none). The
// audit log, telemetry and the session service all use this id.
func SessionID(ctx context.Context) string {
	id, _ := ctx.Value(sessionIDKey{}).(string)
	return id
}

func withSessionID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, sessionIDKey{}, id)
}

func newStdioSessionID() string {
	var b [16]byte
	rand.Read(b[:])
	return "stdio_" + hex.EncodeToString(b[:])
}
