package proxy

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"sync/atomic"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// link is one downstream session (an agent) and its sessions with every upstream.
type link struct {
	proxy   *Proxy
	ss      *mcp.ServerSession
	id      string // see SessionID
	calls   *calls
	params  *mcp.InitializeParams // the agent's, reused to re-initialise an upstream
	version string
	ups     []*upLink // in the order of the configuration
	routes  *routes   // with several upstreams: which one owns a name or URI
}

// upLink is the link's session with one upstream.
type upLink struct {
	link   *link
	up     Upstream
	prefix string // "NAME_" with several upstreams, "" with one
	order  *ordering
	tagged atomic.Bool // its transport tags messages with their call (see origin.go)

	mu sync.Mutex
	cs *mcp.ClientSession // replaced when the upstream is re-initialised
}

func (u *upLink) session() *mcp.ClientSession {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.cs
}

func (u *upLink) setSession(cs *mcp.ClientSession) {
	u.mu.Lock()
	u.cs = cs
	u.mu.Unlock()
}

// dial opens a session with this upstream, with the agent's capabilities and protocol version.
func (u *upLink) dial(ctx context.Context) (*mcp.ClientSession, error) {
	t, err := u.up.Dial(ctx)
	if err != nil {
		return nil, err
	}
	t, tagged := tagging(t)
	u.tagged.Store(tagged)
	client := mcp.NewClient(clientInfo(u.link.params), u.link.clientOptions(u.link.params.Capabilities))
	client.AddReceivingMiddleware(u.relay)
	// The upstream session outlives the request that opens it, so it must not share its context.
	return client.Connect(context.WithoutCancel(ctx), countingTransport{Transport: t, order: u.order},
		&mcp.ClientSessionOptions{ProtocolVersion: u.link.version})
}

// minUpstreamLife: an upstream session lost sooner than this after it was opened is not
// re-initialised again, so a child that crashes at start cannot loop.
const minUpstreamLife = time.Second

// supervise ties the sessions' lives together. When the agent leaves, every upstream session
// closes (and stdio children exit). When an upstream session ends first (a child died, a
// server dropped the session), it is re-initialised, once per loss: calls in flight fail, the
// next call works. If re-initialising fails, or the new session is lost within
// minUpstreamLife, the agent's session ends with a clear error instead of hanging.
func (l *link) supervise() {
	began := time.Now()
	defer func() { l.proxy.cfg.Metrics.sessionEnded(began, l.version) }()
	agentGone := make(chan struct{})
	go func() { l.ss.Wait(); close(agentGone) }()
	var wg sync.WaitGroup
	for _, u := range l.ups {
		wg.Go(func() { u.supervise(agentGone) })
	}
	<-agentGone
	wg.Wait()
	l.proxy.drop(l.ss)
	if l.proxy.cfg.Closed != nil {
		l.proxy.cfg.Closed(l.id)
	}
}

func (u *upLink) supervise(agentGone <-chan struct{}) {
	cs := u.session()
	for opened := time.Now(); ; opened = time.Now() {
		upstreamGone := make(chan struct{})
		go func() { cs.Wait(); close(upstreamGone) }()
		select {
		case <-agentGone:
			cs.Close()
			<-upstreamGone
			return
		case <-upstreamGone:
		}
		log := u.link.proxy.cfg.Logger.With("session", u.link.ss.ID(), "upstream", u.up.Name)
		if time.Since(opened) < minUpstreamLife {
			log.Warn("upstream session lost right after it opened; closing the agent's session")
			u.link.ss.Close()
			return
		}
		next, err := u.dial(context.Background())
		if err != nil {
			log.Warn("upstream session lost and could not be re-initialised; closing the agent's session", "err", err)
			u.link.ss.Close()
			return
		}
		log.Info("upstream session lost; re-initialised")
		u.setSession(next)
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
	id, done := l.calls.begin(ctx, params)
	defer done()
	ctx = withCall(ctx, id)
	if len(l.ups) > 1 {
		return l.route(ctx, method, params)
	}
	return l.ups[0].forward(ctx, method, params)
}

// forward calls this upstream and holds the result until the notifications it sent before
// the result are relayed.
func (u *upLink) forward(ctx context.Context, method string, params mcp.Params) (mcp.Result, error) {
	began := time.Now()
	res, err := u.call(ctx, method, params)
	u.link.proxy.cfg.Metrics.upstream(ctx, began, method, params, u.link.version, err)
	u.order.wait(u.order.mark())
	return res, passError(err)
}

func (u *upLink) call(ctx context.Context, method string, params mcp.Params) (mcp.Result, error) {
	cs := u.session()
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
