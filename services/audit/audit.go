// Package audit wires the audit service: Badger store, ledger (single writer and hash chain),
// gRPC and REST. The same code runs as the osiris-audit binary and inside `osiris up`.
package audit

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"time"

	"go.opentelemetry.io/otel/metric"

	"github.com/osirisplane/osiris/api/openapi"
	auditv1 "github.com/osirisplane/osiris/api/osiris/audit/v1"
	"github.com/osirisplane/osiris/platform/badgerdb"
	"github.com/osirisplane/osiris/platform/serve"
	"github.com/osirisplane/osiris/platform/writer"
	"github.com/osirisplane/osiris/services/audit/internal/badgerstore"
	"github.com/osirisplane/osiris/services/audit/internal/grpcapi"
	"github.com/osirisplane/osiris/services/audit/internal/ledger"
)

// EnvPrefix is the prefix of the service's environment variables (OSIRIS_AUDIT_DATA_DIR).
const EnvPrefix = "OSIRIS_AUDIT"

// Config is everything the service can be told at start-up.
type Config struct {
	DataDir           string
	GRPCAddr          string
	HTTPAddr          string
	MaxArgumentsBytes int
	QueueDepth        int
	ShutdownTimeout   time.Duration
	GCInterval        time.Duration
	// Now is the wall clock and Elapsed the monotonic one (tests); the process's clocks when
	// nil (see platform/hwclock).
	Now     func() time.Time
	Elapsed func() time.Duration
}

// DefaultConfig is the configuration of a plain `osiris-audit`.
func DefaultConfig() Config {
	return Config{
		DataDir:           "./data/audit",
		GRPCAddr:          "127.0.0.1:7101",
		HTTPAddr:          "127.0.0.1:8101",
		MaxArgumentsBytes: ledger.DefaultMaxArgumentsBytes,
		QueueDepth:        writer.DefaultDepth,
		ShutdownTimeout:   serve.DefaultShutdownTimeout,
		GCInterval:        5 * time.Minute,
	}
}

// RegisterFlags declares the service's flags on fs, with c's values as defaults.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.DataDir, "data-dir", c.DataDir, "directory of the Badger store")
	fs.StringVar(&c.GRPCAddr, "grpc-addr", c.GRPCAddr, "gRPC listen address")
	fs.StringVar(&c.HTTPAddr, "http-addr", c.HTTPAddr, "HTTP listen address (REST, /metrics, /healthz, /readyz, /openapi.json)")
	fs.IntVar(&c.MaxArgumentsBytes, "max-arguments-bytes", c.MaxArgumentsBytes, "largest encoded arguments of one event")
	fs.IntVar(&c.QueueDepth, "queue-depth", c.QueueDepth, "requests (an Append or an AppendBatch) that may wait for the writer before RESOURCE_EXHAUSTED")
	fs.DurationVar(&c.ShutdownTimeout, "shutdown-timeout", c.ShutdownTimeout, "how long shutdown waits for in-flight requests")
	fs.DurationVar(&c.GCInterval, "gc-interval", c.GCInterval, "how often value-log garbage collection runs")
}

// Validate reports the first setting that cannot work.
func (c Config) Validate() error {
	switch {
	case c.DataDir == "":
		return errors.New("--data-dir is required")
	case c.GRPCAddr == "" || c.HTTPAddr == "":
		return errors.New("--grpc-addr and --http-addr are required")
	case c.MaxArgumentsBytes < 1024 || c.MaxArgumentsBytes > 64<<20:
		return fmt.Errorf("--max-arguments-bytes must be between 1024 and %d, got %d", 64<<20, c.MaxArgumentsBytes)
	case c.QueueDepth < 1 || c.QueueDepth > 1<<20:
		return fmt.Errorf("--queue-depth must be between 1 and %d, got %d", 1<<20, c.QueueDepth)
	case c.ShutdownTimeout <= 0:
		return errors.New("--shutdown-timeout must be positive")
	case c.GCInterval <= 0:
		return errors.New("--gc-interval must be positive")
	}
	return nil
}

// Service is a running audit service.
type Service struct {
	cfg    Config
	log    *slog.Logger
	srv    *serve.Server
	db     *badgerdb.DB
	ledger *ledger.Ledger
}

