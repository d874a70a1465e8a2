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

// fileConfig is the --config file: JSON, read strictly (unknown fields are errors).
//
//	{"cache": {"discovery_request": {"ttl": "24h", "key": ["connection", "component", "samples"],
//	                                 "tags": ["connection:{connection}"]}}}
type fileConfig struct {
	Cache json.RawMessage `json:"cache"`
}

// loadPolicies reads the cache policies from --config (none without it).
func (c Config) loadPolicies() (map[string]fanout.Policy, error) {
	if c.ConfigFile == "" {
		return nil, nil
	}
	b, err := os.ReadFile(c.ConfigFile)
	if err != nil {
		return nil, fmt.Errorf("--config: %w", err)
	}
	if len(b) > maxConfigBytes {
		return nil, fmt.Errorf("--config %s: %d bytes, over the limit of %d", c.ConfigFile, len(b), maxConfigBytes)
	}
	var f fileConfig
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("--config %s: %w", c.ConfigFile, err)
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
