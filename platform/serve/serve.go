// Package serve is the serving bootstrap every service shares: a gRPC server with health,
// reflection, OpenTelemetry and the error-mapping interceptors, and an HTTP server with the
// grpc-gateway REST mapping, /metrics, /healthz, /readyz and /openapi.json. Shutdown is
// ordered and bounded: stop being ready, stop HTTP, then GracefulStop gRPC with a deadline
// and Stop after it. The service drains its writer and closes its store after Serve returns.
package serve

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"
	"google.golang.org/protobuf/encoding/protojson"
)

// DefaultShutdownTimeout bounds how long Serve waits for in-flight requests at shutdown.
const DefaultShutdownTimeout = 10 * time.Second

// DefaultMaxRecvBytes is the largest gRPC message a service accepts unless it says otherwise.
const DefaultMaxRecvBytes = 4 << 20

// DefaultStreamWorkers is how many goroutines a gRPC server keeps to run RPCs. Without them
// gRPC starts a goroutine per RPC, whose stack then grows, by copying, through the handler's
// depth (otelgrpc, the interceptors, validation, the writer's select): 8% of the audit
// service's CPU under 64 clients, 0.7% with workers (BenchmarkStreamWorkers). An RPC that
// finds every worker busy gets its own goroutine as before, so this bounds nothing; idle
// workers cost their stacks (a few KiB each).
const DefaultStreamWorkers = 64

// Config describes one service's servers.
type Config struct {
	// Service names the service in logs, metrics and the health service ("audit").
	Service string
	// GRPCAddr and HTTPAddr are listen addresses; port 0 picks a free port.
	GRPCAddr string
	HTTPAddr string
	// OpenAPI is served at /openapi.json.
	OpenAPI []byte
	// MaxRecvBytes bounds one gRPC message; REST bodies may be twice that (JSON is larger).
	MaxRecvBytes int
	// ShutdownTimeout bounds graceful shutdown. Default DefaultShutdownTimeout.
	ShutdownTimeout time.Duration
	// StreamWorkers is how many goroutines are kept to run RPCs (see DefaultStreamWorkers);
	// 0 means the default, a negative number none (a new goroutine per RPC).
	StreamWorkers int
	Logger        *slog.Logger

	// Edge is what the HTTP port accepts from outside (Host names, body read time).
	Edge Edge
}

// RegisterGateway registers a service's REST handlers on mux, forwarding to conn.
type RegisterGateway func(ctx context.Context, mux *runtime.ServeMux, conn *grpc.ClientConn) error

// Server holds a service's listeners, its gRPC server and its telemetry.
type Server struct {
	cfg       Config
	log       *slog.Logger
	grpcLis   net.Listener
	httpLis   net.Listener
	grpc      *grpc.Server
	health    *health.Server
	telemetry *Telemetry
	ready     atomic.Bool // serving and not degraded; read by /readyz
	draining  chan struct{}

	stateMu  sync.Mutex // guards serving and degraded, and orders readiness updates
	serving  bool
	degraded map[string]string // cause -> reason; any entry makes the service not ready
}

// New binds both listeners (so a bad or busy address fails at start-up, and port 0 is known
// at once) and builds the gRPC server. Register services on GRPC() before calling Serve.
func New(cfg Config) (*Server, error) {
	if cfg.Logger == nil {
		return nil, errors.New("serve: no logger")
	}
	if err := cfg.Edge.Validate(); err != nil {
		return nil, err
	}
	if cfg.MaxRecvBytes <= 0 {
		cfg.MaxRecvBytes = DefaultMaxRecvBytes
	}
	if cfg.ShutdownTimeout <= 0 {
		cfg.ShutdownTimeout = DefaultShutdownTimeout
	}
	if cfg.StreamWorkers == 0 {
		cfg.StreamWorkers = DefaultStreamWorkers
	}
	tel, err := NewTelemetry(cfg.Service)
	if err != nil {
		return nil, err
	}
	grpcLis, err := net.Listen("tcp", cfg.GRPCAddr)
	if err != nil {
		tel.Shutdown(context.Background())
		return nil, fmt.Errorf("listen for gRPC on %q: %w", cfg.GRPCAddr, err)
	}
	httpLis, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		grpcLis.Close()
		tel.Shutdown(context.Background())
		return nil, fmt.Errorf("listen for HTTP on %q: %w", cfg.HTTPAddr, err)
	}
	log := cfg.Logger.With("service", cfg.Service)
	s := &Server{
		cfg:       cfg,
		log:       log,
		grpcLis:   grpcLis,
		httpLis:   httpLis,
		health:    health.NewServer(),
		telemetry: tel,
		draining:  make(chan struct{}),
	}
	opts := []grpc.ServerOption{
		grpc.MaxRecvMsgSize(cfg.MaxRecvBytes),
		grpc.StatsHandler(tel.serverHandler()),
		grpc.ChainUnaryInterceptor(unaryErrors(log)),
		grpc.ChainStreamInterceptor(streamErrors(log)),
	}
	if cfg.StreamWorkers > 0 {
		opts = append(opts, grpc.NumStreamWorkers(uint32(cfg.StreamWorkers)))
	}
	s.grpc = grpc.NewServer(opts...)
	s.health.SetServingStatus("", healthpb.HealthCheckResponse_NOT_SERVING)
	healthpb.RegisterHealthServer(s.grpc, s.health)
	reflection.Register(s.grpc)
	return s, nil
}

// GRPC is the server to register the service on.
func (s *Server) GRPC() *grpc.Server { return s.grpc }

