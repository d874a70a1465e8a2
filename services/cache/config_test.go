package cache_test

import (
	"flag"
	"strings"
	"testing"
	"time"

	"github.com/osirisplane/osiris/platform/flagenv"
	"github.com/osirisplane/osiris/services/cache"
)

func TestConfigValidateNamesTheBadSetting(t *testing.T) {
	tests := []struct {
		name string
		edit func(c *cache.Config)
		msg  string
	}{
		{"no data dir", func(c *cache.Config) { c.DataDir = "" }, "--data-dir is required"},
		{"default over max", func(c *cache.Config) { c.DefaultTTL = 40 * 24 * time.Hour }, "--default-ttl must be positive and at most --max-ttl"},
		{"negative max ttl", func(c *cache.Config) { c.MaxTTL = -1 }, "--max-ttl must be positive"},
		{"max ttl over ten years", func(c *cache.Config) { c.MaxTTL = 11 * 365 * 24 * time.Hour }, "--max-ttl must be positive and at most"},
		{"no entries", func(c *cache.Config) { c.MaxEntries = 0 }, "--max-entries must be between 1 and 10000000"},
		{"value over 64 MiB", func(c *cache.Config) { c.MaxValueBytes = 65 << 20 }, "--max-value-bytes must be between 1 and 67108864"},
		{"bytes under value", func(c *cache.Config) { c.MaxBytes = 1 << 20 }, "--max-bytes (1048576) must be at least --max-value-bytes (16777216)"},
		{"pending under value", func(c *cache.Config) { c.MaxPendingBytes = 1 }, "--max-pending-bytes (1) must be at least"},
		{"no expiry interval", func(c *cache.Config) { c.ExpiryInterval = 0 }, "--expiry-interval must be positive"},
		{"queue depth", func(c *cache.Config) { c.QueueDepth = 0 }, "--queue-depth must be between 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := cache.DefaultConfig()
			tt.edit(&c)
			if err := c.Validate(); err == nil || !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("Validate = %v, want %q", err, tt.msg)
			}
		})
	}
	if err := cache.DefaultConfig().Validate(); err != nil {
		t.Fatalf("default config: %v", err)
	}
}

// The original's OSIRIS_MCP_CACHE_TTL_HOURS sets the default TTL; the service's own variable
// and flag win over it.
func TestDefaultTTLFromTheOriginalEnvironmentAndFlags(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		args []string
		want time.Duration
		err  string
	}{
		{"nothing set", nil, nil, 24 * time.Hour, ""},
		{"original variable", map[string]string{"OSIRIS_MCP_CACHE_TTL_HOURS": "6"}, nil, 6 * time.Hour, ""},
		{"own variable wins", map[string]string{"OSIRIS_MCP_CACHE_TTL_HOURS": "6", "OSIRIS_CACHE_DEFAULT_TTL": "90m"}, nil, 90 * time.Minute, ""},
		{"flag wins", map[string]string{"OSIRIS_MCP_CACHE_TTL_HOURS": "6", "OSIRIS_CACHE_DEFAULT_TTL": "90m"}, []string{"--default-ttl=2h"}, 2 * time.Hour, ""},
		{"not a number", map[string]string{"OSIRIS_MCP_CACHE_TTL_HOURS": "a day"}, nil, 0, `invalid value "a day" for OSIRIS_MCP_CACHE_TTL_HOURS`},
		{"zero hours", map[string]string{"OSIRIS_MCP_CACHE_TTL_HOURS": "0"}, nil, 0, "whole number of hours from 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lookup := func(k string) (string, bool) { v, ok := tt.env[k]; return v, ok }
			cfg := cache.DefaultConfig()
			err := cfg.ApplyLegacyEnv(lookup)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			fs := flag.NewFlagSet("osiris-cache", flag.ContinueOnError)
			cfg.RegisterFlags(fs)
			if err := flagenv.Parse(fs, cache.EnvPrefix, tt.args, lookup); err != nil {
				t.Fatal(err)
			}
			if cfg.DefaultTTL != tt.want {
				t.Fatalf("default TTL %v, want %v", cfg.DefaultTTL, tt.want)
			}
		})
	}
}
