package proxy

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strings"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// The gateway's edge, HTTP (edge) and stdio (rawConn), sees every message an agent sends
// before the SDK does. It serves single requests itself (serve.go) and takes the agents'
// answers to its own requests (outbound.go). What it leaves to the SDK's server (initialize,
// notifications/initialized, and the requests of a JSON-RPC batch) reaches the middleware
// with its bytes kept:
//
//   - Params: the edge copies the params as sent, and the request's id, into the request's
//     RequestExtra.Header under keys no client can set; the middleware takes them from there.
//   - Results: the middleware returns a rawResult, which the SDK encodes as the upstream
//     wrote it.

// rawParamsKey is not in canonical header form: net/http stores every header it reads under
// its canonical form, so no client can set this key; only the gateway's own code can.
const rawParamsKey = "osiris-raw-params"

// rawIDKey holds the request's JSON-RPC id as sent, which names its response stream.
const rawIDKey = "osiris-raw-id"

// stash puts params (nil: absent) and the request's id where the middleware finds them.
func stash(h http.Header, id string, params json.RawMessage) {
	h[rawIDKey] = []string{id}
	if params == nil {
		h[rawParamsKey] = []string{"-"}
		return
	}
	h[rawParamsKey] = []string{"p" + string(params)}
}

// stashedID is the request's id as sent, or "".
func stashedID(req mcp.Request) string {
	if extra := req.GetExtra(); extra != nil && len(extra.Header[rawIDKey]) == 1 {
		return extra.Header[rawIDKey][0]
	}
	return ""
}

// stashed returns the params as the agent sent them, and false when they were not stashed.
func stashed(req mcp.Request) (json.RawMessage, bool) {
	extra := req.GetExtra()
	if extra == nil || extra.Header == nil {
		return nil, false
	}
	v := extra.Header[rawParamsKey]
	if len(v) != 1 || v[0] == "" {
		return nil, false
	}
	if v[0] == "-" {
		return nil, true
	}
	return json.RawMessage(v[0][1:]), true
}

// paramsOf is the request's params as sent, or, when they were not stashed (a JSON-RPC
// batch), as the SDK decoded them.
func paramsOf(req mcp.Request) (json.RawMessage, error) {
	if raw, ok := stashed(req); ok {
		return raw, nil
	}
	p := req.GetParams()
	if isNil(p) {
		return nil, nil
	}
	return json.Marshal(p)
}

// envelope is the part of a JSON-RPC message the edge reads.
type envelope struct {
	ID     json.RawMessage `json:"id"`
	Method string          `json:"method"`
	Params json.RawMessage `json:"params"`
	Result json.RawMessage `json:"result"`
	Error  json.RawMessage `json:"error"`
}

// edge is the proxy's side of the HTTP edge, before the SDK's handler. For a POST holding one
// JSON-RPC message it reads the body and: refuses an initialize past MaxSessions before the
// SDK creates a session for it; takes the agent's answers to the gateway's own requests
// (outbound.go); serves every request but the handshake and ping itself (serve.go) and
// forwards notifications to the upstreams; stashes the params and id of what it leaves to the
// SDK. A GET's response is registered as the agent's own stream. A JSON-RPC batch is left to
// the SDK (its params then reach the upstream as the SDK decoded them, and a method the SDK
// does not know in it is refused by the SDK).
func (p *Proxy) edge(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sid := r.Header.Get("Mcp-Session-Id")
		l := p.linkByID(sid)
		if r.Method == http.MethodGet && l != nil && sid != "" {
			l.out.serve(next, w, r, "", l.listened)
			return
		}
		if r.Method != http.MethodPost || r.Body == nil {
			next.ServeHTTP(w, r)
			return
		}
		body, err := io.ReadAll(r.Body)
		r.Body.Close()
		if err != nil {
			if e, ok := errors.AsType[*http.MaxBytesError](err); ok {
				http.Error(w, fmt.Sprintf("request body exceeds %d bytes", e.Limit), http.StatusRequestEntityTooLarge)
				return
			}
			http.Error(w, "reading the request body: "+err.Error(), http.StatusBadRequest)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		var env envelope
		if trimmed := bytes.TrimLeft(body, " \t\r\n"); len(trimmed) == 0 || trimmed[0] != '{' || json.Unmarshal(body, &env) != nil {
			next.ServeHTTP(w, r)
			return
		}
		switch {
		case env.Method == "initialize" && sid == "":
			if p.cfg.MaxSessions > 0 && p.Sessions() >= p.cfg.MaxSessions {
				// A JSON-RPC error in a 200, as the SDK answers errors, so clients show its message.
				w.Header().Set("Content-Type", "application/json")
				w.Write(encode(response(env.ID, nil, &jsonrpc.Error{Code: CodeAtCapacity, Message: p.atCapacity()})))
				return
			}
		case l == nil:
			// No session of the gateway's: the SDK answers (404 for an unknown session).
		case p.ownAnswer(l, env):
			w.WriteHeader(http.StatusAccepted)
			return
		case env.Method == "notifications/cancelled":
			l.cancelled(env.Params)
		case env.Method == "" || sdkOwned(env.Method):
		case len(env.ID) == 0:
			l.touch()
			l.notifyUpstreams(r.Context(), env.Method, env.Params)
			w.WriteHeader(http.StatusAccepted)
			return
		default:
			p.serveHTTP(w, r, l, env)
			return
		}
		r.Header = r.Header.Clone()
		stash(r.Header, string(env.ID), env.Params)
		next.ServeHTTP(w, r)
	})
}

