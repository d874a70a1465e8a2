// Command osiris-audit serves the durable, hash-chained audit log.
package main

import (
	"context"
	"flag"
	"log/slog"
	"os"

	"github.com/osirisplane/osiris/platform/cli"
	"github.com/osirisplane/osiris/services/audit"
)

func main() {
	cfg := audit.DefaultConfig()
	os.Exit(cli.Main("osiris-audit", audit.EnvPrefix,
		func(fs *flag.FlagSet) { cfg.RegisterFlags(fs) },
		func(ctx context.Context, log *slog.Logger) error { return audit.Run(ctx, cfg, log) }))
}
