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
	"strings"
	"text/tabwriter"

	"golang.org/x/sync/errgroup"

	"github.com/osirisplane/osiris/gateway"
	"github.com/osirisplane/osiris/services/audit"
	"github.com/osirisplane/osiris/services/cache"
	"github.com/osirisplane/osiris/services/session"
	"github.com/osirisplane/osiris/services/telemetry"
)

// Config is what `osiris up` can be told.
type Config struct {
	// DataDir holds one sub-directory per service.
	DataDir string
	// Upstreams and UpstreamsStdio are the MCP servers the gateway fronts (see osiris-gateway
	// --upstream and --upstream-stdio). With none, the gateway does not start.
	Upstreams      []string
	UpstreamsStdio []string
	// AnyPorts puts every server on a free loopback port instead of its default (tests run
	// beside other stacks this way); the table Up prints says which.
	AnyPorts bool
}

// anyPort is a free loopback port.
const anyPort = "127.0.0.1:0"

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

// starters build each service on its default ports (or any, with AnyPorts) with its store
// under DataDir/<name>; grpcOf is the gRPC address of a service started before.
func starters(log *slog.Logger, anyPorts bool, grpcOf func(name string) string) []struct {
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
			if anyPorts {
				c.GRPCAddr, c.HTTPAddr = anyPort, anyPort
			}
			return audit.New(c, log)
		}},
		{"telemetry", func(dir string) (service, error) {
			c := telemetry.DefaultConfig()
			c.DataDir = dir
			if anyPorts {
				c.GRPCAddr, c.HTTPAddr = anyPort, anyPort
			}
			return telemetry.New(c, log)
		}},
		{"session", func(dir string) (service, error) {
			c := session.DefaultConfig()
			c.DataDir = dir
			c.AuditAddr = grpcOf("audit") // session lifecycle events go to the audit service
			if anyPorts {
				c.GRPCAddr, c.HTTPAddr = anyPort, anyPort
			}
			return session.New(c, log)
		}},
		{"cache", func(dir string) (service, error) {
			c := cache.DefaultConfig()
			if err := c.ApplyLegacyEnv(os.LookupEnv); err != nil {
				return nil, err
			}
			c.DataDir = dir
			if anyPorts {
				c.GRPCAddr, c.HTTPAddr = anyPort, anyPort
			}
			return cache.New(c, log)
		}},
	}
}

// gatewayService adapts the gateway to the stack's view of a service.
type gatewayService struct{ *gateway.Gateway }

func (g gatewayService) GRPCAddr() string { return "-" }
func (g gatewayService) HTTPAddr() string { return strings.TrimPrefix(g.URL(), "http://") }
func (g gatewayService) Close() error     { g.Gateway.Close(); return nil }

// Up starts every service, then the gateway, prints where each listens and how to connect,
// and runs until ctx ends or one fails. What started is shut down in every case.
func Up(ctx context.Context, cfg Config, log *slog.Logger, out io.Writer) error {
	var running []started
	grpcOf := func(name string) string {
		for _, r := range running {
			if r.name == name {
				return r.svc.GRPCAddr()
			}
		}
		return ""
	}
	all := starters(log, cfg.AnyPorts, grpcOf)
	if len(cfg.Upstreams)+len(cfg.UpstreamsStdio) > 0 {
		all = append(all, struct {
			name  string
			start func(dataDir string) (service, error)
		}{"gateway", func(string) (service, error) {
			c := gateway.DefaultConfig()
			c.Upstreams, c.UpstreamsStdio = cfg.Upstreams, cfg.UpstreamsStdio
			c.AuditAddr, c.TelemetryAddr, c.SessionAddr, c.CacheAddr = grpcOf("audit"), grpcOf("telemetry"), grpcOf("session"), grpcOf("cache")
			if cfg.AnyPorts {
				c.HTTPAddr = anyPort
			}
			resolved, err := c.Complete()
			if err != nil {
				return nil, err
			}
			g, err := gateway.New(resolved, log)
			if err != nil {
				return nil, err
			}
			return gatewayService{g}, nil
		}})
	}
	for _, s := range all {
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
	if len(cfg.Upstreams)+len(cfg.UpstreamsStdio) == 0 {
		fmt.Fprintln(out, "No gateway: name an MCP server with --upstream NAME=URL or --upstream-stdio 'NAME=COMMAND' (make run uses the SDK's everything-server).")
	} else {
		url := "http://" + running[len(running)-1].svc.HTTPAddr() // the gateway, started last; its HTTPAddr ends in /mcp
		fmt.Fprintf(out, "MCP clients connect to %s (streamable HTTP), for example:\n  npx @modelcontextprotocol/inspector   # then choose Streamable HTTP and %s\n", url, url)
	}
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
	fmt.Fprintf(tw, "SERVICE\tgRPC\tHTTP (REST or MCP, /metrics)\tDATA\n")
	for _, s := range running {
		data := filepath.Join(dataDir, s.name)
		if s.name == "gateway" {
			data = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\thttp://%s\t%s\n", s.name, s.svc.GRPCAddr(), s.svc.HTTPAddr(), data)
	}
	tw.Flush()
	fmt.Fprintln(out, "Ctrl-C stops everything cleanly; `osiris up` again resumes on the same data.")
}
