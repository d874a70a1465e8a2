package proxy

import (
	"context"
	"errors"
	"fmt"
	"reflect"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// link is one downstream session and its upstream session.
type link struct {
	proxy *Proxy
	ss    *mcp.ServerSession
	cs    *mcp.ClientSession
	calls *calls
	order *ordering
}

// forward sends one downstream request upstream, with the downstream request's context (so
// cancellation and deadlines carry over), and returns the upstream's result or its error
// unchanged.
func (l *link) forward(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
	params := req.GetParams()
	if isNil(params) {
		params = nil
	}
	done := l.calls.begin(ctx, params)
	defer done()
	res, err := l.call(ctx, method, params)
	l.order.wait(l.order.mark())
	return res, passError(err)
}

func (l *link) call(ctx context.Context, method string, params mcp.Params) (mcp.Result, error) {
	cs := l.cs
	switch p := params.(type) {
	case *mcp.CallToolParamsRaw:
		return cs.CallTool(ctx, &mcp.CallToolParams{Meta: p.Meta, Name: p.Name, Arguments: p.Arguments,
			InputResponses: p.InputResponses, RequestState: p.RequestState})
	case *mcp.ListToolsParams:
		return cs.ListTools(ctx, p)
	case *mcp.ListPromptsParams:
		return cs.ListPrompts(ctx, p)
	case *mcp.GetPromptParams:
		return cs.GetPrompt(ctx, p)
	case *mcp.ListResourcesParams:
		return cs.ListResources(ctx, p)
	case *mcp.ListResourceTemplatesParams:
		return cs.ListResourceTemplates(ctx, p)
	case *mcp.ReadResourceParams:
		return cs.ReadResource(ctx, p)
	case *mcp.CompleteParams:
		return cs.Complete(ctx, p)
	case *mcp.ProgressNotificationParams:
		return nil, cs.NotifyProgress(ctx, p)
	}
	switch method {
	case "tools/list":
		return cs.ListTools(ctx, nil)
	case "prompts/list":
		return cs.ListPrompts(ctx, nil)
	case "resources/list":
		return cs.ListResources(ctx, nil)
	case "resources/templates/list":
		return cs.ListResourceTemplates(ctx, nil)
	}
	return nil, &jsonrpc.Error{Code: jsonrpc.CodeMethodNotFound, Message: fmt.Sprintf("method %q is not supported by the gateway", method)}
}

// passError returns the upstream's JSON-RPC error itself, so its code, message and data reach
// the client unchanged; the SDK would otherwise wrap it.
func passError(err error) error {
	var rpc *jsonrpc.Error
	if errors.As(err, &rpc) {
		return rpc
	}
	return err
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
