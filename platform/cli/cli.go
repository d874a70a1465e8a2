// Package cli is the shared shape of every service's main: flags with environment fallbacks,
// a slog logger, a context cancelled by SIGINT or SIGTERM, and a one-line error on failure.
package cli

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/osirisplane/osiris/platform/flagenv"
)

// Main parses os.Args for the program name (flags declared by register, environment
// variables under envPrefix), then calls run until a signal arrives. It returns the exit code.
func Main(name, envPrefix string, register func(*flag.FlagSet), run func(context.Context, *slog.Logger) error) int {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	var level slog.Level
	fs.TextVar(&level, "log-level", slog.LevelInfo, "log level: debug, info, warn or error")
	register(fs)
	if ok, code := flagenv.Main(fs, envPrefix, os.Args[1:]); !ok {
		return code
	}
	log := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, log); err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
		return 1
	}
	return 0
}
