// Package gateway wires the MCP gateway: downstream transports (streamable HTTP at /mcp, or
// stdio), the upstream MCP server, and the proxy between them.
package gateway

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os/exec"
	"regexp"
	"strings"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/semconv/v1.41.0/mcpconv"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	auditv1 "github.com/osirisplane/osiris/api/osiris/audit/v1"
	cachev1 "github.com/osirisplane/osiris/api/osiris/cache/v1"
	sessionv1 "github.com/osirisplane/osiris/api/osiris/session/v1"
	telemetryv1 "github.com/osirisplane/osiris/api/osiris/telemetry/v1"
	"github.com/osirisplane/osiris/gateway/internal/fanout"
	"github.com/osirisplane/osiris/gateway/internal/proxy"
	"github.com/osirisplane/osiris/platform/serve"
)

// EnvPrefix is the prefix of the gateway's environment variables.
const EnvPrefix = "OSIRIS_GATEWAY"

// Defaults of the guards.
const (
	DefaultMaxRequestBytes = 16 << 20 // the original Osiris guard
	DefaultSessionTimeout  = 30 * time.Minute
	DefaultCallTimeout     = 30 * time.Second // the original Osiris tool timeout
	DefaultMaxSessions     = 256              // each may own a stdio child process
)

// Config is what the gateway can be told at start-up.
type Config struct {
	HTTPAddr        string
	Stdio           bool
	Upstreams       []string // NAME=URL (streamable HTTP), repeatable
	UpstreamsStdio  []string // NAME=COMMAND ARGS..., repeatable
	MaxRequestBytes int64
	SessionTimeout  time.Duration
	AuditAddr       string
	AuditFailOpen   bool
	TelemetryAddr   string
	TelemetrySpool  int
	CacheAddr       string
	SessionAddr     string
	ConfigFile      string
	BuiltinTools    bool
	AuthToken       string
	AuthTokenFile   string
	CallTimeout     time.Duration
	MaxSessions     int
	AllowedOrigins  []string
}

// DefaultConfig is the configuration of a plain `osiris-gateway`.
func DefaultConfig() Config {
	return Config{HTTPAddr: "127.0.0.1:8100", MaxRequestBytes: DefaultMaxRequestBytes, SessionTimeout: DefaultSessionTimeout,
		AuditAddr: "127.0.0.1:7101", TelemetryAddr: "127.0.0.1:7102", CacheAddr: "127.0.0.1:7104", SessionAddr: "127.0.0.1:7103", BuiltinTools: true, TelemetrySpool: fanout.DefaultSpool, CallTimeout: DefaultCallTimeout, MaxSessions: DefaultMaxSessions}
}

