package proxy

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/osirisplane/osiris/gateway/internal/wire"
)

// link is one downstream session (an agent) and its sessions with every upstream.
type link struct {
	proxy   *Proxy
	ss      *mcp.ServerSession
	id      string          // see wire.Call.Session
	params  json.RawMessage // the agent's initialize params, reused to re-initialise an upstream
	version string          // negotiated with the agent
	ups     []*upLink       // in the order of the configuration
	routes  *routes         // with several upstreams: which one owns a URI or a task
	calls   *calls          // in flight, for upstreams that cannot say which call a message is for
	bg      context.Context // for messages outside any call: they go on the agent's own stream
	out     *streams        // over HTTP, the agent's streams the gateway writes to

	gone        chan struct{} // closed when the agent's session has ended
	listening   chan struct{} // closed when the agent's own stream (HTTP GET) is open
	upListening chan struct{} // closed when the upstreams' own streams are open after it
	listenOnce  sync.Once
	readyCh     chan struct{} // closed when ready

	mu               sync.Mutex
	ready            bool                          // the agent is initialized and can receive on its own stream
	agentInitialized bool                          // the agent sent notifications/initialized
	readyParams      json.RawMessage               // its params, sent again to a re-initialised upstream
	held             []held                        // what upstreams sent outside any call before that
	pending          map[string]chan answer        // the gateway's requests to the agent, by id
	inflight         map[string]context.CancelFunc // the agent's requests the edge serves, by id
	active           atomic.Int64                  // when the session last served something (UnixNano)
}

// held is a message from an upstream kept until the agent has finished initializing.
type held struct {
	method string
	params json.RawMessage
}

// maxHeld bounds what an upstream may send before the agent has finished initializing.
const maxHeld = 256

// listenWait bounds how long messages outside any call wait, after the agent's initialized,
// for the agent to open its own stream (clients open it right after initializing; the SDK
// refuses a message for a stream not open yet).
const listenWait = 2 * time.Second

// initialize lets the SDK answer (it negotiates the version and keeps the session's state),
// opens the upstream sessions with the agent's params and that version, and answers with
// the upstream's own initialize result.
func (p *Proxy) initialize(ctx context.Context, next mcp.MethodHandler, ss *mcp.ServerSession, req mcp.Request, params json.RawMessage) (mcp.Result, error) {
	res, err := next(ctx, "initialize", req)
	if err != nil {
		return nil, err
	}
	init, ok := res.(*mcp.InitializeResult)
	if !ok {
		return res, nil
	}
	l := p.link(ss)
	if l == nil {
		version, _ := json.Marshal(init.ProtocolVersion)
		if params, err = wire.SetMember(params, "protocolVersion", version); err != nil {
			return nil, &jsonrpc.Error{Code: jsonrpc.CodeInvalidParams, Message: "initialize params: " + err.Error()}
		}
		if l, err = p.connect(ctx, ss, params, init.ProtocolVersion); err != nil {
			return nil, err
		}
	}
	return &rawResult{raw: l.initializeResult(init)}, nil
}

// initializeResult is the one upstream's initialize result with the negotiated version, or
// with several upstreams the union of their capabilities under the gateway's name.
func (l *link) initializeResult(gateway *mcp.InitializeResult) json.RawMessage {
	version, _ := json.Marshal(gateway.ProtocolVersion)
	if len(l.ups) == 1 {
		out, err := wire.SetMember(l.ups[0].initializeResult(), "protocolVersion", version)
		if err == nil {
			return out
		}
	}
	caps := map[string]any{}
	var instructions []string
	for _, u := range l.ups {
		var up struct {
			Capabilities map[string]any `json:"capabilities"`
			Instructions string         `json:"instructions"`
		}
		dec := json.NewDecoder(bytes.NewReader(u.initializeResult()))
		dec.UseNumber()
		if dec.Decode(&up) != nil {
			continue
		}
		union(caps, up.Capabilities)
		if up.Instructions != "" {
			instructions = append(instructions, u.up.Name+": "+up.Instructions)
		}
	}
	out, _ := json.Marshal(struct {
		ProtocolVersion string              `json:"protocolVersion"`
		Capabilities    map[string]any      `json:"capabilities"`
		ServerInfo      *mcp.Implementation `json:"serverInfo"`
		Instructions    string              `json:"instructions,omitempty"`
	}{gateway.ProtocolVersion, caps, gateway.ServerInfo, strings.Join(instructions, "\n\n")})
	return out
}

