// Command osiris runs the whole Osiris state plane in one process:
// `osiris up --data-dir DIR [--upstream NAME=URL] [--upstream-stdio 'NAME=COMMAND']`.
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
		fmt.Fprintln(os.Stderr, "usage: osiris up [--data-dir DIR] [--upstream NAME=URL] [--upstream-stdio 'NAME=COMMAND']   (see osiris up --help)")
		os.Exit(2)
	}
	os.Args = append([]string{"osiris up"}, os.Args[2:]...)
	cfg := stack.Config{DataDir: "./data"}
	os.Exit(cli.Main("osiris up", "OSIRIS", func(fs *flag.FlagSet) {
		fs.StringVar(&cfg.DataDir, "data-dir", cfg.DataDir, "directory for every service's store")
		fs.Func("upstream", "MCP server for the gateway over streamable HTTP, NAME=URL (repeatable)", func(v string) error {
			cfg.Upstreams = append(cfg.Upstreams, v)
			return nil
		})
		fs.Func("upstream-stdio", "MCP server for the gateway as a child process, 'NAME=COMMAND ARGS...' (repeatable)", func(v string) error {
			cfg.UpstreamsStdio = append(cfg.UpstreamsStdio, v)
			return nil
		})
	}, func(ctx context.Context, log *slog.Logger) error { return stack.Up(ctx, cfg, log, os.Stdout) }))
}
