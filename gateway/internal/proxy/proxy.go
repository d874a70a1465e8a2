// Package proxy is the transparent MCP proxy at the heart of the gateway. Each downstream
// session (an agent) gets its own upstream sessions, opened inside the agent's initialize
// with the agent's own initialize params, so one agent's sampling requests, logs, progress
// and resource updates can never reach another agent.
//
// Towards agents the official Go SDK's server keeps the protocol's state machine
// (initialize, ping, sessions and their streams, cancellation). Everything else passes as
// the peers wrote it (raw.go): the agent's params go upstream unchanged but for the _meta
// keys the gateway documents, and the upstream's results, notifications and requests come
// back unchanged, on the stream of the agent request they belong to (relay.go). Upstreams
// are spoken to at the JSON-RPC level by package upstream.
package proxy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/osirisplane/osiris/gateway/internal/upstream"
	"github.com/osirisplane/osiris/gateway/internal/wire"
)

// JSON-RPC error codes of the gateway's own refusals, in the range JSON-RPC leaves to
// implementations (-32000 to -32099).
const (
	// CodeUpstreamUnavailable: an upstream could not be started or reached.
	CodeUpstreamUnavailable = -32050
	// CodeAtCapacity: the gateway serves --max-sessions sessions already.
	CodeAtCapacity = -32051
)

// Upstream is one upstream MCP server. Config returns how to reach it for one new session
// (a fresh command for a stdio server); the proxy adds the handler and logger.
type Upstream struct {
	Name   string
	Config func() upstream.Config
	// Shared: one upstream session serves every agent, for servers declared stateless
	// (shared.go). Otherwise each agent has its own (a stdio server: its own child).
	Shared bool
	// Idle: an agent's own upstream session unused this long is closed (its child exits)
	// and reopened by the agent's next request; 0 keeps it as long as the agent's session.
	Idle time.Duration
}

// Config describes a proxy.
type Config struct {
	// Upstreams are the servers behind the gateway. With one, names pass through unchanged;
	// with several, tool and prompt names are prefixed "NAME_".
	Upstreams []Upstream
	Around    wire.Around // nil: forward as is
	Logger    *slog.Logger
	// Version is reported as the gateway's own implementation version.
	Version string
	// SessionTimeout closes an agent's session (over HTTP) that has served nothing for this
	// long; 0 keeps it until the agent leaves.
	SessionTimeout time.Duration
	// MaxSessions bounds how many downstream sessions (and so upstream sessions and stdio
	// children) exist at once; 0 means no bound.
	MaxSessions int
	// Metrics, when set, records the MCP semantic-convention instruments.
	Metrics *Metrics
	// Tracer and Propagator, when set, trace every request and carry W3C trace context from
	// the agent to the upstream (see traced).
	Tracer     trace.Tracer
	Propagator propagation.TextMapPropagator
	// Opened and Closed, when set, are told when an agent session starts (after its upstream
	// sessions opened) and ends.
	Opened func(ctx context.Context, id string, params *mcp.InitializeParams)
	Closed func(id string)
}

// Proxy maps downstream sessions to upstream sessions. Create it with New.
type Proxy struct {
	cfg    Config
	server *mcp.Server

	mu         sync.Mutex
	links      map[*mcp.ServerSession]*link
	shared     []*sharedUp // by upstream, nil for those not shared
	supervisor sync.WaitGroup
	byID       map[string]*link // the same links by session id ("" for the stdio agent)
	stdioConn  *rawConn         // the stdio agent's connection, if any
	seq        atomic.Uint64    // ids of the gateway's own requests to agents
}

