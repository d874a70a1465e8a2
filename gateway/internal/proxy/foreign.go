package proxy

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"

	"github.com/osirisplane/osiris/gateway/internal/wire"
)

// A request for a method the SDK's server does not know (an extension, or a method newer
// than the SDK) would be refused by the SDK before any handler saw it: HTTP 400 over
// streamable HTTP, -32601 over stdio. The upstream may know it, so the gateway forwards it
// itself, through the same fan-out, and answers with the upstream's result or error. The
// SDK cannot learn methods at run time without a data race (it reads its method table
// unlocked), so these requests go around it: what the upstream sends while serving one goes
// on the agent's own stream, not the request's. Notifications the SDK does not know are
// still refused by it.

// foreign reports whether method is a request the SDK's server would refuse.
func (p *Proxy) foreign(method string, isCall bool) bool {
	return method != "" && isCall && !p.sdk[method] && !strings.HasPrefix(method, "notifications/")
}

// foreignHTTP answers a POST of such a request for an existing session.
func (p *Proxy) foreignHTTP(w http.ResponseWriter, r *http.Request, env envelope) bool {
	if !p.foreign(env.Method, len(env.ID) > 0) {
		return false
	}
	l := p.linkByID(r.Header.Get("Mcp-Session-Id"))
	if l == nil {
		return false // no such session: the SDK answers as it does for any request
	}
	res, err := p.serveForeign(r.Context(), l, env.Method, env.Params)
	body, _ := json.Marshal(response(env.ID, res, err))
	w.Header().Set("Content-Type", "application/json")
	w.Write(body)
	return true
}

func (p *Proxy) serveForeign(ctx context.Context, l *link, method string, params json.RawMessage) (json.RawMessage, error) {
	call := &wire.Call{Method: method, Params: params, Session: l.id}
	ctx = withSink(ctx, l, call.ProgressToken())
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

func (p *Proxy) linkByID(id string) *link {
	p.mu.Lock()
	defer p.mu.Unlock()
	for ss, l := range p.links {
		if ss.ID() == id {
			return l
		}
	}
	return nil
}

// answerForeign answers such a request read from a stdio agent, on its connection.
func (c rawConn) answerForeign(l *link, req *jsonrpc.Request) {
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
