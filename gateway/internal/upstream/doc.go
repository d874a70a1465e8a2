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
//
// # Why this is below the Go SDK's client
//
// The gateway used mcp.Client for its upstreams, and three things made it unfit for a proxy:
//
//  1. It decodes every result into the SDK's types and encodes it again, so unknown fields
//     vanish, null and false become absent and members change order. Here params and results
//     stay json.RawMessage from one side to the other; only the JSON-RPC envelope is decoded.
//  2. It never opened the standalone GET stream for the gateway: the stream starts from an
//     unexported hook (sessionUpdated) that a wrapped connection hides, so everything an HTTP
//     upstream sent outside a call was lost. Here Listen opens it (the proxy calls it when the
//     agent opens its own stream).
//  3. It merges all SSE streams of a session into one queue, so a log line or a sampling
//     request could not be tied to the call that caused it, and a result could overtake the
//     notifications sent before it. Here each call reads its own response stream in its own
//     goroutine and hands what it carries to Handler, in order, with the call's context.
//
// The SDK is still used where it fits: its jsonrpc package for messages (over HTTP they are
// decoded into its types by decodeMessage, which costs a fraction of its decoder) and its
// CommandTransport for stdio children (framing and process lifecycle).
//
// # Limits
//
// One message from a server (a JSON body, one SSE event) is bounded by
// Config.MaxMessageBytes; over stdio the SDK bounds a line by mcp.DefaultMaxLineLength, and
// a message over MaxMessageBytes is refused after it was read. The other limits are the
// constants of http.go, stdio.go and stream.go.
package upstream