// Telemetry is the service's own meter and tracer providers and Prometheus registry.
func (s *Server) Telemetry() *Telemetry { return s.telemetry }

// GRPCAddr is the bound gRPC address.
func (s *Server) GRPCAddr() string { return s.grpcLis.Addr().String() }

// HTTPAddr is the bound HTTP address.
func (s *Server) HTTPAddr() string { return s.httpLis.Addr().String() }

// Draining is closed when shutdown begins, so long-lived streams (tails) can end and let the
// graceful stop finish.
func (s *Server) Draining() <-chan struct{} { return s.draining }

// Serve serves until ctx ends or a server fails, then shuts down in order. Each background
// task (value-log GC, retention) runs alongside with its own context, which ends when serving
// stops; Serve waits for the tasks before it returns. It returns the first serving error, or
// nil after a clean shutdown.
func (s *Server) Serve(ctx context.Context, gateway RegisterGateway, background ...func(context.Context)) error {
	bgCtx, stopBackground := context.WithCancel(context.Background())
	var tasks sync.WaitGroup
	for _, task := range background {
		tasks.Go(func() { task(bgCtx) })
	}
	defer func() { stopBackground(); tasks.Wait() }()

	errc := make(chan error, 2)
	go func() { errc <- s.grpc.Serve(s.grpcLis) }()

	conn, err := grpc.NewClient(dialTarget(s.GRPCAddr()),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(s.cfg.MaxRecvBytes*2), grpc.MaxCallSendMsgSize(s.cfg.MaxRecvBytes)))
	if err != nil {
		s.grpc.Stop()
		return fmt.Errorf("dial own gRPC port for REST: %w", err)
	}
	defer conn.Close()
	gwmux := runtime.NewServeMux(runtime.WithMarshalerOption(runtime.MIMEWildcard, &runtime.HTTPBodyMarshaler{
		Marshaler: &runtime.JSONPb{
			MarshalOptions: protojson.MarshalOptions{EmitUnpopulated: true},
			// Unknown fields are refused, so a misspelt field is an error, not silently ignored.
			UnmarshalOptions: protojson.UnmarshalOptions{DiscardUnknown: false},
		},
	}))
	// REST calls go through the gRPC port, so validation, interceptors and metrics are the
	// same for both; the hop costs little next to JSON marshalling.
	if err := gateway(ctx, gwmux, conn); err != nil {
		s.grpc.Stop()
		return fmt.Errorf("register REST gateway: %w", err)
	}
	httpSrv := &http.Server{
		Handler:           s.httpHandler(gwmux),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	go func() { errc <- httpSrv.Serve(s.httpLis) }()

	s.setServing(true)
	s.log.Info("serving", "grpc", s.GRPCAddr(), "http", s.HTTPAddr())

	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-errc:
		s.log.Error("server failed", "err", serveErr)
	}
	s.shutdown(httpSrv)
	return serveErr
}

func (s *Server) shutdown(httpSrv *http.Server) {
	s.setServing(false)
	s.health.Shutdown()
	close(s.draining)
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
	defer cancel()
	if err := httpSrv.Shutdown(ctx); err != nil {
		s.log.Warn("HTTP shutdown deadline passed; closing connections", "err", err)
		httpSrv.Close()
	}
	stopped := make(chan struct{})
	go func() { s.grpc.GracefulStop(); close(stopped) }()
	select {
	case <-stopped:
	case <-ctx.Done():
		s.log.Warn("gRPC graceful stop deadline passed; stopping")
		s.grpc.Stop()
		<-stopped
	}
	s.log.Info("stopped serving")
}

// SetDegraded makes the service report not ready (/readyz and the gRPC health service) while
// cause has a non-empty reason, for example "disk" while the disk is almost full or "integrity"
// while the store failed its check; several causes may hold at once. Calling it with an empty
// reason clears that cause; the service is ready again when no cause is left (and it still
// serves).
func (s *Server) SetDegraded(cause, reason string) {
	s.stateMu.Lock()
	defer s.stateMu.Unlock()
	if reason == "" {
		delete(s.degraded, cause)
	} else {
		if s.degraded == nil {
			s.degraded = map[string]string{}
		}
		s.degraded[cause] = reason
	}
	s.updateReady()
}

func (s *Server) setServing(on bool) {
	s.stateMu.Lock()
	defer s.stateMu.Unlock()
	s.serving = on
	s.updateReady()
}

// updateReady publishes serving && !degraded (stateMu held). After health.Shutdown the
// health server ignores updates and stays NOT_SERVING.
func (s *Server) updateReady() {
	ok := s.serving && len(s.degraded) == 0
	s.ready.Store(ok)
	status := healthpb.HealthCheckResponse_NOT_SERVING
	if ok {
		status = healthpb.HealthCheckResponse_SERVING
	}
	s.health.SetServingStatus("", status)
}

// Close flushes and stops the telemetry providers, and releases the listeners if Serve never
// ran (Serve closes them itself). Call it after Serve has returned, or instead of Serve.
func (s *Server) Close(ctx context.Context) error {
	s.grpcLis.Close() // already closed by Serve, if it ran: the error says so and is dropped
	s.httpLis.Close()
	s.grpc.Stop() // ends the stream workers if Serve never ran; a no-op after Serve
	return s.telemetry.Shutdown(ctx)
}

// dialTarget turns a listen address into one to dial: an unspecified host means loopback.
func dialTarget(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return "passthrough:///" + net.JoinHostPort(host, port)
}
