package gateway

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"

	"github.com/osirisplane/osiris/gateway/internal/fanout"
)

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
