package proxy

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"

	"github.com/osirisplane/osiris/gateway/internal/wire"
)

// The gateway serves every single request an agent sends, except the handshake and ping,
// at its edge, before the SDK's server decodes it: the SDK would decode each message into its
// own types three to four times (the envelope, the request's _meta twice, the params), each
// time through a decoder that allocates a fresh 32 KiB buffer, and that garbage was the
// largest share of the gateway's CPU (docs/gateway.md, "Where the time goes"). The SDK keeps
// what it is for: the sessions and their ids, initialize, ping, cancellation of what it
// serves, the agent's own stream, and JSON-RPC batches.

// serve runs one agent request through the fan-out and forwards it; reqID is its JSON-RPC id
// as sent (the name of its response stream).
func (p *Proxy) serve(ctx context.Context, l *link, method string, params json.RawMessage, reqID string, header http.Header) (result json.RawMessage, err error) {
	began := time.Now()
	call := &wire.Call{Method: method, Params: params, Session: l.id}
	defer func() { p.cfg.Metrics.operation(ctx, began, call, l.version, err) }()
	ctx, span := p.traced(ctx, call, header)
	defer span.End()
	ctx = withSink(ctx, l, reqID, call.ProgressToken())
	reply, err := p.cfg.Around(ctx, call, func(ctx context.Context) (*wire.Reply, error) { return l.forward(ctx, call) })
	if err != nil {
		return nil, err
	}
	return reply.Result, nil
}

// sdkOwned are the methods the SDK's server handles for the gateway.
func sdkOwned(method string) bool {
	switch method {
	case "initialize", "ping", "notifications/initialized", "notifications/cancelled":
		return true
	}
	return false
}

// serveHTTP answers one request at the edge: an event stream when the agent accepts one (as the
// SDK answers), else JSON, with what the upstream sends for the request on the agent's own
// stream.
func (p *Proxy) serveHTTP(w http.ResponseWriter, r *http.Request, l *link, env envelope) {
	id := string(env.ID)
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	done := l.begin(id, cancel)
	defer done()
	sw := &streamWriter{ResponseWriter: w, own: true}
	if strings.Contains(r.Header.Get("Accept"), "text/event-stream") {
		sw.startSSE()
	}
	l.out.register(id, sw)
	defer l.out.unregister(id, sw)
	res, err := p.serve(ctx, l, env.Method, env.Params, id, r.Header)
	sw.respond(encode(response(env.ID, res, err)))
}

// serveStdio answers one request read from a stdio agent, on its connection.
func (c *rawConn) serve(l *link, req *jsonrpc.Request) {
	id, _ := json.Marshal(req.ID.Raw())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := l.begin(string(id), cancel)
	defer done()
	res, err := c.p.serve(ctx, l, req.Method, req.Params, string(id), nil)
	out := &jsonrpc.Response{ID: req.ID, Result: res}
	if err != nil {
		out.Result, out.Error = nil, response(nil, nil, err).Error
	} else if len(res) == 0 {
		out.Result = json.RawMessage("{}")
	}
	if err := c.Connection.Write(context.Background(), out); err != nil {
		c.p.cfg.Logger.Debug("answer to the agent not written", "method", req.Method, "err", err)
	}
}

// begin records a request served at the edge, so the agent can cancel it and the session
// counts as busy; done removes it.
func (l *link) begin(id string, cancel context.CancelFunc) (done func()) {
	l.mu.Lock()
	l.inflight[id] = cancel
	l.mu.Unlock()
	l.touch()
	return func() {
		l.mu.Lock()
		delete(l.inflight, id)
		l.mu.Unlock()
		l.touch()
	}
}

// cancelled cancels a request served at the edge, when the agent's notifications/cancelled
// names it.
func (l *link) cancelled(params json.RawMessage) {
	var p struct {
		RequestID json.RawMessage `json:"requestId"`
	}
	if json.Unmarshal(params, &p) != nil {
		return
	}
	l.mu.Lock()
	cancel := l.inflight[string(p.RequestID)]
	l.mu.Unlock()
	if cancel != nil {
		cancel()
	}
}

// touch marks the session active now.
func (l *link) touch() { l.active.Store(time.Now().UnixNano()) }

// idle reports whether the session has served nothing for d and has nothing in flight.
func (l *link) idle(d time.Duration) bool {
	l.mu.Lock()
	busy := len(l.inflight)
	l.mu.Unlock()
	return busy == 0 && time.Since(time.Unix(0, l.active.Load())) >= d
}

// wireResponse is a JSON-RPC response as the gateway writes it itself.
type wireResponse struct {
	Version string          `json:"jsonrpc"`
	ID      json.RawMessage `json:"id"`
	Result  json.RawMessage `json:"result,omitempty"`
	Error   *jsonrpc.Error  `json:"error,omitempty"`
}

func response(id, result json.RawMessage, err error) wireResponse {
	out := wireResponse{Version: "2.0", ID: id}
	if err == nil {
		out.Result = result
		if len(out.Result) == 0 {
			out.Result = json.RawMessage("{}")
		}
		return out
	}
	if rpc, ok := errors.AsType[*jsonrpc.Error](passError(err)); ok {
		out.Error = rpc
	} else {
		out.Error = &jsonrpc.Error{Code: jsonrpc.CodeInternalError, Message: err.Error()}
	}
	return out
}

// linkByID is the agent session with this Mcp-Session-Id ("" for the stdio agent).
func (p *Proxy) linkByID(id string) *link {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.byID[id]
}

// encode writes a response as JSON around the result's bytes, unchanged (encoding/json would
// escape <, > and & inside them).
func encode(r wireResponse) []byte {
	if r.Error != nil {
		b, _ := json.Marshal(r)
		return b
	}
	out := make([]byte, 0, len(r.Result)+len(r.ID)+32)
	out = append(out, `{"jsonrpc":"2.0","id":`...)
	out = append(out, r.ID...)
	out = append(out, `,"result":`...)
	out = append(out, r.Result...)
	return append(out, '}')
}
