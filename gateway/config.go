package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"go.opentelemetry.io/otel/propagation"

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
	Edge            serve.Edge // --allowed-hosts, --body-read-timeout (edge.go)
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
	c.Edge.RegisterFlags(fs)
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
	if err := c.Edge.Validate(); err != nil {
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
	// One connection pool for every upstream session. Each session has its POSTs and its SSE
	// stream in flight; with Go's default of two idle connections per host, most calls of a
	// busy gateway would open (and the upstream accept) a new TCP connection.
	pool := http.DefaultTransport.(*http.Transport).Clone()
	pool.MaxIdleConns, pool.MaxIdleConnsPerHost = 0, max(c.MaxSessions, 1)*2
	var rt http.RoundTripper = pool
	if prop != nil {
		rt = proxy.TraceTransport{Base: pool, Propagator: prop}
	}
	client := &http.Client{Transport: rt}
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

// maxConfigBytes bounds the config file.
const maxConfigBytes = 1 << 20

// fileConfig is the --config file: JSON, read strictly (unknown fields are errors). Its
// upstreams are added to those of the flags; its token file is used when no flag gives one.
//
//	{"upstreams": ["osiris=http://127.0.0.1:3001/mcp"],
//	 "upstreams_stdio": ["files=/usr/local/bin/mcp-files --root /srv"],
//	 "auth_token_file": "/etc/osiris/gateway.token",
//	 "cache": {"discovery_request": {"ttl": "24h", "key": ["connection", "component", "samples"],
//	                                 "tags": ["connection:{connection}"]}}}
type fileConfig struct {
	Upstreams      []string        `json:"upstreams"`
	UpstreamsStdio []string        `json:"upstreams_stdio"`
	AuthTokenFile  string          `json:"auth_token_file"`
	Cache          json.RawMessage `json:"cache"`
}

// readFile reads --config ("nothing" without it).
func (c Config) readFile() (fileConfig, error) {
	var f fileConfig
	if c.ConfigFile == "" {
		return f, nil
	}
	b, err := os.ReadFile(c.ConfigFile)
	if err != nil {
		return f, fmt.Errorf("--config: %w", err)
	}
	if len(b) > maxConfigBytes {
		return f, fmt.Errorf("--config %s: %d bytes, over the limit of %d", c.ConfigFile, len(b), maxConfigBytes)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return f, fmt.Errorf("--config %s: %w", c.ConfigFile, err)
	}
	return f, nil
}

// withFile is the configuration with the --config file's upstreams and token file merged in.
func (c Config) withFile() (Config, error) {
	f, err := c.readFile()
	if err != nil {
		return c, err
	}
	c.Upstreams = append(append([]string(nil), c.Upstreams...), f.Upstreams...)
	c.UpstreamsStdio = append(append([]string(nil), c.UpstreamsStdio...), f.UpstreamsStdio...)
	if c.AuthToken == "" && c.AuthTokenFile == "" {
		c.AuthTokenFile = f.AuthTokenFile
	}
	return c, nil
}

// loadPolicies reads the cache policies from --config (none without it).
func (c Config) loadPolicies() (map[string]fanout.Policy, error) {
	f, err := c.readFile()
	if err != nil {
		return nil, err
	}
	if len(f.Cache) == 0 {
		return nil, nil
	}
	policies, err := fanout.ParsePolicies(f.Cache)
	if err != nil {
		return nil, fmt.Errorf("--config %s: %w", c.ConfigFile, err)
	}
	return policies, nil
}
