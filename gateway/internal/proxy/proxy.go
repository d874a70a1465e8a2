// Package proxy is the transparent MCP proxy at the heart of the gateway, built on the
// official Go SDK. Each downstream session (an agent) gets its own upstream client session,
// opened inside the downstream initialize with that agent's capabilities, so one agent's
// sampling requests, logs, progress and resource updates can never reach another agent.
//
// Downstream to upstream: one receiving middleware forwards every method except the ones the
// SDK answers itself (initialize, ping, initialized and cancelled notifications).
// Upstream to downstream: the upstream client's handlers relay sampling, elicitation, roots,
// logging, progress, resource updates and list changes to the downstream session, on the
// stream of the call they belong to where that can be known.
package proxy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// Dial opens a transport to an upstream server for one downstream session.
type Dial func(ctx context.Context) (mcp.Transport, error)

// Upstream is one upstream MCP server.
type Upstream struct {
	Name string
	Dial Dial
}

// Around wraps every forwarded request; the gateway's fan-out (audit, telemetry, session,
// cache) plugs in here. forward performs the upstream call.
type Around func(ctx context.Context, ss *mcp.ServerSession, method string, req mcp.Request, forward func(context.Context) (mcp.Result, error)) (mcp.Result, error)

// Config describes a proxy.
type Config struct {
	// Upstreams are the servers behind the gateway. With one, names pass through unchanged;
	// with several, tool and prompt names are prefixed "NAME_".
	Upstreams []Upstream
	Around    Around // nil: forward as is
	Logger    *slog.Logger
	// Version is reported as the gateway's own implementation version to upstreams.
	Version string
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
	supervisor sync.WaitGroup
	send       mcp.MethodHandler // the server's sending handler, captured for notifications to one session
}

// New builds the proxy and its MCP server.
func New(cfg Config) *Proxy {
	if cfg.Around == nil {
		cfg.Around = func(ctx context.Context, _ *mcp.ServerSession, _ string, _ mcp.Request, forward func(context.Context) (mcp.Result, error)) (mcp.Result, error) {
			return forward(ctx)
		}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	p := &Proxy{cfg: cfg, links: map[*mcp.ServerSession]*link{}}
	p.server = mcp.NewServer(&mcp.Implementation{Name: "osiris-gateway", Version: cfg.Version}, &mcp.ServerOptions{
		Logger: cfg.Logger,
		// Methods whose result the SDK builds itself (an empty one) reach the upstream through
		// these hooks; the default handlers call them and answer.
		SubscribeHandler: func(ctx context.Context, req *mcp.SubscribeRequest) error {
			return p.upstream(req.Session, func(l *link) error {
				return passError(l.byURI(req.Params.URI).session().Subscribe(ctx, req.Params))
			})
		},
		UnsubscribeHandler: func(ctx context.Context, req *mcp.UnsubscribeRequest) error {
			return p.upstream(req.Session, func(l *link) error {
				return passError(l.byURI(req.Params.URI).session().Unsubscribe(ctx, req.Params))
			})
		},
	})
	p.server.AddSendingMiddleware(p.captureSend)
	p.server.AddReceivingMiddleware(p.receive)
	return p
}

// Server is the MCP server to serve over HTTP or stdio.
func (p *Proxy) Server() *mcp.Server { return p.server }

// Sessions is how many downstream sessions have an upstream session now.
func (p *Proxy) Sessions() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.links)
}

func (p *Proxy) captureSend(next mcp.MethodHandler) mcp.MethodHandler {
	p.mu.Lock()
	p.send = next
	p.mu.Unlock()
	return next
}

func (p *Proxy) receive(next mcp.MethodHandler) mcp.MethodHandler {
	return func(ctx context.Context, method string, req mcp.Request) (res mcp.Result, err error) {
		ss, _ := req.GetSession().(*mcp.ServerSession)
		began := time.Now()
		defer func() { p.cfg.Metrics.operation(ctx, began, method, req, protocolVersion(ss), err) }()
		ctx, span := p.traced(ctx, method, req)
		defer span.End()
		switch method {
		case "initialize":
			return p.initialize(ctx, next, ss, req)
		case "ping", "notifications/initialized", "notifications/cancelled":
			return next(ctx, method, req)
		}
		l := p.link(ss)
		if l == nil {
			return nil, errors.New("session is not initialized")
		}
		ctx = withSessionID(ctx, l.id)
		forward := func(ctx context.Context) (mcp.Result, error) { return l.forward(ctx, method, req) }
		switch method {
		case "resources/subscribe", "resources/unsubscribe":
			forward = func(ctx context.Context) (mcp.Result, error) { return next(ctx, method, req) }
		case "logging/setLevel":
			// Upstream first; then the downstream session records the level, because it filters
			// what it relays by its own level.
			forward = func(ctx context.Context) (mcp.Result, error) {
				params, _ := req.GetParams().(*mcp.SetLoggingLevelParams)
				for _, u := range l.ups {
					if err := passError(u.session().SetLoggingLevel(ctx, params)); err != nil {
						return nil, err
					}
				}
				return next(ctx, method, req)
			}
		}
		return p.cfg.Around(ctx, ss, method, req, forward)
	}
}

