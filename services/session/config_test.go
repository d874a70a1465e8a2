package session_test

import (
	"strings"
	"testing"
	"time"

	"github.com/osirisplane/osiris/services/session"
)

// Every bound of the configuration is checked at start-up, with a one-line reason.
func TestConfigValidateRefusesWhatCannotWork(t *testing.T) {
	tests := []struct {
		name string
		edit func(*session.Config)
		msg  string
	}{
		{"no data dir", func(c *session.Config) { c.DataDir = "" }, "--data-dir is required"},
		{"no address", func(c *session.Config) { c.GRPCAddr = "" }, "--grpc-addr and --http-addr are required"},
		{"idle ttl over its limit", func(c *session.Config) { c.IdleTTL = 25 * time.Hour }, "--idle-ttl (25h0m0s) must not exceed --idle-ttl-limit (24h0m0s)"},
		{"idle ttl under a second", func(c *session.Config) { c.IdleTTL = time.Millisecond }, "--idle-ttl must be at least 1s"},
		{"max ttl over its limit", func(c *session.Config) { c.MaxTTL = 200 * time.Hour }, "--max-ttl (200h0m0s) must not exceed --max-ttl-limit"},
		{"tiny retention", func(c *session.Config) { c.ClosedRetention = 0 }, "--closed-retention must be at least 1s"},
		{"no sweep interval", func(c *session.Config) { c.SweepInterval = 0 }, "--sweep-interval must be positive"},
		{"zero sessions", func(c *session.Config) { c.MaxSessions = 0 }, "--max-sessions must be between 1 and 10000000, got 0"},
		{"zero keys", func(c *session.Config) { c.MaxKeysPerSession = 0 }, "--max-keys-per-session must be between 1"},
		{"huge values", func(c *session.Config) { c.MaxValueBytes = 32 << 20 }, "--max-value-bytes must be between 1024 and 16777216"},
		{"no history", func(c *session.Config) { c.MaxHistory = 0 }, "--max-history must be between 1"},
		{"no queue", func(c *session.Config) { c.QueueDepth = 0 }, "--queue-depth must be between 1"},
		{"no audit queue", func(c *session.Config) { c.AuditQueue = 0 }, "--audit-queue must be between 1"},
		{"no audit timeout", func(c *session.Config) { c.AuditTimeout = 0 }, "--audit-timeout must be positive"},
	}
	if err := session.DefaultConfig().Validate(); err != nil {
		t.Fatalf("default config: %v", err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := session.DefaultConfig()
			tt.edit(&c)
			err := c.Validate()
			if err == nil || !strings.Contains(err.Error(), tt.msg) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("Validate = %v, want one line containing %q", err, tt.msg)
			}
		})
	}
}