// RegisterFlags declares the gateway's flags on fs.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.HTTPAddr, "http-addr", c.HTTPAddr, "serve MCP streamable HTTP at http://ADDR/mcp")
	fs.BoolVar(&c.Stdio, "stdio", c.Stdio, "serve MCP on stdin/stdout instead of HTTP")
	fs.Func("upstream", "upstream MCP server over streamable HTTP, NAME=URL (repeatable)", func(v string) error {
		c.Upstreams = append(c.Upstreams, v)
		return nil
	})
	fs.Func("upstream-stdio", "upstream MCP server started as a child process per session, 'NAME=COMMAND ARGS...' (repeatable)", func(v string) error {
		c.UpstreamsStdio = append(c.UpstreamsStdio, v)
		return nil
	})
	fs.Int64Var(&c.MaxRequestBytes, "max-request-bytes", c.MaxRequestBytes, "largest request body")
	fs.DurationVar(&c.SessionTimeout, "session-timeout", c.SessionTimeout, "idle MCP sessions are closed after this")
	fs.StringVar(&c.AuditAddr, "audit-addr", c.AuditAddr, "gRPC address of the audit service")
	fs.BoolVar(&c.AuditFailOpen, "audit-fail-open", c.AuditFailOpen, "forward calls even when the audit service cannot record them (counted as gaps)")
	fs.StringVar(&c.CacheAddr, "cache-addr", c.CacheAddr, "gRPC address of the cache service")
	fs.StringVar(&c.SessionAddr, "session-addr", c.SessionAddr, "gRPC address of the session service")
	fs.BoolVar(&c.BuiltinTools, "builtin-tools", c.BuiltinTools, "offer the osiris_ tools that let an agent read its own audit trail and telemetry")
	fs.StringVar(&c.ConfigFile, "config", c.ConfigFile, "JSON file with per-tool cache policies (see docs/gateway.md)")
	fs.StringVar(&c.TelemetryAddr, "telemetry-addr", c.TelemetryAddr, "gRPC address of the telemetry service")
	fs.IntVar(&c.TelemetrySpool, "telemetry-spool", c.TelemetrySpool, "tool call records kept while the telemetry service is unreachable; more are dropped and counted")
	fs.StringVar(&c.AuthToken, "auth-token", c.AuthToken, "require this bearer token on HTTP (at least 16 bytes)")
	fs.StringVar(&c.AuthTokenFile, "auth-token-file", c.AuthTokenFile, "read the bearer token from this file")
	fs.DurationVar(&c.CallTimeout, "call-timeout", c.CallTimeout, "longest a forwarded request may take")
	fs.IntVar(&c.MaxSessions, "max-sessions", c.MaxSessions, "most MCP sessions at once (each has its own upstream session, and stdio child)")
	fs.Func("allowed-origin", "a browser origin allowed to call the gateway (repeatable; same-origin and non-browser clients are always allowed)", func(v string) error {
		c.AllowedOrigins = append(c.AllowedOrigins, v)
		return nil
	})
}

// Validate reports the first setting that cannot work, with --config merged in.
func (c Config) Validate() error {
	c, err := c.withFile()
	if err != nil {
		return err
	}
	switch {
	case len(c.Upstreams)+len(c.UpstreamsStdio) == 0:
		return errors.New("at least one --upstream or --upstream-stdio is required")
	case len(c.Upstreams)+len(c.UpstreamsStdio) > maxUpstreams:
		return fmt.Errorf("at most %d upstreams", maxUpstreams)
	case c.MaxRequestBytes < 1024:
		return fmt.Errorf("--max-request-bytes must be at least 1024, got %d", c.MaxRequestBytes)
	case c.SessionTimeout <= 0:
		return errors.New("--session-timeout must be positive")
	case c.AuditAddr == "" || c.TelemetryAddr == "" || c.CacheAddr == "" || c.SessionAddr == "":
		return errors.New("--audit-addr, --telemetry-addr, --cache-addr and --session-addr are required")
	case c.TelemetrySpool < 1 || c.TelemetrySpool > 10_000_000:
		return fmt.Errorf("--telemetry-spool must be between 1 and 10000000, got %d", c.TelemetrySpool)
	case c.CallTimeout <= 0:
		return errors.New("--call-timeout must be positive")
	case c.MaxSessions < 1 || c.MaxSessions > 100000:
		return fmt.Errorf("--max-sessions must be between 1 and 100000, got %d", c.MaxSessions)
	}
	if _, err := c.loadToken(); err != nil {
		return err
	}
	if _, err := c.originGuard(); err != nil {
		return err
	}
	if _, err := c.loadPolicies(); err != nil {
		return err
	}
	if _, err := c.upstreams(nil); err != nil {
		return err
	}
	return nil
}

// maxUpstreams bounds the upstreams of one gateway.
const maxUpstreams = 32