// union merges capabilities: a feature any upstream offers is offered, with every flag any
// of them sets.
func union(into, from map[string]any) {
	for k, v := range from {
		switch v := v.(type) {
		case map[string]any:
			sub, ok := into[k].(map[string]any)
			if !ok {
				sub = map[string]any{}
				into[k] = sub
			}
			union(sub, v)
		case bool:
			prev, _ := into[k].(bool)
			into[k] = prev || v
		default:
			if _, ok := into[k]; !ok {
				into[k] = v
			}
		}
	}
}

func (p *Proxy) connect(ctx context.Context, ss *mcp.ServerSession, params json.RawMessage, version string) (*link, error) {
	p.mu.Lock()
	if p.cfg.MaxSessions > 0 && len(p.links) >= p.cfg.MaxSessions {
		p.mu.Unlock()
		return nil, &jsonrpc.Error{Code: CodeAtCapacity, Message: p.atCapacity()}
	}
	// bg must not carry the initialize request's values: the SDK would send on its stream.
	l := &link{proxy: p, ss: ss, id: ss.ID(), params: params, version: version, routes: newRoutes(), calls: newCalls(),
		bg: context.Background(), out: &streams{post: map[string]*streamWriter{}}, pending: map[string]chan answer{}, inflight: map[string]context.CancelFunc{}, listening: make(chan struct{}), upListening: make(chan struct{}), readyCh: make(chan struct{}), gone: make(chan struct{})}
	if l.id == "" {
		l.id = newStdioSessionID()
	}
	for i, up := range p.cfg.Upstreams {
		prefix := ""
		if len(p.cfg.Upstreams) > 1 {
			prefix = up.Name + "_"
		}
		u := newUpLink(l, up, prefix)
		u.shared = p.shared[i] // nil unless the upstream is shared
		l.ups = append(l.ups, u)
	}
	p.links[ss] = l // reserve the place before dialling, so the bound holds under concurrent initializes
	p.byID[ss.ID()] = l
	p.mu.Unlock()
	for _, u := range l.ups {
		if err := u.open(ctx); err != nil {
			for _, opened := range l.ups {
				opened.close()
			}
			p.drop(ss)
			p.cfg.Logger.Error("upstream unavailable; the agent's initialize fails", "upstream", u.up.Name, "session", l.id, "err", err)
			return nil, &jsonrpc.Error{Code: CodeUpstreamUnavailable, Message: fmt.Sprintf("upstream %s is unavailable: %v", u.up.Name, err)}
		}
	}
	l.touch()
	if p.cfg.Opened != nil {
		p.cfg.Opened(ctx, l.id, ss.InitializeParams())
	}
	p.supervisor.Go(l.supervise)
	return l, nil
}

// initialized forwards the agent's notifications/initialized to every upstream (so each sees
// the handshake in the agent's order, and may now ask it for roots). What the upstreams send
// outside any call is relayed once the agent can receive it: over HTTP when it has opened its
// own stream (or after listenWait), over stdio at once.
func (l *link) initialized(ctx context.Context, params json.RawMessage) {
	l.mu.Lock()
	l.agentInitialized, l.readyParams = true, params
	l.mu.Unlock()
	stdio := l.ss.ID() == ""
	select {
	case <-l.listening:
		<-l.upListening // the agent listened first: so do the upstreams, before initialized
	default:
		if stdio {
			l.listenUpstreams(ctx) // a stdio agent receives everything on its one stream
		}
	}
	l.notifyUpstreams(ctx, "notifications/initialized", params)
	if stdio {
		l.markReady()
		return
	}
	go func() {
		t := time.NewTimer(listenWait)
		defer t.Stop()
		select {
		case <-l.listening:
		case <-t.C:
			l.listenUpstreams(l.bg)
		case <-l.gone:
			return
		}
		l.markReady()
	}()
}

// listened marks the agent's own stream open, and opens the upstreams' own streams, in the
// agent's order: an upstream sees its client listen when the agent listens.
func (l *link) listened() {
	l.listenOnce.Do(func() {
		close(l.listening)
		go func() {
			l.listenUpstreams(l.bg)
			close(l.upListening)
		}()
	})
}

