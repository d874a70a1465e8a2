// Package telemetry wires the telemetry service: Badger store, recorder (single writer,
// exact aggregates, retention), OpenTelemetry instruments, gRPC and REST. The same code runs
// as the osiris-telemetry binary and inside `osiris up`.
package telemetry

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"time"

	"go.opentelemetry.io/otel/metric"

	"github.com/osirisplane/osiris/api/openapi"
	telemetryv1 "github.com/osirisplane/osiris/api/osiris/telemetry/v1"
	"github.com/osirisplane/osiris/platform/badgerdb"
	"github.com/osirisplane/osiris/platform/serve"
	"github.com/osirisplane/osiris/platform/writer"
	"github.com/osirisplane/osiris/services/telemetry/internal/badgerstore"
	"github.com/osirisplane/osiris/services/telemetry/internal/grpcapi"
	"github.com/osirisplane/osiris/services/telemetry/internal/metrics"
	"github.com/osirisplane/osiris/services/telemetry/internal/recorder"
)

// EnvPrefix is the prefix of the service's environment variables (OSIRIS_TELEMETRY_DATA_DIR).
const EnvPrefix = "OSIRIS_TELEMETRY"

// Bounds of the settings, checked by Validate.
const (
	MinRetention      = time.Hour
	MaxRetentionChunk = 10000 // records deleted in one transaction; more could exceed its size
	MaxToolAttributes = 1000  // OpenTelemetry's default cardinality limit is 2000 per instrument
)

// maxRecvBytes bounds one request: the largest attachment and text fields with room to spare.
const maxRecvBytes = 1 << 20

// Config is everything the service can be told at start-up.
type Config struct {
	DataDir           string
	GRPCAddr          string
	HTTPAddr          string
	QueueDepth        int
	ShutdownTimeout   time.Duration
	GCInterval        time.Duration
	Retention         time.Duration
	RetentionInterval time.Duration
	RetentionChunk    int
	ToolAttributes    int
	// Now is the clock (tests); time.Now when nil.
	Now func() time.Time
}

// DefaultConfig is the configuration of a plain `osiris-telemetry`.
func DefaultConfig() Config {
	return Config{
		DataDir:           "./data/telemetry",
		GRPCAddr:          "127.0.0.1:7102",
		HTTPAddr:          "127.0.0.1:8102",
		QueueDepth:        writer.DefaultDepth,
		ShutdownTimeout:   serve.DefaultShutdownTimeout,
		GCInterval:        5 * time.Minute,
		Retention:         recorder.DefaultRetentionAge,
		RetentionInterval: 10 * time.Minute,
		RetentionChunk:    recorder.DefaultRetentionChunk,
		ToolAttributes:    metrics.DefaultLimit,
	}
}

// RegisterFlags declares the service's flags on fs, with c's values as defaults.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.DataDir, "data-dir", c.DataDir, "directory of the Badger store")
	fs.StringVar(&c.GRPCAddr, "grpc-addr", c.GRPCAddr, "gRPC listen address")
	fs.StringVar(&c.HTTPAddr, "http-addr", c.HTTPAddr, "HTTP listen address (REST, /metrics, /healthz, /readyz, /openapi.json)")
	fs.IntVar(&c.QueueDepth, "queue-depth", c.QueueDepth, "writes (a record, or a batch of them) that may wait for the writer before RESOURCE_EXHAUSTED")
	fs.DurationVar(&c.ShutdownTimeout, "shutdown-timeout", c.ShutdownTimeout, "how long shutdown waits for in-flight requests")
	fs.DurationVar(&c.GCInterval, "gc-interval", c.GCInterval, "how often value-log garbage collection runs")
	fs.DurationVar(&c.Retention, "retention", c.Retention, "age after which tool call records are deleted (totals keep them)")
	fs.DurationVar(&c.RetentionInterval, "retention-interval", c.RetentionInterval, "how often old tool call records are deleted")
	fs.IntVar(&c.RetentionChunk, "retention-chunk", c.RetentionChunk, "most records deleted in one writer step")
	fs.IntVar(&c.ToolAttributes, "max-tool-attributes", c.ToolAttributes, "distinct tool names in metrics before the rest are folded into \"other\"")
}

// Validate reports the first setting that cannot work.
func (c Config) Validate() error {
	switch {
	case c.DataDir == "":
		return errors.New("--data-dir is required")
	case c.GRPCAddr == "" || c.HTTPAddr == "":
		return errors.New("--grpc-addr and --http-addr are required")
	case c.QueueDepth < 1 || c.QueueDepth > 1<<20:
		return fmt.Errorf("--queue-depth must be between 1 and %d, got %d", 1<<20, c.QueueDepth)
	case c.ShutdownTimeout <= 0:
		return errors.New("--shutdown-timeout must be positive")
	case c.GCInterval <= 0:
		return errors.New("--gc-interval must be positive")
	case c.Retention < MinRetention:
		return fmt.Errorf("--retention must be at least %s, got %s", MinRetention, c.Retention)
	case c.RetentionInterval <= 0:
		return errors.New("--retention-interval must be positive")
	case c.RetentionChunk < 1 || c.RetentionChunk > MaxRetentionChunk:
		return fmt.Errorf("--retention-chunk must be between 1 and %d, got %d", MaxRetentionChunk, c.RetentionChunk)
	case c.ToolAttributes < 1 || c.ToolAttributes > MaxToolAttributes:
		return fmt.Errorf("--max-tool-attributes must be between 1 and %d, got %d", MaxToolAttributes, c.ToolAttributes)
	}
	return nil
}

