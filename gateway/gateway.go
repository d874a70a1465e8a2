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
	"strings"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/osirisplane/osiris/gateway/internal/proxy"
)

// EnvPrefix is the prefix of the gateway's environment variables.
const EnvPrefix = "OSIRIS_GATEWAY"

// Defaults of the guards.
const (
	DefaultMaxRequestBytes = 16 << 20 // the original Osiris guard
	DefaultSessionTimeout  = 30 * time.Minute
)

// Config is what the gateway can be told at start-up.
type Config struct {
	HTTPAddr        string
	Stdio           bool
	Upstream        string // NAME=URL (streamable HTTP)
	UpstreamStdio   string // NAME=COMMAND ARGS...
	MaxRequestBytes int64
	SessionTimeout  time.Duration
}

// DefaultConfig is the configuration of a plain `osiris-gateway`.
func DefaultConfig() Config {
	return Config{HTTPAddr: "127.0.0.1:8100", MaxRequestBytes: DefaultMaxRequestBytes, SessionTimeout: DefaultSessionTimeout}
}

// RegisterFlags declares the gateway's flags on fs.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.HTTPAddr, "http-addr", c.HTTPAddr, "serve MCP streamable HTTP at http://ADDR/mcp")
	fs.BoolVar(&c.Stdio, "stdio", c.Stdio, "serve MCP on stdin/stdout instead of HTTP")
	fs.StringVar(&c.Upstream, "upstream", c.Upstream, "upstream MCP server over streamable HTTP, NAME=URL")
	fs.StringVar(&c.UpstreamStdio, "upstream-stdio", c.UpstreamStdio, "upstream MCP server started as a child process, 'NAME=COMMAND ARGS...'")
	fs.Int64Var(&c.MaxRequestBytes, "max-request-bytes", c.MaxRequestBytes, "largest request body")
	fs.DurationVar(&c.SessionTimeout, "session-timeout", c.SessionTimeout, "idle MCP sessions are closed after this")
}

// Validate reports the first setting that cannot work.
func (c Config) Validate() error {
	switch {
	case (c.Upstream == "") == (c.UpstreamStdio == ""):
		return errors.New("exactly one of --upstream and --upstream-stdio is required")
	case c.MaxRequestBytes < 1024:
		return fmt.Errorf("--max-request-bytes must be at least 1024, got %d", c.MaxRequestBytes)
	case c.SessionTimeout <= 0:
		return errors.New("--session-timeout must be positive")
	}
	if _, _, err := c.dialer(); err != nil {
		return err
	}
	return nil
}

func (c Config) dialer() (string, proxy.Dial, error) {
	if c.Upstream != "" {
		name, url, ok := strings.Cut(c.Upstream, "=")
		if !ok || name == "" || !(strings.HasPrefix(url, "http://") || strings.HasPrefix(url, "https://")) {
			return "", nil, fmt.Errorf("--upstream %q: want NAME=http(s)://HOST/PATH", c.Upstream)
		}
		return name, func(context.Context) (mcp.Transport, error) {
			return &mcp.StreamableClientTransport{Endpoint: url}, nil
		}, nil
	}
	name, command, ok := strings.Cut(c.UpstreamStdio, "=")
	args := strings.Fields(command)
	if !ok || name == "" || len(args) == 0 {
		return "", nil, fmt.Errorf("--upstream-stdio %q: want 'NAME=COMMAND ARGS...'", c.UpstreamStdio)
	}
	return name, func(context.Context) (mcp.Transport, error) {
		return &mcp.CommandTransport{Command: exec.Command(args[0], args[1:]...)}, nil
	}, nil
}

// Run serves until ctx ends.
func Run(ctx context.Context, cfg Config, log *slog.Logger) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	_, dial, _ := cfg.dialer()
	p := proxy.New(proxy.Config{Dial: dial, Logger: log, Version: "dev"})
	if cfg.Stdio {
		return p.Server().Run(ctx, &mcp.StdioTransport{})
	}
	lis, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.HTTPAddr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("/mcp", mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return p.Server() }, &mcp.StreamableHTTPOptions{
		SessionTimeout:      cfg.SessionTimeout,
		MaxRequestBodyBytes: cfg.MaxRequestBytes,
		Logger:              log,
	}))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(lis) }()
	log.Info("gateway serving", "mcp", "http://"+lis.Addr().String()+"/mcp")
	select {
	case <-ctx.Done():
	case err := <-errc:
		return err
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return srv.Shutdown(shutdown)
}
