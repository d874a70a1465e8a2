package proxy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
)

// What an upstream sends to the agent (notifications and requests) the gateway writes itself,
// as the upstream wrote it, on the agent's streams. The SDK's sending API cannot do that: it
// sends only the methods it knows (notifications/tasks/status and a server's tasks/result
// request to the client are not among them), always with params, and it decodes the agent's
// answer into its own types (member order and unknown members lost). So:
//
//   - over streamable HTTP, the edge wraps the response of each POST that carries a request
//     (its SSE stream) and of the agent's GET (its own stream) in a streamWriter, registered by
//     the request's JSON-RPC id and by session; a message for a request's stream is one more
//     SSE event on it, serialized with the SDK's own events (the SDK writes each event with a
//     single Write), a message outside any call goes on the GET stream;
//   - over stdio, the message is written on the agent's connection;
//   - the gateway's requests to the agent carry ids of its own ("osiris-N"), so the agent's
//     answers are recognised before the SDK sees them and go to the upstream as written.

// idPrefix starts the ids of the gateway's own requests to agents.
const idPrefix = "osiris-"

// message is one JSON-RPC message the gateway writes to an agent.
type message struct {
	Version string          `json:"jsonrpc"`
	ID      json.RawMessage `json:"id,omitempty"`
	Method  string          `json:"method,omitempty"`
	Params  json.RawMessage `json:"params,omitempty"`
}

// encode writes the message around its params' bytes, unchanged.
func (m message) encode() []byte {
	out := make([]byte, 0, len(m.Params)+len(m.Method)+len(m.ID)+48)
	out = append(out, `{"jsonrpc":"2.0"`...)
	if m.ID != nil {
		out = append(append(out, `,"id":`...), m.ID...)
	}
	out = append(append(out, `,"method":`...), quote(m.Method)...)
	if m.Params != nil {
		out = append(append(out, `,"params":`...), m.Params...)
	}
	return append(out, '}')
}

// errNoStream: the agent has no stream open to take the message.
var errNoStream = errors.New("the agent has no stream open to receive it")

// streamWriter is one HTTP response the SDK streams to an agent, which the gateway may add
// events to while the SDK's handler runs.
type streamWriter struct {
	http.ResponseWriter
	own      bool // the gateway answers this request itself (serve.go), not the SDK
	sse      bool // own: the response is an event stream
	mu       sync.Mutex
	closed   bool
	onHeader func() // called once the SDK has written the response's header
	once     sync.Once
}

func (w *streamWriter) WriteHeader(status int) {
	w.mu.Lock()
	w.ResponseWriter.WriteHeader(status)
	w.mu.Unlock()
	if status == http.StatusOK && w.onHeader != nil {
		w.once.Do(w.onHeader)
	}
}

func (w *streamWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.ResponseWriter.Write(b)
}

func (w *streamWriter) Flush() { w.FlushError() }

func (w *streamWriter) FlushError() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return http.NewResponseController(w.ResponseWriter).Flush()
}

func (w *streamWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// event adds one SSE event holding data, if the response is an event stream (or, for the
// gateway's own, can still become one) and its handler still runs.
func (w *streamWriter) event(data []byte) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return errNoStream
	}
	if !strings.HasPrefix(w.Header().Get("Content-Type"), "text/event-stream") {
		return errNoStream
	}
	buf := make([]byte, 0, len(data)+24)
	buf = append(buf, "event: message\ndata: "...)
	buf = append(append(buf, data...), "\n\n"...)
	if _, err := w.ResponseWriter.Write(buf); err != nil {
		return err
	}
	return http.NewResponseController(w.ResponseWriter).Flush()
}

// startSSE makes the gateway's own response an event stream (the header goes with the first
// event).
func (w *streamWriter) startSSE() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.sse = true
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache, no-transform")
}

// respond writes the gateway's own response: the last event of its stream, or the whole body.
func (w *streamWriter) respond(body []byte) {
	w.mu.Lock()
	sse := w.sse
	w.mu.Unlock()
	if sse {
		w.event(body)
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.ResponseWriter.Write(body)
}

// finish marks the response over: the SDK's handler has returned.
func (w *streamWriter) finish() {
	w.mu.Lock()
	w.closed = true
	w.mu.Unlock()
}

// streams are one HTTP session's responses open to the gateway.
type streams struct {
	mu   sync.Mutex
	get  *streamWriter
	post map[string]*streamWriter // by the raw JSON-RPC id of the request
}

// serve runs the SDK's handler for r with its response registered (by request id, or as the
// agent's own stream for a GET); listened, if set, is called once the SDK has written the
// response's header (for a GET: its stream is attached).
func (s *streams) serve(next http.Handler, w http.ResponseWriter, r *http.Request, id string, listened func()) {
	sw := &streamWriter{ResponseWriter: w, onHeader: listened}
	s.register(id, sw)
	defer s.unregister(id, sw)
	next.ServeHTTP(sw, r)
}

// register names a response stream: by request id, or "" for the agent's own.
func (s *streams) register(id string, sw *streamWriter) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if id == "" {
		s.get = sw
	} else {
		s.post[id] = sw
	}
}

