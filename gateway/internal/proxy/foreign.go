package proxy

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"

	"github.com/osirisplane/osiris/gateway/internal/wire"
)

// A request or notification for a method the SDK's server does not know (an extension, a
// client's notifications/tasks/status, or a method newer than the SDK) would be refused by
// the SDK before any handler saw it: HTTP 400 over streamable HTTP, -32601 over stdio. The
// upstream may know it, so the gateway forwards it itself, through the same fan-out, and
// answers with the upstream's result or error (a notification goes to every upstream). The
// SDK cannot learn methods at run time without a data race (it reads its method table
// unlocked), so these go around it: what the upstream sends while serving such a request
// goes on the agent's own stream, not the request's.

// foreign reports whether method is a request or notification the SDK's server would refuse.
func (p *Proxy) foreign(method string) bool {
	return method != "" && !p.sdk[method]
}

// answerForeign answers a POST of such a request for an existing session; a notification
// goes to every upstream.
func (p *Proxy) answerForeign(w http.ResponseWriter, r *http.Request, l *link, env envelope) {
	if len(env.ID) == 0 {
		l.notifyUpstreams(r.Context(), env.Method, env.Params)
		w.WriteHeader(http.StatusAccepted)
		return
	}
	res, err := p.serveForeign(r.Context(), l, env.Method, env.Params)
	body, _ := json.Marshal(response(env.ID, res, err))
	w.Header().Set("Content-Type", "application/json")
	w.Write(body)
}

func (p *Proxy) serveForeign(ctx context.Context, l *link, method string, params json.RawMessage) (json.RawMessage, error) {
	call := &wire.Call{Method: method, Params: params, Session: l.id}
	ctx = withSink(ctx, l, "", call.ProgressToken())
	reply, err := p.cfg.Around(ctx, call, func(ctx context.Context) (*wire.Reply, error) { return l.forward(ctx, call) })
	if err != nil {
		return nil, err
	}
	return reply.Result, nil
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

// answerForeign answers such a request read from a stdio agent, on its connection.
func (c *rawConn) answerForeign(l *link, req *jsonrpc.Request) {
	if !req.IsCall() {
		l.notifyUpstreams(context.Background(), req.Method, req.Params)
		return
	}
	res, err := c.p.serveForeign(context.Background(), l, req.Method, req.Params)
	out := &jsonrpc.Response{ID: req.ID, Result: res}
	if err != nil {
		r := response(nil, nil, err)
		out.Result, out.Error = nil, r.Error
	} else if len(res) == 0 {
		out.Result = json.RawMessage("{}")
	}
	if err := c.Connection.Write(context.Background(), out); err != nil {
		c.p.cfg.Logger.Debug("answer to the agent not written", "method", req.Method, "err", err)
	}
}
