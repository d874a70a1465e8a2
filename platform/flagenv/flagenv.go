// Package flagenv parses command-line flags with environment-variable fallbacks, so every
// flag --data-dir of a service "audit" can also be set as OSIRIS_AUDIT_DATA_DIR.
// A flag given on the command line wins over the environment.
package flagenv

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
)

// EnvName is the environment variable for flag name under prefix: ("OSIRIS_AUDIT",
// "data-dir") gives "OSIRIS_AUDIT_DATA_DIR".
func EnvName(prefix, name string) string {
	return prefix + "_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
}

// Parse parses args into fs, then fills every flag not given on the command line from its
// environment variable, if set. lookup is os.LookupEnv in production. Errors are one line
// and name the flag or variable at fault; positional arguments are refused.
func Parse(fs *flag.FlagSet, prefix string, args []string, lookup func(string) (string, bool)) error {
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		if err != nil || given[f.Name] {
			return
		}
		env := EnvName(prefix, f.Name)
		if v, ok := lookup(env); ok {
			if setErr := fs.Set(f.Name, v); setErr != nil {
				err = fmt.Errorf("invalid value %q for %s: %v", v, env, setErr)
			}
		}
	})
	return err
}

// Usage writes the flags of fs with their environment variables, for --help.
func Usage(w io.Writer, fs *flag.FlagSet, prefix string) {
	fmt.Fprintf(w, "Usage of %s:\n", fs.Name())
	fs.VisitAll(func(f *flag.Flag) {
		fmt.Fprintf(w, "  --%s (env %s, default %q)\n      %s\n", f.Name, EnvName(prefix, f.Name), f.DefValue, f.Usage)
	})
}

// Main runs a service's command line: it parses flags into fs, prints usage on --help, and
// turns a parse error into a one-line message on stderr and exit code 2. It returns false
// when the program should exit with the returned code.
func Main(fs *flag.FlagSet, prefix string, args []string) (ok bool, code int) {
	err := Parse(fs, prefix, args, os.LookupEnv)
	switch {
	case err == nil:
		return true, 0
	case errors.Is(err, flag.ErrHelp):
		Usage(os.Stdout, fs, prefix)
		return false, 0
	default:
		fmt.Fprintf(os.Stderr, "%s: %v\n", fs.Name(), err)
		return false, 2
	}
}
