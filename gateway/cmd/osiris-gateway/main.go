// Command osiris-gateway is an MCP gateway that audits, counts, ties to a session and caches
// every tool call an agent makes through it.
package main

import (
	"context"
	"flag"
	"log/slog"
	"os"

	"github.com/osirisplane/osiris/gateway"
	"github.com/osirisplane/osiris/platform/cli"
)

func main() {
	cfg := gateway.DefaultConfig()
	os.Exit(cli.Main("osiris-gateway", gateway.EnvPrefix,
		func(fs *flag.FlagSet) { cfg.RegisterFlags(fs) },
		func(ctx context.Context, log *slog.Logger) error { return gateway.Run(ctx, cfg, log) }))
}
