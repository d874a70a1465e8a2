// Command osiris runs the whole Osiris state plane in one process: `osiris up --data-dir DIR`.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"

	"github.com/osirisplane/osiris/internal/stack"
	"github.com/osirisplane/osiris/platform/cli"
)

func main() {
	if len(os.Args) < 2 || os.Args[1] != "up" {
		fmt.Fprintln(os.Stderr, "usage: osiris up [--data-dir DIR]   (see osiris up --help)")
		os.Exit(2)
	}
	os.Args = append([]string{"osiris up"}, os.Args[2:]...)
	cfg := stack.Config{DataDir: "./data"}
	os.Exit(cli.Main("osiris up", "OSIRIS",
		func(fs *flag.FlagSet) {
			fs.StringVar(&cfg.DataDir, "data-dir", cfg.DataDir, "directory for every service's store")
		},
		func(ctx context.Context, log *slog.Logger) error { return stack.Up(ctx, cfg, log, os.Stdout) }))
}
