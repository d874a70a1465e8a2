// Command osiris-telemetry serves exact, durable tool-call telemetry.
package main

import (
	"context"
	"flag"
	"log/slog"
	"os"

	"github.com/osirisplane/osiris/platform/cli"
	"github.com/osirisplane/osiris/services/telemetry"
)

func main() {
	cfg := telemetry.DefaultConfig()
	os.Exit(cli.Main("osiris-telemetry", telemetry.EnvPrefix,
		func(fs *flag.FlagSet) { cfg.RegisterFlags(fs) },
		func(ctx context.Context, log *slog.Logger) error { return telemetry.Run(ctx, cfg, log) }))
}
