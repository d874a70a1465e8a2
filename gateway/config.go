package gateway

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"

	"github.com/osirisplane/osiris/gateway/internal/fanout"
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
	DefaultRefusalInterval = 10 * time.Second
	// DefaultUpstreamIdle closes an agent's own stdio child after this long unused (it is
	// started again by the agent's next request): a Node server costs ~66 MB, and agents that
	// never DELETE their session would keep theirs for the whole --session-timeout.
	DefaultUpstreamIdle = 5 * time.Minute
)

// Config is what the gateway can be told at start-up.
type Config struct {
	HTTPAddr       string
	Stdio          bool
	Upstreams      []string // NAME=URL (streamable HTTP), repeatable
	UpstreamsStdio []string // NAME=COMMAND ARGS..., repeatable
	// UpstreamsShared names upstreams declared stateless: one session serves every agent
	// (docs/gateway.md, "Upstream sessions").
	UpstreamsShared []string
	// UpstreamIdle closes an agent's own stdio upstream session after this long unused; 0
	// keeps it for the agent's whole session.
	UpstreamIdle    time.Duration
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
	// RefusalInterval is how often refused requests are recorded, aggregated (refusals.go).
	RefusalInterval time.Duration
	Edge            serve.Edge // --allowed-hosts, --body-read-timeout (edge.go)
	// DebugAddr serves net/http/pprof on loopback when set (debug.go); off by default.
	DebugAddr string
}

// DefaultConfig is the configuration of a plain `osiris-gateway`.
func DefaultConfig() Config {
	return Config{HTTPAddr: "127.0.0.1:8100", MaxRequestBytes: DefaultMaxRequestBytes, SessionTimeout: DefaultSessionTimeout,
		AuditAddr: "127.0.0.1:7101", TelemetryAddr: "127.0.0.1:7102", CacheAddr: "127.0.0.1:7104", SessionAddr: "127.0.0.1:7103", BuiltinTools: true, TelemetrySpool: fanout.DefaultSpool, CallTimeout: DefaultCallTimeout, MaxSessions: DefaultMaxSessions,
		RefusalInterval: DefaultRefusalInterval, UpstreamIdle: DefaultUpstreamIdle}
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
	fs.Func("upstream-shared", "NAME of an upstream declared stateless: one upstream session (one child) serves every agent (repeatable)", func(v string) error {
		c.UpstreamsShared = append(c.UpstreamsShared, v)
		return nil
	})
	fs.DurationVar(&c.UpstreamIdle, "upstream-idle", c.UpstreamIdle, "close an agent's own stdio upstream child after this long unused; the next request starts it again (0: keep it for the session)")
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
	fs.DurationVar(&c.RefusalInterval, "refusal-interval", c.RefusalInterval, "refused requests are recorded in the audit log once per interval, one event per source and reason with a count")
	fs.Func("allowed-origin", "a browser origin allowed to call the gateway (repeatable; same-origin and non-browser clients are always allowed)", func(v string) error {
		c.AllowedOrigins = append(c.AllowedOrigins, v)
		return nil
	})
	c.Edge.RegisterFlags(fs)
	fs.StringVar(&c.DebugAddr, "debug-addr", c.DebugAddr, "serve Go profiles (net/http/pprof) at http://ADDR/debug/pprof/; a loopback IP:PORT, off when empty")
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
//	 "upstreams_shared": ["files"],
//	 "auth_token_file": "/etc/osiris/gateway.token",
//	 "cache": {"discovery_request": {"ttl": "24h", "key": ["connection", "component", "samples"],
//	                                 "tags": ["connection:{connection}"]}}}
type fileConfig struct {
	Upstreams       []string        `json:"upstreams"`
	UpstreamsStdio  []string        `json:"upstreams_stdio"`
	UpstreamsShared []string        `json:"upstreams_shared"`
	AuthTokenFile   string          `json:"auth_token_file"`
	Cache           json.RawMessage `json:"cache"`
}

// readFile reads --config ("nothing" without it).
func (c Config) readFile() (fileConfig, error) {
	var f fileConfig
	if c.ConfigFile == "" {
		return f, nil
	}
	file, err := os.Open(c.ConfigFile)
	if err != nil {
		return f, fmt.Errorf("--config: %w", err)
	}
	defer file.Close()
	b, err := io.ReadAll(io.LimitReader(file, maxConfigBytes+1))
	if err != nil {
		return f, fmt.Errorf("--config: %w", err)
	}
	if len(b) > maxConfigBytes {
		return f, fmt.Errorf("--config %s: over the limit of %d bytes", c.ConfigFile, maxConfigBytes)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return f, fmt.Errorf("--config %s: %w", c.ConfigFile, err)
	}
	return f, nil
}
