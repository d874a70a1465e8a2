package verify

import (
	"flag"
	"fmt"
	"io"
)

// Main is `osiris-audit verify --export FILE --checkpoint FILE --key FILE`. It prints one
// verdict line, "OK: ..." or "FAIL: <first problem>", and returns the exit status: 0, 1 when
// verification fails (an unreadable file included), 2 for a usage error.
func Main(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("osiris-audit verify", flag.ContinueOnError)
	fs.SetOutput(stderr)
	export := fs.String("export", "", "the export to check: JSONL from ExportEvents, unfiltered (required)")
	checkpoint := fs.String("checkpoint", "", "a signed checkpoint (C2SP signed note) (required)")
	key := fs.String("key", "", "file holding the checkpoint's verifier key, name+hash+key (required)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: osiris-audit verify --export FILE --checkpoint FILE --key FILE")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 || *export == "" || *checkpoint == "" || *key == "" {
		fs.Usage()
		return 2
	}
	res, err := Files(*export, *checkpoint, *key)
	if err != nil {
		fmt.Fprintf(stdout, "FAIL: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "OK: %v\n", res)
	return 0
}
