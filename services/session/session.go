// Package session wires the session service: Badger store, keeper (single writer, TTLs,
// state table, versioned values, sweeper), the audit sink, gRPC and REST. The same code runs
// as the osiris-session binary and inside `osiris up`.
package session

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/osirisplane/osiris/api/openapi"
	auditv1 "github.com/osirisplane/osiris/api/osiris/audit/v1"
	sessionv1 "github.com/osirisplane/osiris/api/osiris/session/v1"
	"github.com/osirisplane/osiris/platform/badgerdb"
	"github.com/osirisplane/osiris/platform/serve"
	"github.com/osirisplane/osiris/platform/writer"
	"github.com/osirisplane/osiris/services/session/internal/auditsink"
	"github.com/osirisplane/osiris/services/session/internal/badgerstore"
	"github.com/osirisplane/osiris/services/session/internal/grpcapi"
	"github.com/osirisplane/osiris/services/session/internal/sessions"
)

// Service is a running session service.
type Service struct {
	cfg       Config
	log       *slog.Logger
	srv       *serve.Server
	db        *badgerdb.DB
	keeper    *sessions.Keeper
	sink      *auditsink.Sink  // nil without --audit-addr
	auditConn *grpc.ClientConn // nil without --audit-addr
}

// New opens the store, starts the writer, the sweeper and the audit sink, and binds the
// listeners. Run serves; if Run is never called, Close releases everything.
func New(cfg Config, log *slog.Logger) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	doc, err := openapi.Document("session")
	if err != nil {
		return nil, err
	}
	srv, err := serve.New(serve.Config{
		Service:         "session",
		GRPCAddr:        cfg.GRPCAddr,
		HTTPAddr:        cfg.HTTPAddr,
		OpenAPI:         doc,
		MaxRecvBytes:    cfg.MaxValueBytes + 64<<10, // the value plus the request's other fields
		ShutdownTimeout: cfg.ShutdownTimeout,
		Logger:          log,
	})
	if err != nil {
		return nil, err
	}
	s := &Service{cfg: cfg, log: log.With("service", "session"), srv: srv}
	if err := s.open(); err != nil {
		return nil, errors.Join(err, s.closeOpened())
	}
	sessionv1.RegisterSessionServiceServer(srv.GRPC(), grpcapi.New(s.keeper))
	return s, nil
}

// open builds everything after the servers; on error, closeOpened releases what it built.
func (s *Service) open() error {
	cfg := s.cfg
	meter := s.srv.Telemetry().MeterProvider.Meter("github.com/osirisplane/osiris/services/session")
	m, err := newMetrics(meter)
	if err != nil {
		return err
	}
	var events sessions.Sink
	if cfg.AuditAddr != "" {
		s.auditConn, err = grpc.NewClient(cfg.AuditAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			return fmt.Errorf("--audit-addr %q: %w", cfg.AuditAddr, err)
		}
		s.sink = auditsink.New(auditv1.NewAuditServiceClient(s.auditConn), auditsink.Config{
			Queue: cfg.AuditQueue, Timeout: cfg.AuditTimeout, Dropped: m.auditDropped, Log: s.log,
		})
		events = s.sink
	}
	if s.db, err = badgerdb.Open(cfg.DataDir, cfg.Store, s.log); err != nil {
		return err
	}
	s.keeper, err = sessions.Open(badgerstore.New(s.db), sessions.Config{
		DefaultIdleTTL: cfg.IdleTTL, IdleTTLLimit: cfg.IdleTTLLimit,
		DefaultMaxTTL: cfg.MaxTTL, MaxTTLLimit: cfg.MaxTTLLimit,
		ClosedRetention: cfg.ClosedRetention, SweepInterval: cfg.SweepInterval,
		MaxSessions: cfg.MaxSessions, MaxKeysPerSession: cfg.MaxKeysPerSession,
		MaxValueBytes: cfg.MaxValueBytes, MaxHistory: cfg.MaxHistory,
		Queue: writer.Config{
			Depth:   cfg.QueueDepth,
			Observe: func(n int) { m.batches.Record(context.Background(), int64(n)) },
		},
		Now: cfg.Now, Events: events, OnSweep: m.sweep, Log: s.log,
	})
	if err != nil {
		s.db.Close()
		s.db = nil
		return err
	}
	return m.observe(meter, s.keeper)
}

// GRPCAddr is the bound gRPC address.
func (s *Service) GRPCAddr() string { return s.srv.GRPCAddr() }

// HTTPAddr is the bound HTTP address.
func (s *Service) HTTPAddr() string { return s.srv.HTTPAddr() }

// Sweep removes every session that is due now and purges what removed sessions owned, without
// waiting for the sweeper's next tick. Tests call it after moving their clock.
func (s *Service) Sweep(ctx context.Context) (sessions.SweepReport, error) {
	return s.keeper.Sweep(ctx)
}

// Run serves until ctx ends, then shuts down in order: servers, sweeper and writer (drained),
// store, audit sink.
func (s *Service) Run(ctx context.Context) error {
	gc := func(ctx context.Context) { s.db.CollectGarbage(ctx, s.cfg.GCInterval, 0.5) }
	return errors.Join(s.srv.Serve(ctx, sessionv1.RegisterSessionServiceHandler, gc), s.Close())
}

// Close drains the writer, closes the store, delivers queued audit events (within the
// shutdown timeout) and closes the telemetry providers.
func (s *Service) Close() error {
	err := s.closeOpened()
	if err == nil {
		s.log.Info("stopped; store closed")
	}
	return err
}

func (s *Service) closeOpened() error {
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
	defer cancel()
	var errs []error
	if s.keeper != nil {
		errs = append(errs, s.keeper.Close(ctx)) // closes the store too
	} else if s.db != nil {
		errs = append(errs, s.db.Close())
	}
	if s.sink != nil {
		s.sink.Close(ctx)
	}
	if s.auditConn != nil {
		errs = append(errs, s.auditConn.Close())
	}
	errs = append(errs, s.srv.Close(ctx))
	return errors.Join(errs...)
}

// Run is New followed by Service.Run: the whole life of the service.
func Run(ctx context.Context, cfg Config, log *slog.Logger) error {
	s, err := New(cfg, log)
	if err != nil {
		return err
	}
	return s.Run(ctx)
}