// initialize lets the SDK answer, then opens the upstream session with this client's
// capabilities and reports the upstream's capabilities, instructions and identity.
func (p *Proxy) initialize(ctx context.Context, next mcp.MethodHandler, ss *mcp.ServerSession, req mcp.Request) (mcp.Result, error) {
	res, err := next(ctx, "initialize", req)
	if err != nil {
		return nil, err
	}
	params, _ := req.GetParams().(*mcp.InitializeParams)
	init, ok := res.(*mcp.InitializeResult)
	if !ok || params == nil {
		return res, nil
	}
	l, err := p.connect(ctx, ss, params, init.ProtocolVersion)
	if err != nil {
		return nil, fmt.Errorf("upstream unavailable: %w", err)
	}
	if len(l.ups) == 1 {
		up := l.ups[0].session().InitializeResult()
		init.Capabilities, init.Instructions, init.ServerInfo = up.Capabilities, up.Instructions, up.ServerInfo
		return init, nil
	}
	var caps []*mcp.ServerCapabilities
	var instructions []string
	for _, u := range l.ups {
		up := u.session().InitializeResult()
		caps = append(caps, up.Capabilities)
		if up.Instructions != "" {
			instructions = append(instructions, u.up.Name+": "+up.Instructions)
		}
	}
	merged, err := mergeCapabilities(caps)
	if err != nil {
		return nil, err
	}
	init.Capabilities, init.Instructions = merged, strings.Join(instructions, "\n\n")
	return init, nil
}

// upstream runs f with the session's link, or fails when the session has none.
func (p *Proxy) upstream(ss *mcp.ServerSession, f func(*link) error) error {
	l := p.link(ss)
	if l == nil {
		return errors.New("session is not initialized")
	}
	return f(l)
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

func (p *Proxy) connect(ctx context.Context, ss *mcp.ServerSession, params *mcp.InitializeParams, version string) (*link, error) {
	if old := p.link(ss); old != nil {
		return old, nil // a repeated initialize keeps the session it has
	}
	p.mu.Lock()
	if p.cfg.MaxSessions > 0 && len(p.links) >= p.cfg.MaxSessions {
		p.mu.Unlock()
		return nil, fmt.Errorf("the gateway serves at most %d sessions at once; close one or retry later", p.cfg.MaxSessions)
	}
	l := &link{proxy: p, ss: ss, id: ss.ID(), calls: newCalls(), params: params, version: version, routes: &routes{}}
	if l.id == "" {
		l.id = newStdioSessionID()
	}
	for _, up := range p.cfg.Upstreams {
		u := &upLink{link: l, up: up, order: newOrdering()}
		if len(p.cfg.Upstreams) > 1 {
			u.prefix = up.Name + "_"
		}
		l.ups = append(l.ups, u)
	}
	p.links[ss] = l // reserve the place before dialling, so the bound holds under concurrent initializes
	p.mu.Unlock()
	for _, u := range l.ups {
		cs, err := u.dial(ctx)
		if err != nil {
			for _, opened := range l.ups {
				if c := opened.session(); c != nil {
					c.Close()
				}
			}
			p.drop(ss)
			return nil, fmt.Errorf("upstream %s: %w", u.up.Name, err)
		}
		u.setSession(cs)
	}
	if p.cfg.Opened != nil {
		p.cfg.Opened(ctx, l.id, params)
	}
	p.supervisor.Go(l.supervise)
	return l, nil
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
	go func() { p.supervisor.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("upstream sessions still closing: %w", ctx.Err())
	}
}

func (p *Proxy) drop(ss *mcp.ServerSession) {
	p.mu.Lock()
	delete(p.links, ss)
	p.mu.Unlock()
}

func clientInfo(params *mcp.InitializeParams) *mcp.Implementation {
	if params.ClientInfo != nil {
		return params.ClientInfo
	}
	return &mcp.Implementation{Name: "osiris-gateway-client"}
}