// rawStdio is the stdio edge's half of the stash: its connection stashes each request's
// params as it reads them.
type rawStdio struct {
	mcp.Transport
	p *Proxy
}

func (t rawStdio) Connect(ctx context.Context) (mcp.Connection, error) {
	c, err := t.Transport.Connect(ctx)
	if err != nil {
		return nil, err
	}
	rc := &rawConn{c, t.p}
	t.p.mu.Lock()
	t.p.stdioConn = rc
	t.p.mu.Unlock()
	return rc, nil
}

type rawConn struct {
	mcp.Connection
	p *Proxy
}

func (c *rawConn) Read(ctx context.Context) (jsonrpc.Message, error) {
	for {
		msg, err := c.Connection.Read(ctx)
		if err != nil {
			return msg, err
		}
		if resp, ok := msg.(*jsonrpc.Response); ok {
			if id, ok := resp.ID.Raw().(string); ok && strings.HasPrefix(id, idPrefix) {
				if l := c.p.linkByID(""); l != nil {
					rpcErr, _ := resp.Error.(*jsonrpc.Error)
					if resp.Error != nil && rpcErr == nil {
						rpcErr = &jsonrpc.Error{Code: jsonrpc.CodeInternalError, Message: resp.Error.Error()}
					}
					l.answered(id, resp.Result, rpcErr)
				}
				continue
			}
		}
		req, ok := msg.(*jsonrpc.Request)
		if !ok {
			return msg, nil
		}
		if l := c.p.linkByID(""); l != nil && !sdkOwned(req.Method) {
			if req.IsCall() {
				go c.serve(l, req)
			} else {
				l.notifyUpstreams(context.Background(), req.Method, req.Params)
			}
			continue
		}
		if l := c.p.linkByID(""); l != nil && req.Method == "notifications/cancelled" {
			l.cancelled(req.Params)
		}
		h := http.Header{}
		id, _ := json.Marshal(req.ID.Raw())
		stash(h, string(id), req.Params)
		req.Extra = &mcp.RequestExtra{Header: h}
		return msg, nil
	}
}

// Stashing is an agent transport other than streamable HTTP (stdio) with params stashed.
func (p *Proxy) Stashing(t mcp.Transport) mcp.Transport { return rawStdio{t, p} }

// stdio is the stdio agent's connection, if the gateway serves one.
func (p *Proxy) stdio() *rawConn {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stdioConn
}

// registerTasks registers the task methods of the 2025-11-25 specification, which the SDK's
// server does not know, so the SDK keeps their requests' state like any other's.
func registerTasks(s *mcp.Server) error {
	for _, m := range []string{"tasks/get", "tasks/result", "tasks/list", "tasks/cancel"} {
		err := mcp.AddReceivingCustomMethod(s, m, func(context.Context, *mcp.ServerSession, *rawParams) (*rawResult, error) {
			return nil, fmt.Errorf("%s is forwarded by the gateway's middleware", m)
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// rawResult is a result the SDK sends as the upstream wrote it.
type rawResult struct {
	mcp.ResultBase
	raw json.RawMessage
}

func (r *rawResult) MarshalJSON() ([]byte, error) {
	if len(r.raw) == 0 {
		return []byte("{}"), nil
	}
	return r.raw, nil
}

// rawParams are the params of a task method as sent (registerTasks); the SDK decodes them
// into nothing but their bytes.
type rawParams struct {
	mcp.ParamsBase
	raw json.RawMessage
}

func (p *rawParams) MarshalJSON() ([]byte, error) {
	if len(p.raw) == 0 {
		return []byte("{}"), nil
	}
	return p.raw, nil
}

func (p *rawParams) UnmarshalJSON(b []byte) error {
	p.raw = append(json.RawMessage(nil), b...)
	return nil
}

// isNil reports a typed nil inside an interface: the SDK hands omitted params that way, and
// calling methods on them panics.
func isNil(v any) bool {
	if v == nil {
		return true
	}
	rv := reflect.ValueOf(v)
	return rv.Kind() == reflect.Pointer && rv.IsNil()
}
