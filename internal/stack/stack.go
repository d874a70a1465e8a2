// Package stack runs the whole state plane in one process: every service on its own gRPC and
// HTTP ports, each with its own Badger store under one data directory, talking over gRPC
// exactly as when deployed apart. The same code runs each service as its own binary.
package stack

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"text/tabwriter"

	"golang.org/x/sync/errgroup"

	"github.com/osirisplane/osiris/services/audit"
	"github.com/osirisplane/osiris/services/cache"
	"github.com/osirisplane/osiris/services/session"
	"github.com/osirisplane/osiris/services/telemetry"
)

// Config is what `osiris up` can be told.
type Config struct {
	// DataDir holds one sub-directory per service.
	DataDir string
}

// service is one running component, as the stack sees it.
type service interface {
	GRPCAddr() string
	HTTPAddr() string
	Run(ctx context.Context) error
	Close() error
}

type started struct {
	name string
	svc  service
}

// starters build each service on its default ports with its store under DataDir/<name>.
func starters(log *slog.Logger) []struct {
	name  string
	start func(dataDir string) (service, error)
} {
	return []struct {
		name  string
		start func(dataDir string) (service, error)
	}{
		{"audit", func(dir string) (service, error) {
			c := audit.DefaultConfig()
			c.DataDir = dir
			return audit.New(c, log)
		}},
		{"telemetry", func(dir string) (service, error) {
			c := telemetry.DefaultConfig()
			c.DataDir = dir
			return telemetry.New(c, log)
		}},
		{"session", func(dir string) (service, error) {
			c := session.DefaultConfig()
			c.DataDir = dir
			c.AuditAddr = audit.DefaultConfig().GRPCAddr // session lifecycle events go to the audit service
			return session.New(c, log)
		}},
		{"cache", func(dir string) (service, error) {
			c := cache.DefaultConfig()
			if err := c.ApplyLegacyEnv(os.LookupEnv); err != nil {
				return nil, err
			}
			c.DataDir = dir
			return cache.New(c, log)
		}},
	}
}

// Up starts every service, prints where each listens, and runs until ctx ends or one fails.
// Services that started are shut down in every case.
func Up(ctx context.Context, cfg Config, log *slog.Logger, out io.Writer) error {
	var running []started
	for _, s := range starters(log) {
		svc, err := s.start(filepath.Join(cfg.DataDir, s.name))
		if err != nil {
			for _, r := range running {
				r.svc.Close()
			}
			return fmt.Errorf("%s: %w", s.name, err)
		}
		running = append(running, started{s.name, svc})
	}

	printTable(out, cfg.DataDir, running)
	g, ctx := errgroup.WithContext(ctx)
	for _, s := range running {
		g.Go(func() error {
			if err := s.svc.Run(ctx); err != nil {
				return fmt.Errorf("%s: %w", s.name, err)
			}
			return nil
		})
	}
	return g.Wait()
}

func printTable(out io.Writer, dataDir string, running []started) {
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "SERVICE\tgRPC\tREST, /metrics, /healthz\tDATA\n")
	for _, s := range running {
		fmt.Fprintf(tw, "%s\t%s\thttp://%s\t%s\n", s.name, s.svc.GRPCAddr(), s.svc.HTTPAddr(), filepath.Join(dataDir, s.name))
	}
	tw.Flush()
	fmt.Fprintln(out, "Ctrl-C stops everything cleanly; `osiris up` again resumes on the same data.")
}
