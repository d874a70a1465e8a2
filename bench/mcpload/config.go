package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"
)

// Limits of the flags. They keep a typo from starting a million sessions or an hour-long run.
const (
	maxTargets   = 8
	maxSessions  = 1024
	minDuration  = 100 * time.Millisecond
	maxDuration  = 10 * time.Minute
	maxRounds    = 99
	maxArgsBytes = 1 << 20
	// callTimeout bounds one call, so a stuck target ends the run with an error instead of a hang.
	callTimeout = 30 * time.Second
)

// flags are the command line as given.
type flags struct {
	targets   string
	sessions  int
	duration  time.Duration
	rounds    int
	tool      string
	args      string
	auditAddr string
}

func (f *flags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.targets, "targets", "", "MCP endpoints to compare, NAME=URL,... (streamable HTTP); ratios are to the first")
	fs.IntVar(&f.sessions, "sessions", 32, "concurrent sessions per target, each calling in a loop")
	fs.DurationVar(&f.duration, "duration", 5*time.Second, "how long one round drives one target")
	fs.IntVar(&f.rounds, "rounds", 3, "rounds per target, alternating between targets; the median round is reported")
	fs.StringVar(&f.tool, "tool", "test_simple_text", "the tool every call calls")
	fs.StringVar(&f.args, "args", "{}", "the tool's arguments, a JSON object")
	fs.StringVar(&f.auditAddr, "audit-floor", "", "instead of MCP targets, measure two audit Appends in sequence against the audit service's gRPC address HOST:PORT")
}

// target is one named MCP endpoint.
type target struct {
	name string
	url  string
}

// config is the checked command line.
type config struct {
	targets   []target
	sessions  int
	duration  time.Duration
	rounds    int
	tool      string
	args      json.RawMessage
	auditAddr string
}

// targetName is what a target may be called: it is a column of the report and a word for awk.
func targetName() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_-]{0,31}$`) }

// config checks the flags; nargs is the number of arguments left after them (there may be none).
func (f flags) config(nargs int) (config, error) {
	c := config{sessions: f.sessions, duration: f.duration, rounds: f.rounds, tool: f.tool, auditAddr: f.auditAddr}
	switch {
	case nargs > 0:
		return c, errors.New("unexpected arguments after the flags")
	case f.sessions < 1 || f.sessions > maxSessions:
		return c, fmt.Errorf("--sessions must be between 1 and %d, got %d", maxSessions, f.sessions)
	case f.duration < minDuration || f.duration > maxDuration:
		return c, fmt.Errorf("--duration must be between %s and %s, got %s", minDuration, maxDuration, f.duration)
	case f.rounds < 1 || f.rounds > maxRounds:
		return c, fmt.Errorf("--rounds must be between 1 and %d, got %d", maxRounds, f.rounds)
	case f.auditAddr != "" && f.targets != "":
		return c, errors.New("--audit-floor and --targets exclude each other")
	case f.auditAddr != "":
		if _, port, ok := strings.Cut(f.auditAddr, ":"); !ok || port == "" {
			return c, fmt.Errorf("--audit-floor %q: want HOST:PORT", f.auditAddr)
		}
		return c, nil
	case f.targets == "":
		return c, errors.New("--targets is required (or --audit-floor)")
	case f.tool == "":
		return c, errors.New("--tool must not be empty")
	case len(f.args) > maxArgsBytes:
		return c, fmt.Errorf("--args is over the limit of %d bytes", maxArgsBytes)
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal([]byte(f.args), &obj); err != nil || obj == nil {
		return c, fmt.Errorf("--args %q: want a JSON object", f.args)
	}
	c.args = json.RawMessage(f.args)
	var err error
	c.targets, err = parseTargets(f.targets)
	return c, err
}

// parseTargets parses NAME=URL,...: names unique, URLs absolute http(s).
func parseTargets(s string) ([]target, error) {
	var out []target
	seen := map[string]bool{}
	for spec := range strings.SplitSeq(s, ",") {
		name, raw, ok := strings.Cut(spec, "=")
		if !ok || !targetName().MatchString(name) {
			return nil, fmt.Errorf("--targets %q: want NAME=URL, NAME a letter then up to 31 letters, digits, '_' or '-'", spec)
		}
		if seen[name] {
			return nil, fmt.Errorf("--targets: %q is named twice", name)
		}
		seen[name] = true
		u, err := url.Parse(raw)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("--targets %q: want an http(s)://HOST/PATH URL", spec)
		}
		out = append(out, target{name: name, url: raw})
	}
	if len(out) > maxTargets {
		return nil, fmt.Errorf("--targets: at most %d, got %d", maxTargets, len(out))
	}
	return out, nil
}