// listenUpstreams opens the standalone stream of every upstream session of the agent's own.
func (l *link) listenUpstreams(ctx context.Context) {
	for _, u := range l.ups {
		if s := u.current(); s != nil {
			s.Listen(ctx)
		}
	}
}

// listeningNow reports whether the agent's own stream is open.
func (l *link) listeningNow() bool {
	select {
	case <-l.listening:
		return true
	default:
		return l.ss.ID() == ""
	}
}

func (l *link) markReady() {
	l.mu.Lock()
	if l.ready {
		l.mu.Unlock()
		return
	}
	l.ready = true
	held := l.held
	l.held = nil
	l.mu.Unlock()
	for _, h := range held {
		l.notify(l.bg, h.method, h.params)
	}
	close(l.readyCh)
}

// awaitReady waits until the agent can receive messages outside any call, or ctx ends.
func (l *link) awaitReady(ctx context.Context) {
	select {
	case <-l.readyCh:
	case <-ctx.Done():
	case <-l.gone:
	}
}

// readiness reports whether the agent has sent notifications/initialized, with its params.
func (l *link) readiness() (bool, json.RawMessage) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.agentInitialized, l.readyParams
}

// hold keeps a message sent outside any call until the agent has finished initializing, and
// reports whether it did.
func (l *link) hold(method string, params json.RawMessage) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.ready {
		return false
	}
	if len(l.held) < maxHeld {
		l.held = append(l.held, held{method, params})
	} else {
		l.proxy.cfg.Logger.Warn("upstream sent too much before the agent finished initializing; dropped", "session", l.id, "method", method)
	}
	return true
}

// notifyUpstreams forwards a notification from the agent to every upstream.
func (l *link) notifyUpstreams(ctx context.Context, method string, params json.RawMessage) {
	for _, u := range l.ups {
		if err := u.notify(ctx, method, params); err != nil {
			l.proxy.cfg.Logger.Debug("notification not forwarded", "upstream", u.up.Name, "method", method, "err", err)
		}
	}
}

// supervise ties the sessions' lives together. When the agent leaves, every upstream session
// closes (and stdio children exit). When an upstream session ends first (a child died, a
// server dropped the session), it is re-initialised, once per loss: calls in flight fail, the
// next call works. If re-initialising fails, or the new session is lost within
// minUpstreamLife, the agent's session ends with a clear error instead of hanging.
func (l *link) supervise() {
	began := time.Now()
	defer func() { l.proxy.cfg.Metrics.sessionEnded(began, l.version) }()
	agentGone := l.gone
	go func() { l.ss.Wait(); close(agentGone) }()
	var wg sync.WaitGroup
	for _, u := range l.ups {
		wg.Go(func() { u.supervise(agentGone) })
	}
	l.closeWhenIdle(agentGone)
	wg.Wait()
	l.proxy.drop(l.ss)
	if l.proxy.cfg.Closed != nil {
		l.proxy.cfg.Closed(l.id)
	}
}

// closeWhenIdle waits until the agent has gone, closing its session when it has served
// nothing for the proxy's SessionTimeout (the SDK would count only the requests it serves
// itself, and the edge serves most).
func (l *link) closeWhenIdle(agentGone <-chan struct{}) {
	timeout := l.proxy.cfg.SessionTimeout
	if timeout <= 0 {
		<-agentGone
		return
	}
	tick := time.NewTicker(min(timeout/4, time.Minute))
	defer tick.Stop()
	for {
		select {
		case <-agentGone:
			return
		case <-tick.C:
			if l.idle(timeout) {
				l.proxy.cfg.Logger.Info("agent session idle; closed", "session", l.id, "idle", timeout)
				l.ss.Close()
			}
		}
	}
}

// forward sends one agent request upstream with the request's context, so cancellation and
// deadlines carry over, and returns the upstream's result or error unchanged.
func (l *link) forward(ctx context.Context, call *wire.Call) (*wire.Reply, error) {
	done := l.calls.begin(ctx, call.ProgressToken())
	defer done()
	if len(l.ups) == 1 {
		return l.ups[0].call(ctx, call.Method, call.Params)
	}
	return l.route(ctx, call)
}

// quote is s as a JSON string.
func quote(s string) json.RawMessage {
	b, _ := json.Marshal(s)
	return b
}
