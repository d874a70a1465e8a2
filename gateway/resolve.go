package gateway

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"time"

	"go.opentelemetry.io/otel/propagation"

	"github.com/osirisplane/osiris/gateway/internal/fanout"
	"github.com/osirisplane/osiris/gateway/internal/proxy"
	"github.com/osirisplane/osiris/gateway/internal/upstream"
)

// Resolved is the gateway's configuration with every file read and every setting checked,
// once: the --config file merged into the flags, the token read from its file, upstreams and
// cache policies parsed. New takes only this, and nothing reads a file after Complete, so a
// file that changes or becomes unreadable after start-up cannot change what the gateway does
// (a token file that could be read once would otherwise have switched authentication off).
type Resolved struct {
	c         Config // the file's upstreams merged in; AuthToken holds the token in use
	upstreams []upstreamSpec
	policies  map[string]fanout.Policy
	origins   *http.CrossOriginProtection
	complete  bool
}

// upstreamSpec is one parsed --upstream (url) or --upstream-stdio (args).
type upstreamSpec struct {
	name   string
	url    string
	args   []string
	shared bool
}

// Complete reads the --config file and the token file and checks every setting; an error
// names the first setting that cannot work, in one line, and must stop start-up.
func (c Config) Complete() (Resolved, error) {
	f, err := c.readFile()
	if err != nil {
		return Resolved{}, err
	}
	c.Upstreams = slices.Concat(c.Upstreams, f.Upstreams)
	c.UpstreamsStdio = slices.Concat(c.UpstreamsStdio, f.UpstreamsStdio)
	c.UpstreamsShared = slices.Concat(c.UpstreamsShared, f.UpstreamsShared)
	c.AllowedOrigins = slices.Clone(c.AllowedOrigins)
	if c.AuthToken == "" && c.AuthTokenFile == "" {
		c.AuthTokenFile = f.AuthTokenFile
	}
	if err := c.check(); err != nil {
		return Resolved{}, err
	}
	if err := c.Edge.Validate(); err != nil {
		return Resolved{}, err
	}
	r := Resolved{complete: true}
	if c.AuthToken, err = c.loadToken(); err != nil {
		return Resolved{}, err
	}
	if r.origins, err = c.originGuard(); err != nil {
		return Resolved{}, err
	}
	if len(f.Cache) > 0 {
		if r.policies, err = fanout.ParsePolicies(f.Cache); err != nil {
			return Resolved{}, fmt.Errorf("--config %s: %w", c.ConfigFile, err)
		}
	}
	if r.upstreams, err = c.parseUpstreams(); err != nil {
		return Resolved{}, err
	}
	r.c = c
	return r, nil
}

// Validate reports the first setting that cannot work, with --config merged in.
func (c Config) Validate() error {
	_, err := c.Complete()
	return err
}

// check checks the settings that need no file.
func (c Config) check() error {
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
	case c.UpstreamIdle < 0:
		return fmt.Errorf("--upstream-idle must not be negative, got %s", c.UpstreamIdle)
	case c.RefusalInterval < minRefusalInterval || c.RefusalInterval > maxRefusalInterval:
		return fmt.Errorf("--refusal-interval must be between %s and %s, got %s", minRefusalInterval, maxRefusalInterval, c.RefusalInterval)
	}
	return checkDebugAddr(c.DebugAddr)
}

// maxUpstreams bounds the upstreams of one gateway.
const maxUpstreams = 32

