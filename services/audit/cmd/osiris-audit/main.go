// Command osiris-audit serves the durable, verifiable audit log. Two subcommands work
// offline: `keygen` writes a checkpoint signing key pair, `verify` checks an export against a
// signed checkpoint.
package main

import (
	"context"
	"flag"
	"log/slog"
	"os"

	"github.com/osirisplane/osiris/platform/cli"
	"github.com/osirisplane/osiris/services/audit"
	"github.com/osirisplane/osiris/services/audit/internal/signing"
	"github.com/osirisplane/osiris/services/audit/internal/verify"
)

func main() {
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case "keygen":
			os.Exit(signing.KeygenMain(os.Args[2:], os.Stdout, os.Stderr))
		case "verify":
			os.Exit(verify.Main(os.Args[2:], os.Stdout, os.Stderr))
		}
	}
	cfg := audit.DefaultConfig()
	os.Exit(cli.Main("osiris-audit", audit.EnvPrefix,
		func(fs *flag.FlagSet) { cfg.RegisterFlags(fs) },
		func(ctx context.Context, log *slog.Logger) error { return audit.Run(ctx, cfg, log) }))
}
