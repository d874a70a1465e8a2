package proxy

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// link is one downstream session and its upstream session.
type link struct {
	proxy   *Proxy
	ss      *mcp.ServerSession
	calls   *calls
	order   *ordering
	params  *mcp.InitializeParams // the agent's, reused to re-initialise the upstream
	version string

	mu sync.Mutex
	cs *mcp.ClientSession // replaced when the upstream is re-initialised
}

func (l *link) session() *mcp.ClientSession {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.cs
}

func (l *link) setSession(cs *mcp.ClientSession) {
	l.mu.Lock()
	l.cs = cs
	l.mu.Unlock()
}

// dial opens an upstream session with the agent's capabilities and protocol version.
func (l *link) dial(ctx context.Context) (*mcp.ClientSession, error) {
	t, err := l.proxy.cfg.Dial(ctx)
	if err != nil {
		return nil, err
	}
	client := mcp.NewClient(clientInfo(l.params), l.clientOptions(l.params.Capabilities))
	client.AddReceivingMiddleware(l.relay)
	// The upstream session outlives the request that opens it, so it must not share its context.
	return client.Connect(context.WithoutCancel(ctx), countingTransport{Transport: t, order: l.order},
		&mcp.ClientSessionOptions{ProtocolVersion: l.version})
}

// minUpstreamLife: an upstream session lost sooner than this after it was opened is not
// re-initialised again, so a child that crashes at start cannot loop.
const minUpstreamLife = time.Second

// supervise ties the two sessions' lives together. When the agent leaves, the upstream
// session closes (and a stdio child exits). When the upstream session ends first (a child
// died, a server dropped the session), it is re-initialised, once per loss: calls in flight
// fail, the next call works. If re-initialising fails, or the new session is lost within
// minUpstreamLife, the agent's session ends with a clear error instead of hanging.
func (l *link) supervise(cs *mcp.ClientSession) {
	began := time.Now()
	defer func() { l.proxy.cfg.Metrics.sessionEnded(began, l.version) }()
	agentGone := make(chan struct{})
	go func() { l.ss.Wait(); close(agentGone) }()
	for opened := time.Now(); ; opened = time.Now() {
		upstreamGone := make(chan struct{})
		go func() { cs.Wait(); close(upstreamGone) }()
		select {
		case <-agentGone:
			cs.Close()
			<-upstreamGone
			l.proxy.drop(l.ss)
			return
		case <-upstreamGone:
		}
		if time.Since(opened) < minUpstreamLife {
			l.proxy.cfg.Logger.Warn("upstream session lost right after it opened; closing the agent's session", "session", l.ss.ID())
			l.ss.Close()
			<-agentGone
			l.proxy.drop(l.ss)
			return
		}
		next, err := l.dial(context.Background())
		if err != nil {
			l.proxy.cfg.Logger.Warn("upstream session lost; closing the agent's session", "session", l.ss.ID(), "err", err)
			l.ss.Close()
			<-agentGone
			l.proxy.drop(l.ss)
			return
		}
		l.proxy.cfg.Logger.Info("upstream session lost; re-initialised", "session", l.ss.ID())
		l.setSession(next)
		cs = next
	}
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
	began := time.Now()
	res, err := l.call(ctx, method, params)
	l.proxy.cfg.Metrics.upstream(ctx, began, method, params, l.version, err)
	l.order.wait(l.order.mark())
	return res, passError(err)
}

func (l *link) call(ctx context.Context, method string, params mcp.Params) (mcp.Result, error) {
	cs := l.session()
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
