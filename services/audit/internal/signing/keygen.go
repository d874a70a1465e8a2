package signing

import (
	"flag"
	"fmt"
	"io"
)

// KeygenMain is `osiris-audit keygen [--name NAME] --out DIR`: it writes a checkpoint key pair
// and prints the verifier key. It returns the exit status: 0, 1 when the keys cannot be
// written, 2 for a usage error.
func KeygenMain(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("osiris-audit keygen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	name := fs.String("name", DefaultName, "key name, which is also the checkpoints' origin")
	out := fs.String("out", "", "directory to write NAME.key (mode 0600) and NAME.pub into (required)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: osiris-audit keygen [--name NAME] --out DIR")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 || *out == "" {
		fs.Usage()
		return 2
	}
	if err := validFileName(*name); err != nil {
		fmt.Fprintf(stderr, "osiris-audit keygen: --name: %v\n", err)
		return 2
	}
	vkey, err := WriteKeyPair(*out, *name)
	if err != nil {
		fmt.Fprintf(stderr, "osiris-audit keygen: %v\n", err)
		return 1
	}
	fmt.Fprintln(stdout, vkey)
	return 0
}