// upstreamName is what an upstream may be called. With several upstreams it prefixes tool and
// prompt names as NAME_, so it may not contain "_": the first "_" then always ends the prefix,
// and no two upstreams can expose the same name.
func upstreamName() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z][A-Za-z0-9-]{0,31}$`) }

// upstreams parses --upstream and --upstream-stdio; HTTP requests carry the caller's trace
// context.
func (c Config) upstreams(prop propagation.TextMapPropagator) ([]proxy.Upstream, error) {
	var out []proxy.Upstream
	seen := map[string]bool{}
	add := func(flag, spec string, dial func(rest string) (proxy.Dial, error)) error {
		name, rest, ok := strings.Cut(spec, "=")
		if !ok || !upstreamName().MatchString(name) {
			return fmt.Errorf("--%s %q: want NAME=..., NAME a letter then up to 31 letters, digits or '-'", flag, spec)
		}
		if seen[name] {
			return fmt.Errorf("--%s %q: upstream name %q is used twice", flag, spec, name)
		}
		seen[name] = true
		d, err := dial(rest)
		if err != nil {
			return fmt.Errorf("--%s %q: %w", flag, spec, err)
		}
		out = append(out, proxy.Upstream{Name: name, Dial: d})
		return nil
	}
	client := http.DefaultClient
	if prop != nil {
		client = &http.Client{Transport: proxy.TraceTransport{Base: http.DefaultTransport, Propagator: prop}}
	}
	for _, spec := range c.Upstreams {
		err := add("upstream", spec, func(url string) (proxy.Dial, error) {
			if !strings.HasPrefix(url, "http://") && !strings.HasPrefix(url, "https://") {
				return nil, errors.New("want NAME=http(s)://HOST/PATH")
			}
			return func(context.Context) (mcp.Transport, error) {
				return &mcp.StreamableClientTransport{Endpoint: url, HTTPClient: client}, nil
			}, nil
		})
		if err != nil {
			return nil, err
		}
	}
	for _, spec := range c.UpstreamsStdio {
		err := add("upstream-stdio", spec, func(command string) (proxy.Dial, error) {
			args := strings.Fields(command)
			if len(args) == 0 {
				return nil, errors.New("want 'NAME=COMMAND ARGS...'")
			}
			return func(context.Context) (mcp.Transport, error) {
				return &mcp.CommandTransport{Command: exec.Command(args[0], args[1:]...)}, nil
			}, nil
		})
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// Gateway is a configured gateway with its listener bound.
type Gateway struct {
	cfg   Config
	log   *slog.Logger
	proxy *proxy.Proxy
	lis   net.Listener
	tel   *serve.Telemetry // metrics, tracing (OTLP when configured), propagation
	conn  *grpc.ClientConn
	tconn *grpc.ClientConn
	cconn *grpc.ClientConn
	sconn *grpc.ClientConn
	spool *fanout.Telemetry
	audit auditv1.AuditServiceClient
	token string
}

// New connects the gateway to the services and binds its HTTP listener (unless --stdio).
func New(cfg Config, log *slog.Logger) (*Gateway, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg, _ = cfg.withFile()
	g := &Gateway{cfg: cfg, log: log}
	var err error
	if g.tel, err = serve.NewTelemetry("gateway"); err != nil {
		return nil, err
	}
	ups, _ := cfg.upstreams(g.tel.Propagator)
	if g.conn, err = g.dialService(cfg.AuditAddr); err != nil {
		g.Close()
		return nil, fmt.Errorf("audit service at %s: %w", cfg.AuditAddr, err)
	}
	if cfg.AuditFailOpen {
		log.Warn("AUDIT FAIL-OPEN: calls are forwarded even when the audit service cannot record them; gaps are counted in osiris_gateway_audit_gaps_total")
	}
	meter := g.tel.MeterProvider.Meter("github.com/osirisplane/osiris/gateway")
	audit, err := fanout.NewAudit(auditv1.NewAuditServiceClient(g.conn), cfg.AuditFailOpen, meter, log)
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
	sessions, err := fanout.NewSessions(sessionClient, meter, log)
	if err != nil {
		g.Close()
		return nil, err
	}
	policies, _ := cfg.loadPolicies()
	cache := fanout.NewCache(cachev1.NewCacheServiceClient(g.cconn), policies, log)
	g.audit = auditv1.NewAuditServiceClient(g.conn)
	g.token, _ = cfg.loadToken()
	// Outermost first: the timeout bounds everything; the audit fan-out assigns the correlation
	// id that telemetry records; a cached reply is audited and counted like any other.
	inner := cache.Around
	if cfg.BuiltinTools {
		builtins := fanout.NewBuiltins(g.audit, telemetryv1.NewTelemetryServiceClient(g.tconn), sessionClient)
		inner = chain(builtins.Around, cache.Around)
	}
	around := withTimeout(cfg.CallTimeout, chain(audit.Around, chain(g.spool.Around, chain(sessions.Around, inner))))
	transport := mcpconv.NetworkTransportTCP
	if cfg.Stdio {
		transport = mcpconv.NetworkTransportPipe
	}
	metrics, err := proxy.NewMetrics(meter, transport)
	if err != nil {
		g.Close()
		return nil, err
	}
	g.proxy = proxy.New(proxy.Config{Upstreams: ups, Around: around, Logger: log, Version: "dev", MaxSessions: cfg.MaxSessions, Metrics: metrics,
		Opened: sessions.Opened, Closed: sessions.Closed,
		Tracer: g.tel.TracerProvider.Tracer("github.com/osirisplane/osiris/gateway"), Propagator: g.tel.Propagator})
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
	defer g.Close()
	telCtx, stopTel := context.WithCancel(context.Background())
	telDone := make(chan struct{})
	go func() { g.spool.Run(telCtx, telemetryDrain); close(telDone) }()
	// After the sessions close (no more records), drain the spool, then close the connections.
	defer func() { stopTel(); <-telDone }()
	if g.cfg.Stdio {
		err := g.proxy.Server().Run(ctx, &mcp.StdioTransport{})
		return errors.Join(err, g.closeSessions())
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(g.tel.Registry, promhttp.HandlerOpts{}))
	origins, _ := g.cfg.originGuard()
	var mcpHandler http.Handler = mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return g.proxy.Server() }, &mcp.StreamableHTTPOptions{
		SessionTimeout:      g.cfg.SessionTimeout,
		MaxRequestBodyBytes: g.cfg.MaxRequestBytes,
		Logger:              g.log,
		// The SDK refuses a Host that is not the loopback address it serves (DNS rebinding);
		// this refuses cross-origin browser requests from pages the operator did not allow.
		CrossOriginProtection: origins,
	})
	if g.token != "" {
		mcpHandler = requireToken(g.token, g.audit, mcpHandler)
	}
	mux.Handle("/mcp", mcpHandler)
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

// closeSessions ends every MCP session and its upstream session (stdio children exit).
func (g *Gateway) closeSessions() error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return g.proxy.Close(ctx)
}

// originGuard refuses cross-origin browser requests except from the allowed origins.
func (c Config) originGuard() (*http.CrossOriginProtection, error) {
	guard := http.NewCrossOriginProtection()
	for _, o := range c.AllowedOrigins {
		if err := guard.AddTrustedOrigin(o); err != nil {
			return nil, fmt.Errorf("--allowed-origin %q: %w", o, err)
		}
	}
	return guard, nil
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

// chain runs inner inside outer.
func chain(outer, inner proxy.Around) proxy.Around {
	return func(ctx context.Context, ss *mcp.ServerSession, method string, req mcp.Request, forward func(context.Context) (mcp.Result, error)) (mcp.Result, error) {
		return outer(ctx, ss, method, req, func(ctx context.Context) (mcp.Result, error) {
			return inner(ctx, ss, method, req, forward)
		})
	}
}

// withTimeout bounds every forwarded request, so a stuck upstream gives the agent a clear
// error instead of a hang.
func withTimeout(d time.Duration, next proxy.Around) proxy.Around {
	return func(ctx context.Context, ss *mcp.ServerSession, method string, req mcp.Request, forward func(context.Context) (mcp.Result, error)) (mcp.Result, error) {
		ctx, cancel := context.WithTimeout(ctx, d)
		defer cancel()
		res, err := next(ctx, ss, method, req, forward)
		if err != nil && errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return nil, &jsonrpc.Error{Code: jsonrpc.CodeInternalError, Message: fmt.Sprintf("%s timed out after %s", method, d)}
		}
		return res, err
	}
}

// Run is New followed by Gateway.Run.
func Run(ctx context.Context, cfg Config, log *slog.Logger) error {
	g, err := New(cfg, log)
	if err != nil {
		return err
	}
	return g.Run(ctx)
}