// New builds the proxy and its MCP server.
func New(cfg Config) (*Proxy, error) {
	if cfg.Around == nil {
		cfg.Around = func(ctx context.Context, _ *wire.Call, forward wire.Forward) (*wire.Reply, error) {
			return forward(ctx)
		}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	p := &Proxy{cfg: cfg, links: map[*mcp.ServerSession]*link{}, byID: map[string]*link{}, shared: make([]*sharedUp, len(cfg.Upstreams))}
	for i, up := range cfg.Upstreams {
		if up.Shared {
			p.shared[i] = newShared(p, up)
		}
	}
	p.server = mcp.NewServer(&mcp.Implementation{Name: "osiris-gateway", Version: cfg.Version}, &mcp.ServerOptions{Logger: cfg.Logger})
	if err := registerTasks(p.server); err != nil {
		return nil, err
	}
	p.server.AddReceivingMiddleware(p.receive)
	return p, nil
}

// Server is the MCP server to serve over HTTP or stdio (with StdioTransport).
func (p *Proxy) Server() *mcp.Server { return p.server }

// Handler wraps the SDK's streamable HTTP handler for this proxy (edge, in raw.go).
func (p *Proxy) Handler(sdk http.Handler) http.Handler { return p.edge(sdk) }

func (p *Proxy) atCapacity() string {
	return fmt.Sprintf("the gateway serves at most %d sessions at once; close one or retry later", p.cfg.MaxSessions)
}

// Sessions is how many downstream sessions have upstream sessions now.
func (p *Proxy) Sessions() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.links)
}

// receive is the SDK server's middleware. Single requests over HTTP and stdio are served by
// the gateway's edge before the SDK decodes them (serve.go); what reaches the SDK is the
// handshake (initialize, notifications/initialized), ping, cancellation, and the requests of a
// JSON-RPC batch, which the SDK splits.
func (p *Proxy) receive(next mcp.MethodHandler) mcp.MethodHandler {
	return func(ctx context.Context, method string, req mcp.Request) (res mcp.Result, err error) {
		ss, _ := req.GetSession().(*mcp.ServerSession)
		switch method {
		case "ping", "notifications/cancelled":
			return next(ctx, method, req)
		}
		params, err := paramsOf(req)
		if err != nil {
			return nil, err
		}
		var header http.Header
		if extra := req.GetExtra(); extra != nil {
			header = extra.Header
		}
		if method == "initialize" {
			began := time.Now()
			call := &wire.Call{Method: method, Params: params}
			defer func() { p.cfg.Metrics.operation(ctx, began, call, protocolVersion(ss), err) }()
			ctx, span := p.traced(ctx, call, header)
			defer span.End()
			return p.initialize(ctx, next, ss, req, params)
		}
		l := p.link(ss)
		if l == nil {
			return nil, errors.New("session is not initialized")
		}
		if method == "notifications/initialized" {
			res, err := next(ctx, method, req)
			l.initialized(ctx, params)
			return res, err
		}
		if isNotification(method) {
			l.notifyUpstreams(ctx, method, params)
			return nil, nil
		}
		result, err := p.serve(ctx, l, method, params, stashedID(req), header)
		if err != nil {
			return nil, passError(err)
		}
		return &rawResult{raw: result}, nil
	}
}

func isNotification(method string) bool {
	return len(method) > len("notifications/") && method[:len("notifications/")] == "notifications/"
}

func protocolVersion(ss *mcp.ServerSession) string {
	if ss == nil {
		return ""
	}
	if ip := ss.InitializeParams(); ip != nil {
		return ip.ProtocolVersion
	}
	return ""
}

func (p *Proxy) link(ss *mcp.ServerSession) *link {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.links[ss]
}

// Close ends every session and waits until each upstream session has closed (and each stdio
// child has exited), or until ctx ends.
func (p *Proxy) Close(ctx context.Context) error {
	p.mu.Lock()
	for ss := range p.links {
		ss.Close()
	}
	p.mu.Unlock()
	done := make(chan struct{})
	go func() {
		p.supervisor.Wait()
		for _, sh := range p.shared {
			if sh != nil {
				sh.close()
			}
		}
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("upstream sessions still closing: %w", ctx.Err())
	}
}

func (p *Proxy) drop(ss *mcp.ServerSession) {
	p.mu.Lock()
	if l := p.links[ss]; l != nil && p.byID[ss.ID()] == l {
		delete(p.byID, ss.ID())
	}
	delete(p.links, ss)
	p.mu.Unlock()
}

// passError returns a JSON-RPC error itself, so its code, message and data reach the agent
// unchanged; the SDK would otherwise wrap it.
func passError(err error) error {
	if rpc, ok := errors.AsType[*jsonrpc.Error](err); ok {
		return rpc
	}
	if rej, ok := errors.AsType[Rejection](err); ok {
		return rej.Err
	}
	return err
}