// New opens the store, starts the writer and binds the listeners. Run serves; if Run is never
// called, Close releases everything.
func New(cfg Config, log *slog.Logger) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	doc, err := openapi.Document("audit")
	if err != nil {
		return nil, err
	}
	srv, err := serve.New(serve.Config{
		Service:         "audit",
		GRPCAddr:        cfg.GRPCAddr,
		HTTPAddr:        cfg.HTTPAddr,
		OpenAPI:         doc,
		MaxRecvBytes:    cfg.MaxArgumentsBytes + 1<<20, // arguments plus the event's other fields
		ShutdownTimeout: cfg.ShutdownTimeout,
		Logger:          log,
	})
	if err != nil {
		return nil, err
	}
	db, err := badgerdb.Open(cfg.DataDir, badgerdb.Options{}, log)
	if err != nil {
		srv.Close(context.Background())
		return nil, err
	}
	meter := srv.Telemetry().MeterProvider.Meter("github.com/osirisplane/osiris/services/audit")
	batches, err := meter.Int64Histogram("osiris.writer.batch_size", metric.WithDescription("requests (an Append or an AppendBatch) applied per writer batch"),
		metric.WithExplicitBucketBoundaries(1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024))
	if err != nil {
		db.Close()
		srv.Close(context.Background())
		return nil, err
	}
	l, err := ledger.Open(badgerstore.New(db), ledger.Config{
		MaxArgumentsBytes: cfg.MaxArgumentsBytes,
		Queue: writer.Config{
			Depth:   cfg.QueueDepth,
			Observe: func(n int) { batches.Record(context.Background(), int64(n)) },
		},
		Now:     cfg.Now,
		Elapsed: cfg.Elapsed,
	})
	if err != nil {
		db.Close()
		srv.Close(context.Background())
		return nil, err
	}
	s := &Service{cfg: cfg, log: log.With("service", "audit"), srv: srv, db: db, ledger: l}
	if err := l.Health(); err != nil {
		s.log.Error("the audit log failed its integrity check at start", "err", err)
	}
	if err := s.observe(meter); err != nil {
		s.Close()
		return nil, err
	}
	auditv1.RegisterAuditServiceServer(srv.GRPC(), grpcapi.New(l, srv.Draining()))
	return s, nil
}

func (s *Service) observe(meter metric.Meter) error {
	depth, err := meter.Int64ObservableGauge("osiris.writer.queue_depth", metric.WithDescription("requests (an Append or an AppendBatch) waiting for the writer"))
	if err != nil {
		return err
	}
	head, err := meter.Int64ObservableGauge("osiris.audit.head_seq", metric.WithDescription("sequence number of the last durable event"))
	if err != nil {
		return err
	}
	corrupt, err := meter.Int64ObservableGauge("osiris.audit.corrupt", metric.WithDescription("1 when the log failed its integrity check (the tail at start, or the last VerifyChain), else 0"))
	if err != nil {
		return err
	}
	verified, err := meter.Int64ObservableGauge("osiris.audit.verified_seq", metric.WithDescription("sequence number up to which the last integrity check found the chain intact"))
	if err != nil {
		return err
	}
	_, err = meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		o.ObserveInt64(depth, int64(s.ledger.QueueLen()))
		o.ObserveInt64(head, int64(s.ledger.Head()))
		bad := int64(0)
		if s.ledger.Health() != nil {
			bad = 1
		}
		o.ObserveInt64(corrupt, bad)
		o.ObserveInt64(verified, int64(s.ledger.VerifiedSeq()))
		return nil
	}, depth, head, corrupt, verified)
	if err != nil {
		return err
	}
	return s.ledger.Clock().Register(meter)
}

// Health is nil unless the log failed an integrity check (its tail at start, or the last
// VerifyChain); the service is then not ready.
func (s *Service) Health() error { return s.ledger.Health() }

// GRPCAddr is the bound gRPC address.
func (s *Service) GRPCAddr() string { return s.srv.GRPCAddr() }

// HTTPAddr is the bound HTTP address.
func (s *Service) HTTPAddr() string { return s.srv.HTTPAddr() }

// Run serves until ctx ends, then shuts down in order: servers, writer (drained), store.
func (s *Service) Run(ctx context.Context) error {
	gc := func(ctx context.Context) { s.db.CollectGarbage(ctx, s.cfg.GCInterval, 0.5) }
	return errors.Join(s.srv.Serve(ctx, grpcapi.RegisterGateway(s.log), gc), s.Close())
}

// Close drains the writer, closes the store and the telemetry providers.
func (s *Service) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
	defer cancel()
	err := errors.Join(s.ledger.Close(ctx), s.srv.Close(ctx))
	if err == nil {
		s.log.Info("stopped; store closed")
	}
	return err
}

// Run is New followed by Service.Run: the whole life of the service.
func Run(ctx context.Context, cfg Config, log *slog.Logger) error {
	s, err := New(cfg, log)
	if err != nil {
		return err
	}
	return s.Run(ctx)
}
