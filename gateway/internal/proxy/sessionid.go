package proxy

import (
	"crypto/rand"
	"encoding/hex"
)

// newStdioSessionID names the session of an agent over stdio, which has no Mcp-Session-Id;
// the audit log, telemetry and the session service key on it (wire.Call.Session).
func newStdioSessionID() string {
	var b [16]byte
	rand.Read(b[:])
	return "stdio_" + hex.EncodeToString(b[:])
}
