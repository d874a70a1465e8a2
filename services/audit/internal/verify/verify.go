package verify

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/rfc6962"
)

// MaxLineBytes is the longest export line read: an event's arguments may be 64 MiB when
// encoded, and escaping can grow that (a control character takes six bytes).
const MaxLineBytes = 256 << 20

// Result is a successful verification.
type Result struct {
	Checkpoint Checkpoint
	// Events is how many lines the export has; those after Checkpoint.Size are intact but not
	// covered by the checkpoint.
	Events uint64
}

// String is the verdict without its "OK: " prefix.
func (r Result) String() string {
	s := fmt.Sprintf("%d events reproduce the root of %s", r.Checkpoint.Size, r.Checkpoint)
	if after := r.Events - r.Checkpoint.Size; after > 0 {
		s += fmt.Sprintf("; %d more events are intact but after the checkpoint", after)
	}
	return s
}

// Files verifies the export file against the checkpoint file, whose signature must verify
// with the verifier key in the key file.
func Files(exportPath, checkpointPath, keyPath string) (Result, error) {
	key, err := os.ReadFile(keyPath)
	if err != nil {
		return Result{}, fmt.Errorf("cannot read the key: %w", err)
	}
	msg, err := os.ReadFile(checkpointPath)
	if err != nil {
		return Result{}, fmt.Errorf("cannot read the checkpoint: %w", err)
	}
	cp, err := OpenCheckpoint(msg, string(key))
	if err != nil {
		return Result{}, err
	}
	f, err := os.Open(exportPath)
	if err != nil {
		return Result{}, fmt.Errorf("cannot read the export: %w", err)
	}
	defer f.Close()
	return Export(f, cp, MaxLineBytes)
}

// Export reads an export (JSONL, one event per line, as ExportEvents writes it) and checks
// that line n is the event of seq n, that each line's "hash" is the leaf hash of the rest of
// the line, and that the first cp.Size leaves have cp.Root as their RFC 6962 root. The error
// names the first problem and its line.
func Export(r io.Reader, cp Checkpoint, maxLine int) (Result, error) {
	res := Result{Checkpoint: cp}
	tree := (&compact.RangeFactory{Hash: rfc6962.DefaultHasher.HashChildren}).NewEmptyRange(0)
	if cp.Size == 0 {
		if err := checkRoot(rfc6962.DefaultHasher.EmptyRoot(), cp); err != nil {
			return res, err
		}
	}
	br := bufio.NewReaderSize(r, 1<<20)
	for n := uint64(1); ; n++ {
		line, err := readLine(br, maxLine)
		if err == io.EOF {
			break
		}
		if err != nil {
			return res, fmt.Errorf("line %d: %w", n, err)
		}
		l, err := parseLine(line)
		if err != nil {
			return res, fmt.Errorf("line %d: %w", n, err)
		}
		if l.seq != n {
			return res, fmt.Errorf("line %d: seq %d where %d belongs: events are missing, moved or repeated, "+
				"or the export is filtered (only an export of the whole log, from seq 1, reproduces a root)", n, l.seq, n)
		}
		if !bytes.Equal(l.claimed, l.computed) {
			return res, fmt.Errorf("line %d (seq %d): the event does not match its hash: the event or its hash was changed", n, n)
		}
		res.Events = n
		if n > cp.Size {
			continue
		}
		if err := tree.Append(l.computed, nil); err != nil {
			return res, err
		}
		if n == cp.Size {
			root, err := tree.GetRootHash(nil)
			if err != nil {
				return res, err
			}
			if err := checkRoot(root, cp); err != nil {
				return res, err
			}
		}
	}
	if res.Events < cp.Size {
		return res, fmt.Errorf("the export ends after %d events; the checkpoint covers %d", res.Events, cp.Size)
	}
	return res, nil
}

func checkRoot(root []byte, cp Checkpoint) error {
	if bytes.Equal(root, cp.Root) {
		return nil
	}
	return fmt.Errorf("the root of events 1 to %d is %s, the checkpoint's is %s: an event was rewritten along with its hash, "+
		"or the export is not of the log the checkpoint signed", cp.Size, base64.StdEncoding.EncodeToString(root),
		base64.StdEncoding.EncodeToString(cp.Root))
}

// readLine returns the next line without its "\n" (a last line may lack one), or io.EOF.
func readLine(br *bufio.Reader, max int) ([]byte, error) {
	var line []byte
	for {
		frag, err := br.ReadSlice('\n')
		if len(line)+len(frag) > max+1 { // +1: the newline
			return nil, fmt.Errorf("longer than %d bytes, the most a line may have", max)
		}
		line = append(line, frag...)
		switch {
		case err == nil:
			return line[:len(line)-1], nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case err == io.EOF && len(line) > 0:
			return line, nil
		default:
			return nil, err
		}
	}
}
