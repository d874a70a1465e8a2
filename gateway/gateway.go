// Package gateway wires the MCP gateway: the agents' transport (streamable HTTP at /mcp, or
// stdio), the upstream MCP servers, the proxy between them, and the fan-out that puts the
// state-plane services (audit, telemetry, session, cache) around every call.
package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"go.opentelemetry.io/otel/semconv/v1.41.0/mcpconv"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	auditv1 "github.com/osirisplane/osiris/api/osiris/audit/v1"
	cachev1 "github.com/osirisplane/osiris/api/osiris/cache/v1"
	sessionv1 "github.com/osirisplane/osiris/api/osiris/session/v1"
	telemetryv1 "github.com/osirisplane/osiris/api/osiris/telemetry/v1"
	"github.com/osirisplane/osiris/gateway/internal/fanout"
	"github.com/osirisplane/osiris/gateway/internal/proxy"
	"github.com/osirisplane/osiris/gateway/internal/wire"
	"github.com/osirisplane/osiris/platform/serve"
)

// Gateway is a configured gateway with its listener bound.
type Gateway struct {
	cfg      Resolved
	log      *slog.Logger
	proxy    *proxy.Proxy
	lis      net.Listener
	tel      *serve.Telemetry // metrics, tracing (OTLP when configured), propagation
	conn     *grpc.ClientConn
	tconn    *grpc.ClientConn
	cconn    *grpc.ClientConn
	sconn    *grpc.ClientConn
	spool    *fanout.Telemetry
	sessions *fanout.Sessions
	audit    auditv1.AuditServiceClient
	// refused counts the requests the HTTP guard refuses and records them, aggregated.
	refused *refusals
	debug   *debugServer // --debug-addr (debug.go); nil when off
}

// New connects the gateway to the services and binds its HTTP listener (unless --stdio). It
// logs the effective configuration, secrets hidden.
func New(resolved Resolved, log *slog.Logger) (*Gateway, error) {
	if !resolved.complete {
		return nil, errors.New("gateway.New needs the configuration resolved by Config.Complete")
	}
	log.Info("gateway configuration", "config", resolved)
	cfg := resolved.c
	g := &Gateway{cfg: resolved, log: log}
	var err error
	if g.tel, err = serve.NewTelemetry("gateway"); err != nil {
		return nil, err
	}
	ups := resolved.dial(g.tel.Propagator)
	if g.conn, err = g.dialService(cfg.AuditAddr); err != nil {
		g.Close()
		return nil, fmt.Errorf("audit service at %s: %w", cfg.AuditAddr, err)
	}
	if cfg.AuditFailOpen {
		log.Warn("AUDIT FAIL-OPEN: calls are forwarded even when the audit service cannot record them; gaps are counted in osiris_gateway_audit_gaps_total")
	}
	meter := g.tel.MeterProvider.Meter("github.com/osirisplane/osiris/gateway")
	tracer := g.tel.TracerProvider.Tracer("github.com/osirisplane/osiris/gateway")
	audit, err := fanout.NewAudit(auditv1.NewAuditServiceClient(g.conn), cfg.AuditFailOpen, meter, tracer, log)
	if err != nil {
		g.Close()
		return nil, err
	}
	if g.tconn, err = g.dialService(cfg.TelemetryAddr); err != nil {
		g.Close()
		return nil, fmt.Errorf("telemetry service at %s: %w", cfg.TelemetryAddr, err)
	}
	if g.spool, err = fanout.NewTelemetry(telemetryv1.NewTelemetryServiceClient(g.tconn), cfg.TelemetrySpool, meter, log); err != nil {
		g.Close()
		return nil, err
	}
	if g.cconn, err = g.dialService(cfg.CacheAddr); err != nil {
		g.Close()
		return nil, fmt.Errorf("cache service at %s: %w", cfg.CacheAddr, err)
	}
	if g.sconn, err = g.dialService(cfg.SessionAddr); err != nil {
		g.Close()
		return nil, fmt.Errorf("session service at %s: %w", cfg.SessionAddr, err)
	}
	sessionClient := sessionv1.NewSessionServiceClient(g.sconn)
	sessions, err := fanout.NewSessions(sessionClient, cfg.SessionTimeout, meter, log)
	if err != nil {
		g.Close()
		return nil, err
	}
	g.sessions = sessions
	cache := fanout.NewCache(cachev1.NewCacheServiceClient(g.cconn), resolved.policies, cfg.CallTimeout, log)
	g.audit = auditv1.NewAuditServiceClient(g.conn)
	g.refused = newRefusals(g.audit, cfg.RefusalInterval, log)
	// Outermost first: the timeout bounds everything; the audit fan-out assigns the correlation
	// id that telemetry records; a cached reply is audited and counted like any other.
	inner := wire.Around(cache.Around)
	if cfg.BuiltinTools {
		builtins := fanout.NewBuiltins(g.audit, telemetryv1.NewTelemetryServiceClient(g.tconn), sessionClient)
		inner = wire.Chain(builtins.Around, cache.Around)
	}
	around := withTimeout(cfg.CallTimeout, wire.Chain(audit.Around, wire.Chain(g.spool.Around, wire.Chain(sessions.Around, inner))))
	transport := mcpconv.NetworkTransportTCP
	if cfg.Stdio {
		transport = mcpconv.NetworkTransportPipe
	}
	metrics, err := proxy.NewMetrics(meter, transport)
	if err != nil {
		g.Close()
		return nil, err
	}
	g.proxy, err = proxy.New(proxy.Config{Upstreams: ups, Around: around, Logger: log, Version: "dev", MaxSessions: cfg.MaxSessions, SessionTimeout: cfg.SessionTimeout, Metrics: metrics,
		Opened: sessions.Opened, Closed: sessions.Closed,
		Tracer: tracer, Propagator: g.tel.Propagator})
	if err != nil {
		g.Close()
		return nil, err
	}
	if g.debug, err = listenDebug(cfg.DebugAddr); err != nil {
		g.Close()
		return nil, err
	}
	if !cfg.Stdio {
		if g.lis, err = net.Listen("tcp", cfg.HTTPAddr); err != nil {
			g.Close()
			return nil, fmt.Errorf("listen on %s: %w", cfg.HTTPAddr, err)
		}
	}
	return g, nil
}

