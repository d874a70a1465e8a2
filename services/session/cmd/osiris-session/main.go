// Command osiris-session serves agent sessions: conversation state, history and versioned
// key/value state with idle and absolute TTLs.
package main

import (
	"context"
	"flag"
	"log/slog"
	"os"

	"github.com/osirisplane/osiris/platform/cli"
	"github.com/osirisplane/osiris/services/session"
)

func main() {
	cfg := session.DefaultConfig()
	os.Exit(cli.Main("osiris-session", session.EnvPrefix,
		func(fs *flag.FlagSet) { cfg.RegisterFlags(fs) },
		func(ctx context.Context, log *slog.Logger) error { return session.Run(ctx, cfg, log) }))
}
