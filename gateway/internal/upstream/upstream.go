// Package upstream speaks MCP to one upstream server at the JSON-RPC level: the gateway's
// requests go out with their params as the agent wrote them, and results, notifications and
// the server's own requests come back as the server wrote them, each with the context of the
// call whose response stream carried it.
//
// API CONTRACT (the proxy is written against it; keep the exported names and meanings):
//
//   - Connect opens a session: it starts the transport, sends `initialize` with the given raw
//     params, and returns once the server has answered. It does NOT send
//     notifications/initialized: the proxy forwards the agent's own (Notify), so the server
//     sees the handshake in the agent's order.
//   - Call sends one request and returns the raw result; a JSON-RPC error is returned as the
//     *jsonrpc.Error the server sent. When ctx ends first, the server is sent
//     notifications/cancelled for it and Call returns ctx.Err().
//   - Everything the server sends to its client goes to Handler: over streamable HTTP, what
//     arrives on a call's response stream is handled with that Call's ctx (so the proxy knows
//     exactly which agent request it belongs to); what arrives on the standalone GET stream,
//     and everything over stdio (which cannot say), with the session's own context.
//   - Done is closed when the session is lost (child exited, HTTP session gone, Close).
package upstream

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"os/exec"
)

// Handler receives what the server sends to its client.
type Handler struct {
	// Request answers a server-to-client request (sampling/createMessage, elicitation/create,
	// roots/list, ping, or any other). Return a *jsonrpc.Error to answer with that error.
	Request func(ctx context.Context, method string, params json.RawMessage) (json.RawMessage, error)
	// Notify receives a notification. It is called in the order the server sent them, before
	// the result that followed them is returned by Call.
	Notify func(ctx context.Context, method string, params json.RawMessage)
}

// HTTP is a streamable HTTP upstream.
type HTTP struct {
	URL    string
	Client *http.Client // nil: a client with a pooled transport of its own
	Header http.Header  // sent with every request (for instance Authorization)
}

// Stdio is an upstream started as a child process for each session.
type Stdio struct {
	Command *exec.Cmd // a fresh, unstarted command for each session
}

// Config is how to reach the upstream and what to do with what it sends.
type Config struct {
	HTTP    *HTTP  // exactly one of HTTP and Stdio
	Stdio   *Stdio //
	Handler Handler
	Logger  *slog.Logger
	// MaxMessageBytes bounds one message from the server; 0 means DefaultMaxMessageBytes.
	MaxMessageBytes int64
}

// DefaultMaxMessageBytes bounds one message from an upstream unless configured otherwise.
const DefaultMaxMessageBytes = 16 << 20

// ErrSessionLost is wrapped by the error of calls that fail because the session ended.
var ErrSessionLost = errors.New("upstream session lost")

// Session is one session with one upstream server.
type Session struct {
	init json.RawMessage
}

// Connect starts the transport and performs `initialize` with params (raw, as the agent sent
// them, with the protocol version the gateway negotiated).
func Connect(ctx context.Context, cfg Config, params json.RawMessage) (*Session, error) {
	return nil, errors.New("upstream: not implemented")
}

// InitializeResult is the server's initialize result as it wrote it.
func (s *Session) InitializeResult() json.RawMessage { return s.init }

// Call sends a request and returns its raw result.
func (s *Session) Call(ctx context.Context, method string, params json.RawMessage) (json.RawMessage, error) {
	return nil, errors.New("upstream: not implemented")
}

// Notify sends a notification.
func (s *Session) Notify(ctx context.Context, method string, params json.RawMessage) error {
	return errors.New("upstream: not implemented")
}

// Close ends the session (HTTP: DELETE; stdio: the child is asked to exit, then killed after
// a grace period) and waits for it.
func (s *Session) Close() error { return nil }

// Done is closed when the session has ended, for whatever reason; Err then says why.
func (s *Session) Done() <-chan struct{} { return nil }

// Err is why the session ended (nil while it runs, or after Close).
func (s *Session) Err() error { return nil }