// upstreamName is what an upstream may be called. With several upstreams it prefixes tool and
// prompt names as NAME_, so it may not contain "_": the first "_" then always ends the prefix,
// and no two upstreams can expose the same name.
func upstreamName() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z][A-Za-z0-9-]{0,31}$`) }

// parseUpstreams parses --upstream and --upstream-stdio.
func (c Config) parseUpstreams() ([]upstreamSpec, error) {
	var out []upstreamSpec
	seen := map[string]bool{}
	parse := func(flag, spec string, http bool) error {
		name, rest, ok := strings.Cut(spec, "=")
		if !ok || !upstreamName().MatchString(name) {
			return fmt.Errorf("--%s %q: want NAME=..., NAME a letter then up to 31 letters, digits or '-'", flag, spec)
		}
		if seen[name] {
			return fmt.Errorf("--%s %q: upstream name %q is used twice", flag, spec, name)
		}
		seen[name] = true
		u := upstreamSpec{name: name}
		switch {
		case http && !strings.HasPrefix(rest, "http://") && !strings.HasPrefix(rest, "https://"):
			return fmt.Errorf("--%s %q: want NAME=http(s)://HOST/PATH", flag, spec)
		case http:
			u.url = rest
		case len(strings.Fields(rest)) == 0:
			return fmt.Errorf("--%s %q: want 'NAME=COMMAND ARGS...'", flag, spec)
		default:
			u.args = strings.Fields(rest)
			// Found now, so a command that cannot start stops the gateway at start-up with
			// this message instead of failing every agent's initialize later.
			if _, err := exec.LookPath(u.args[0]); err != nil {
				return fmt.Errorf("--%s %q: %w", flag, spec, err)
			}
		}
		out = append(out, u)
		return nil
	}
	for _, spec := range c.Upstreams {
		if err := parse("upstream", spec, true); err != nil {
			return nil, err
		}
	}
	for _, spec := range c.UpstreamsStdio {
		if err := parse("upstream-stdio", spec, false); err != nil {
			return nil, err
		}
	}
	for _, name := range c.UpstreamsShared {
		i := slices.IndexFunc(out, func(u upstreamSpec) bool { return u.name == name })
		if i < 0 {
			return nil, fmt.Errorf("--upstream-shared %q: no upstream has that name", name)
		}
		out[i].shared = true
	}
	return out, nil
}

// dial turns the upstreams into proxy dials; HTTP requests carry the caller's trace context.
func (r Resolved) dial(prop propagation.TextMapPropagator) []proxy.Upstream {
	// One connection pool for every upstream session. Each session has its POSTs and its SSE
	// stream in flight; with Go's default of two idle connections per host, most calls of a
	// busy gateway would open (and the upstream accept) a new TCP connection.
	pool := http.DefaultTransport.(*http.Transport).Clone()
	pool.MaxIdleConns, pool.MaxIdleConnsPerHost = 0, max(r.c.MaxSessions, 1)*2
	var rt http.RoundTripper = pool
	if prop != nil {
		rt = proxy.TraceTransport{Base: pool, Propagator: prop}
	}
	client := &http.Client{Transport: rt}
	out := make([]proxy.Upstream, len(r.upstreams))
	for i, u := range r.upstreams {
		idle := r.c.UpstreamIdle
		if u.url != "" {
			idle = 0 // an HTTP upstream's session costs the gateway nothing while unused
		}
		out[i] = proxy.Upstream{Name: u.name, Shared: u.shared, Idle: idle, Config: func() upstream.Config {
			if u.url != "" {
				return upstream.Config{HTTP: &upstream.HTTP{URL: u.url, Client: client}}
			}
			return upstream.Config{Stdio: &upstream.Stdio{Command: exec.Command(u.args[0], u.args[1:]...)}}
		}}
	}
	return out
}

// LogValue is the effective configuration as logged at start: secrets hidden (the token, an
// upstream URL's password and query, a stdio upstream's arguments).
func (r Resolved) LogValue() slog.Value {
	c := r.c
	token := "none (authentication off)"
	switch {
	case c.AuthToken != "" && c.AuthTokenFile != "":
		token = "set from " + c.AuthTokenFile + " (redacted)"
	case c.AuthToken != "":
		token = "set (redacted)"
	}
	ups := make([]string, len(r.upstreams))
	for i, u := range r.upstreams {
		ups[i] = u.name + "=" + redactURL(u.url)
		if u.url == "" {
			ups[i] = fmt.Sprintf("%s=%s (%d arguments, not shown)", u.name, u.args[0], len(u.args)-1)
		}
	}
	policies := make([]string, 0, len(r.policies))
	for tool := range r.policies {
		policies = append(policies, tool)
	}
	slices.Sort(policies)
	transport := "http://" + c.HTTPAddr + "/mcp"
	if c.Stdio {
		transport = "stdio"
	}
	return slog.GroupValue(
		slog.String("serve", transport), slog.Any("upstreams", ups), slog.String("auth-token", token),
		slog.Any("allowed-origins", c.AllowedOrigins), slog.Int64("max-request-bytes", c.MaxRequestBytes),
		slog.Duration("session-timeout", c.SessionTimeout), slog.Duration("call-timeout", c.CallTimeout),
		slog.Int("max-sessions", c.MaxSessions), slog.String("audit-addr", c.AuditAddr), slog.Bool("audit-fail-open", c.AuditFailOpen),
		slog.String("telemetry-addr", c.TelemetryAddr), slog.Int("telemetry-spool", c.TelemetrySpool),
		slog.String("session-addr", c.SessionAddr), slog.String("cache-addr", c.CacheAddr),
		slog.String("config", c.ConfigFile), slog.Any("cached-tools", policies), slog.Bool("builtin-tools", c.BuiltinTools),
		slog.Duration("refusal-interval", c.RefusalInterval), slog.String("debug-addr", c.DebugAddr))
}

// redactURL hides what may be a secret in an upstream URL: its password and its query.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(unparsable URL, not shown)"
	}
	if u.RawQuery != "" {
		u.RawQuery = "redacted"
	}
	return u.Redacted()
}

// Bounds of --refusal-interval.
const (
	minRefusalInterval = 100 * time.Millisecond
	maxRefusalInterval = time.Hour
)
