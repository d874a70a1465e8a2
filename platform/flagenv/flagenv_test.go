package flagenv

import (
	"flag"
	"strings"
	"testing"
	"time"
)

func newSet() (*flag.FlagSet, *string, *time.Duration) {
	fs := flag.NewFlagSet("osiris-audit", flag.ContinueOnError)
	dir := fs.String("data-dir", "./data/audit", "")
	ttl := fs.Duration("idle-ttl", time.Minute, "")
	return fs, dir, ttl
}

func TestParse(t *testing.T) {
	env := map[string]string{"OSIRIS_AUDIT_DATA_DIR": "/env", "OSIRIS_AUDIT_IDLE_TTL": "5s"}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }

	fs, dir, ttl := newSet()
	if err := Parse(fs, "OSIRIS_AUDIT", nil, lookup); err != nil {
		t.Fatal(err)
	}
	if *dir != "/env" || *ttl != 5*time.Second {
		t.Fatalf("env not applied: %q %v", *dir, *ttl)
	}

	fs, dir, _ = newSet()
	if err := Parse(fs, "OSIRIS_AUDIT", []string{"--data-dir", "/flag"}, lookup); err != nil {
		t.Fatal(err)
	}
	if *dir != "/flag" {
		t.Fatalf("flag should win over env, got %q", *dir)
	}
}

func TestParseErrorsAreOneLine(t *testing.T) {
	bad := func(k string) (string, bool) { return "soon", k == "OSIRIS_AUDIT_IDLE_TTL" }
	none := func(string) (string, bool) { return "", false }
	tests := []struct {
		name   string
		args   []string
		lookup func(string) (string, bool)
		want   string
	}{
		{"unknown flag", []string{"--nope"}, none, "flag provided but not defined: -nope"},
		{"bad value", []string{"--idle-ttl", "x"}, none, `invalid value "x" for flag -idle-ttl`},
		{"bad env", nil, bad, `invalid value "soon" for OSIRIS_AUDIT_IDLE_TTL`},
		{"positional", []string{"extra"}, none, `unexpected argument "extra"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs, _, _ := newSet()
			err := Parse(fs, "OSIRIS_AUDIT", tt.args, tt.lookup)
			if err == nil || !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("err = %v, want one line containing %q", err, tt.want)
			}
		})
	}
}
