// Command osiris-cache serves the bounded, TTL'd discovery cache.
package main

import (
	"context"
	"flag"
	"log/slog"
	"os"

	"github.com/osirisplane/osiris/platform/cli"
	"github.com/osirisplane/osiris/services/cache"
)

func main() {
	cfg := cache.DefaultConfig()
	legacyErr := cfg.ApplyLegacyEnv(os.LookupEnv)
	os.Exit(cli.Main("osiris-cache", cache.EnvPrefix,
		func(fs *flag.FlagSet) { cfg.RegisterFlags(fs) },
		func(ctx context.Context, log *slog.Logger) error {
			if legacyErr != nil {
				return legacyErr
			}
			return cache.Run(ctx, cfg, log)
		}))
}
