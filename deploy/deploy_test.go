// Package deploy_test checks the deployment examples: every command line in them runs a real
// binary with real flags and valid values, the manifests parse, and the example gateway config
// validates. Examples that drift from the code are worse than none.
package deploy_test

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/osirisplane/osiris/gateway"
	"github.com/osirisplane/osiris/platform/flagenv"
	"github.com/osirisplane/osiris/services/audit"
	"github.com/osirisplane/osiris/services/cache"
	"github.com/osirisplane/osiris/services/session"
	"github.com/osirisplane/osiris/services/telemetry"
)

// flagsOf is each binary's flag set, as its main declares it.
func flagsOf(binary string) (*flag.FlagSet, string, bool) {
	fs := flag.NewFlagSet(binary, flag.ContinueOnError)
	fs.String("log-level", "info", "")
	switch binary {
	case "osiris-audit":
		c := audit.DefaultConfig()
		c.RegisterFlags(fs)
		return fs, audit.EnvPrefix, true
	case "osiris-telemetry":
		c := telemetry.DefaultConfig()
		c.RegisterFlags(fs)
		return fs, "OSIRIS_TELEMETRY", true
	case "osiris-session":
		c := session.DefaultConfig()
		c.RegisterFlags(fs)
		return fs, "OSIRIS_SESSION", true
	case "osiris-cache":
		c := cache.DefaultConfig()
		c.RegisterFlags(fs)
		return fs, cache.EnvPrefix, true
	case "osiris-gateway":
		c := gateway.DefaultConfig()
		c.RegisterFlags(fs)
		return fs, gateway.EnvPrefix, true
	}
	return nil, "", false
}

// checkCommand parses a command line with its binary's flags.
func checkCommand(t *testing.T, where string, argv []string) {
	t.Helper()
	fs, prefix, ok := flagsOf(filepath.Base(argv[0]))
	if !ok {
		t.Errorf("%s: %s is not one of our binaries", where, argv[0])
		return
	}
	none := func(string) (string, bool) { return "", false }
	if err := flagenv.Parse(fs, prefix, argv[1:], none); err != nil {
		t.Errorf("%s: %s: %v", where, strings.Join(argv, " "), err)
	}
}

func TestProcfileCommandsUseRealFlags(t *testing.T) {
	b, err := os.ReadFile("Procfile")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for line := range strings.SplitSeq(string(b), "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		_, cmd, ok := strings.Cut(line, ": ")
		if !ok {
			t.Fatalf("Procfile line %q is not NAME: COMMAND", line)
		}
		checkCommand(t, "Procfile", strings.Fields(cmd))
		n++
	}
	if n != 5 {
		t.Fatalf("Procfile runs %d processes, want the 4 services and the gateway", n)
	}
}

func TestSystemdUnitsRunRealBinaries(t *testing.T) {
	units, _ := filepath.Glob("systemd/*.service")
	if len(units) == 0 {
		t.Fatal("no units")
	}
	for _, u := range units {
		f, err := os.Open(u)
		if err != nil {
			t.Fatal(err)
		}
		sections, exec := map[string]bool{}, ""
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			line := strings.TrimSpace(sc.Text())
			switch {
			case line == "" || strings.HasPrefix(line, "#"):
			case strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]"):
				sections[line] = true
			case strings.HasPrefix(line, "ExecStart="):
				exec = strings.TrimPrefix(line, "ExecStart=")
			case !strings.Contains(line, "="):
				t.Errorf("%s: %q is neither a section nor KEY=VALUE", u, line)
			}
		}
		f.Close()
		for _, s := range []string{"[Unit]", "[Service]", "[Install]"} {
			if !sections[s] {
				t.Errorf("%s lacks %s", u, s)
			}
		}
		if exec == "" {
			t.Errorf("%s has no ExecStart", u)
			continue
		}
		checkCommand(t, u, strings.Fields(exec))
	}
}

func TestKubernetesManifestsParseAndUseRealFlags(t *testing.T) {
	files, _ := filepath.Glob("kubernetes/*.yaml")
	if len(files) == 0 {
		t.Fatal("no manifests")
	}
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(b))
		for {
			var doc struct {
				APIVersion string `yaml:"apiVersion"`
				Kind       string `yaml:"kind"`
				Metadata   struct {
					Name string `yaml:"name"`
				} `yaml:"metadata"`
				Spec struct {
					Template struct {
						Spec struct {
							Containers []struct {
								Name  string   `yaml:"name"`
								Image string   `yaml:"image"`
								Args  []string `yaml:"args"`
							} `yaml:"containers"`
						} `yaml:"spec"`
					} `yaml:"template"`
				} `yaml:"spec"`
			}
			if err := dec.Decode(&doc); errors.Is(err, io.EOF) {
				break
			} else if err != nil {
				t.Fatalf("%s: %v", file, err)
			}
			if doc.APIVersion == "" || doc.Kind == "" || doc.Metadata.Name == "" {
				t.Fatalf("%s: a document lacks apiVersion, kind or metadata.name", file)
			}
			for _, c := range doc.Spec.Template.Spec.Containers {
				binary := filepath.Base(strings.SplitN(c.Image, ":", 2)[0])
				checkCommand(t, file+" "+c.Name, append([]string{binary}, c.Args...))
			}
		}
	}
}

func TestExampleGatewayConfigValidates(t *testing.T) {
	cfg := gateway.DefaultConfig()
	t.Chdir("..") // the example names paths from the repository root, where it is run
	cfg.ConfigFile = "deploy/gateway.json"
	if err := cfg.Validate(); err != nil {
		t.Fatalf("deploy/gateway.json: %v", err)
	}
}