// URL is the MCP endpoint ("" with --stdio).
func (g *Gateway) URL() string {
	if g.lis == nil {
		return ""
	}
	return "http://" + g.lis.Addr().String() + "/mcp"
}

// Close releases what New acquired; Run calls it.
func (g *Gateway) Close() {
	g.debug.close()
	if g.sessions != nil {
		g.sessions.Close() // a touch in progress ends before its connection closes
	}
	for _, c := range []*grpc.ClientConn{g.conn, g.tconn, g.cconn, g.sconn} {
		if c != nil {
			c.Close()
		}
	}
	if g.tel != nil {
		g.tel.Shutdown(context.Background())
	}
}

// telemetryDrain bounds how long shutdown keeps sending spooled telemetry.
const telemetryDrain = 5 * time.Second

// Run serves until ctx ends, then shuts down.
func (g *Gateway) Run(ctx context.Context) error {
	g.debug.serve(g.log)
	cfg := g.cfg.c
	if cfg.Stdio {
		return g.Serve(ctx, &mcp.StdioTransport{})
	}
	defer g.Close()
	defer g.checkServices(ctx)()
	defer g.startSpool()()
	// Refusals are recorded until the HTTP server has stopped, then once more.
	refCtx, stopRef := context.WithCancel(context.Background())
	refDone := make(chan struct{})
	go func() { g.refused.run(refCtx); close(refDone) }()
	defer func() { stopRef(); <-refDone }()
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(g.tel.Registry, promhttp.HandlerOpts{}))
	// The SDK refuses a Host that is not the loopback address it serves (DNS rebinding); the
	// guard refuses a missing token, cross-origin browser requests from pages the operator did
	// not allow, and bodies over the limit.
	mcpHandler := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return g.proxy.Server() }, &mcp.StreamableHTTPOptions{
		SessionTimeout:      0, // the proxy closes idle sessions: the SDK sees few of their requests
		MaxRequestBodyBytes: cfg.MaxRequestBytes,
		Logger:              g.log,
	})
	mux.Handle("/mcp", g.edge(guard(cfg.AuthToken, g.cfg.origins, cfg.MaxRequestBytes, g.refused, g.proxy.Handler(mcpHandler))))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(g.lis) }()
	g.log.Info("gateway serving", "mcp", g.URL())
	select {
	case <-ctx.Done():
	case err := <-errc:
		return err
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// Sessions first: their open SSE streams would otherwise hold Shutdown until its deadline.
	sessions := g.closeSessions()
	return errors.Join(sessions, srv.Shutdown(shutdown))
}

// Serve serves the one agent at the other end of t (stdin and stdout with --stdio; an
// in-memory transport in tests) until ctx ends or the agent leaves, then shuts down.
func (g *Gateway) Serve(ctx context.Context, t mcp.Transport) error {
	defer g.Close()
	defer g.checkServices(ctx)()
	defer g.startSpool()()
	err := g.proxy.Server().Run(ctx, g.proxy.Stashing(t))
	return errors.Join(err, g.closeSessions())
}

// startSpool sends telemetry until the returned stop is called; stop drains what is spooled
// (after the sessions have closed, so no more records come), before the connections close.
func (g *Gateway) startSpool() (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { g.spool.Run(ctx, telemetryDrain); close(done) }()
	return func() { cancel(); <-done }
}

// closeSessions ends every MCP session and its upstream session (stdio children exit).
func (g *Gateway) closeSessions() error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return g.proxy.Close(ctx)
}

// dialService connects to a state-plane service; otelgrpc carries the call's trace context.
func (g *Gateway) dialService(addr string) (*grpc.ClientConn, error) {
	return grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithStatsHandler(otelgrpc.NewClientHandler(
			otelgrpc.WithMeterProvider(g.tel.MeterProvider),
			otelgrpc.WithTracerProvider(g.tel.TracerProvider),
			otelgrpc.WithPropagators(g.tel.Propagator))))
}

// TelemetryPending is how many tool call records wait for the telemetry service.
func (g *Gateway) TelemetryPending() int { return g.spool.Pending() }

// withTimeout bounds every forwarded request, so a stuck upstream gives the agent a clear
// error instead of a hang.
func withTimeout(d time.Duration, next wire.Around) wire.Around {
	return func(ctx context.Context, call *wire.Call, forward wire.Forward) (*wire.Reply, error) {
		ctx, cancel := context.WithTimeout(ctx, d)
		defer cancel()
		res, err := next(ctx, call, forward)
		if err != nil && errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return nil, &jsonrpc.Error{Code: jsonrpc.CodeInternalError, Message: fmt.Sprintf("%s timed out after %s", call.Method, d)}
		}
		return res, err
	}
}

// Run resolves cfg, then runs New and Gateway.Run.
func Run(ctx context.Context, cfg Config, log *slog.Logger) error {
	resolved, err := cfg.Complete()
	if err != nil {
		return err
	}
	g, err := New(resolved, log)
	if err != nil {
		return err
	}
	return g.Run(ctx)
}