// unregister ends a response stream: nothing more is written to it.
func (s *streams) unregister(id string, sw *streamWriter) {
	sw.finish()
	s.mu.Lock()
	defer s.mu.Unlock()
	if id == "" && s.get == sw {
		s.get = nil
	} else if s.post[id] == sw {
		delete(s.post, id)
	}
}

func (s *streams) write(reqID string, data []byte) error {
	s.mu.Lock()
	post, get := s.post[reqID], s.get
	s.mu.Unlock()
	if post != nil && post.event(data) == nil {
		return nil
	}
	if get != nil {
		return get.event(data)
	}
	return errNoStream
}

// answer is an agent's answer to one of the gateway's requests.
type answer struct {
	result json.RawMessage
	err    error
}

// write sends a message to this agent: on the stream of the request ctx's sink belongs to,
// else on the agent's own stream.
func (l *link) write(ctx context.Context, m message) error {
	m.Version = "2.0"
	if c := l.proxy.stdio(); c != nil && l.ss.ID() == "" {
		return c.write(m)
	}
	data := m.encode()
	reqID := ""
	if s, ok := sinkFrom(ctx); ok {
		reqID = s.reqID
	}
	return l.out.write(reqID, data)
}

// notify sends a notification, as the upstream wrote it, to this agent only.
func (l *link) notify(ctx context.Context, method string, params json.RawMessage) {
	if err := l.write(ctx, message{Method: method, Params: params}); err != nil {
		l.proxy.cfg.Logger.Debug("notification not relayed", "session", l.id, "method", method, "err", err)
	}
}

// request sends a request, as the upstream wrote it, to this agent and returns its answer as
// the agent wrote it.
func (l *link) request(ctx context.Context, method string, params json.RawMessage) (json.RawMessage, error) {
	id := fmt.Sprintf("%s%d", idPrefix, l.proxy.seq.Add(1))
	ch := make(chan answer, 1)
	l.mu.Lock()
	l.pending[id] = ch
	l.mu.Unlock()
	defer func() {
		l.mu.Lock()
		delete(l.pending, id)
		l.mu.Unlock()
	}()
	if err := l.write(ctx, message{ID: quote(id), Method: method, Params: params}); err != nil {
		return nil, &jsonrpc.Error{Code: jsonrpc.CodeInternalError, Message: fmt.Sprintf("relaying %s to the agent: %v", method, err)}
	}
	select {
	case a := <-ch:
		return a.result, a.err
	case <-ctx.Done():
		params, _ := json.Marshal(map[string]any{"requestId": id, "reason": "the upstream's request ended"})
		l.write(l.bg, message{Method: "notifications/cancelled", Params: params})
		return nil, ctx.Err()
	case <-l.gone:
		return nil, &jsonrpc.Error{Code: jsonrpc.CodeInternalError, Message: "the agent's session ended"}
	}
}

// answered hands the agent's answer to the request waiting for it; it reports whether one was.
func (l *link) answered(id string, result json.RawMessage, rpcErr *jsonrpc.Error) bool {
	l.mu.Lock()
	ch := l.pending[id]
	l.mu.Unlock()
	if ch == nil {
		return false
	}
	a := answer{result: result}
	if rpcErr != nil {
		a.err = rpcErr
	}
	select {
	case ch <- a:
	default:
	}
	return true
}

// ownAnswer reports whether a message the agent sent is an answer to one of the gateway's
// requests, and hands it over.
func (p *Proxy) ownAnswer(l *link, env envelope) bool {
	var id string
	if env.Method != "" || json.Unmarshal(env.ID, &id) != nil || !strings.HasPrefix(id, idPrefix) {
		return false
	}
	var rpcErr *jsonrpc.Error
	if len(env.Error) > 0 {
		rpcErr = &jsonrpc.Error{}
		if json.Unmarshal(env.Error, rpcErr) != nil {
			rpcErr = &jsonrpc.Error{Code: jsonrpc.CodeInternalError, Message: "the agent answered with a malformed error"}
		}
	}
	l.answered(id, env.Result, rpcErr)
	return true
}

// write sends a message on a stdio agent's connection.
func (c *rawConn) write(m message) error {
	var msg jsonrpc.Message = &jsonrpc.Request{Method: m.Method, Params: m.Params}
	if m.ID != nil {
		var id string
		json.Unmarshal(m.ID, &id)
		jid, err := jsonrpc.MakeID(id)
		if err != nil {
			return err
		}
		msg = &jsonrpc.Request{ID: jid, Method: m.Method, Params: m.Params}
	}
	return c.Connection.Write(context.Background(), msg)
}