// Service is a running telemetry service.
type Service struct {
	cfg Config
	log *slog.Logger
	srv *serve.Server
	db  *badgerdb.DB
	rec *recorder.Recorder
}

// New opens the store, starts the writer and binds the listeners. Run serves; if Run is never
// called, Close releases everything.
func New(cfg Config, log *slog.Logger) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	doc, err := openapi.Document("telemetry")
	if err != nil {
		return nil, err
	}
	srv, err := serve.New(serve.Config{
		Service:         "telemetry",
		GRPCAddr:        cfg.GRPCAddr,
		HTTPAddr:        cfg.HTTPAddr,
		OpenAPI:         doc,
		MaxRecvBytes:    maxRecvBytes,
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
	s := &Service{cfg: cfg, log: log.With("service", "telemetry"), srv: srv, db: db}
	if err := s.open(); err != nil {
		if s.rec != nil {
			s.Close()
		} else {
			db.Close()
			srv.Close(context.Background())
		}
		return nil, err
	}
	telemetryv1.RegisterTelemetryServiceServer(srv.GRPC(), grpcapi.New(s.rec))
	return s, nil
}

// open builds the recorder and the instruments on the opened store.
func (s *Service) open() error {
	meter := s.srv.Telemetry().MeterProvider.Meter("github.com/osirisplane/osiris/services/telemetry")
	batches, err := meter.Int64Histogram("osiris.writer.batch_size", metric.WithDescription("writer items (a record, or a batch of them) committed per synced write"),
		metric.WithExplicitBucketBoundaries(1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024))
	if err != nil {
		return err
	}
	store := badgerstore.New(s.db)
	busiest, err := recorder.BusiestTools(context.Background(), store, s.cfg.ToolAttributes)
	if err != nil {
		return err
	}
	calls, err := metrics.New(meter, s.cfg.ToolAttributes, busiest)
	if err != nil {
		return err
	}
	s.rec, err = recorder.Open(store, recorder.Config{
		Queue: writer.Config{
			Depth:   s.cfg.QueueDepth,
			Observe: func(n int) { batches.Record(context.Background(), int64(n)) },
		},
		Now:            s.cfg.Now,
		RetentionAge:   s.cfg.Retention,
		RetentionChunk: s.cfg.RetentionChunk,
		Observer:       calls,
	})
	if err != nil {
		return err
	}
	depth, err := meter.Int64ObservableGauge("osiris.writer.queue_depth", metric.WithDescription("writer items (a record, or a batch of them) waiting for the writer"))
	if err != nil {
		return err
	}
	_, err = meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		o.ObserveInt64(depth, int64(s.rec.QueueLen()))
		return nil
	}, depth)
	return err
}

// GRPCAddr is the bound gRPC address.
func (s *Service) GRPCAddr() string { return s.srv.GRPCAddr() }

// HTTPAddr is the bound HTTP address.
func (s *Service) HTTPAddr() string { return s.srv.HTTPAddr() }

// Retain deletes every tool call record older than the retention age now, as the periodic
// retention does, and returns how many it deleted.
func (s *Service) Retain(ctx context.Context) (int, error) { return s.rec.Retain(ctx) }

// Run serves until ctx ends, then shuts down in order: background loops, servers, writer
// (drained), store.
func (s *Service) Run(ctx context.Context) error {
	gc := func(ctx context.Context) { s.db.CollectGarbage(ctx, s.cfg.GCInterval, 0.5) }
	retain := func(ctx context.Context) { s.retainEvery(ctx, s.cfg.RetentionInterval) }
	return errors.Join(s.srv.Serve(ctx, telemetryv1.RegisterTelemetryServiceHandler, gc, retain), s.Close())
}

// retainEvery submits retention to the writer every interval until ctx ends.
func (s *Service) retainEvery(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		n, err := s.rec.Retain(ctx)
		switch {
		case err != nil && ctx.Err() == nil:
			s.log.Warn("retention", "deleted", n, "err", err)
		case n > 0:
			s.log.Info("retention deleted old tool call records", "deleted", n)
		}
	}
}

// Close drains the writer, closes the store and the telemetry providers.
func (s *Service) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
	defer cancel()
	err := errors.Join(s.rec.Close(ctx), s.srv.Close(ctx))
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
