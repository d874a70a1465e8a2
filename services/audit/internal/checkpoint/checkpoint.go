// Package checkpoint makes and reads the audit log's checkpoints: C2SP signed notes
// (https://c2sp.org/tlog-checkpoint, golang.org/x/mod/sumdb/note) whose text is the log's
// origin, the tree size in decimal and the base64 root hash, one per line.
package checkpoint

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
)

// Checkpoint is what a checkpoint says.
type Checkpoint struct {
	Origin string
	Size   uint64
	Root   []byte
}

// Text is the note text of c.
func (c Checkpoint) Text() string {
	return fmt.Sprintf("%s\n%d\n%s\n", c.Origin, c.Size, base64.StdEncoding.EncodeToString(c.Root))
}

// Sign makes the signed note of c; the signer's name is the origin.
func Sign(c Checkpoint, s note.Signer) ([]byte, error) {
	if c.Origin != s.Name() {
		return nil, fmt.Errorf("checkpoint origin %q is not the signing key's name %q", c.Origin, s.Name())
	}
	return note.Sign(&note.Note{Text: c.Text()}, s)
}

// Open verifies a signed note with v and parses its text.
func Open(msg []byte, v note.Verifier) (Checkpoint, error) {
	n, err := note.Open(msg, note.VerifierList(v))
	if err != nil {
		var unknown *note.UnverifiedNoteError
		if errors.As(err, &unknown) {
			return Checkpoint{}, fmt.Errorf("checkpoint is not signed by %s (signed by someone else, or the key changed)", v.Name())
		}
		return Checkpoint{}, fmt.Errorf("checkpoint does not verify with %s: %w", v.Name(), err)
	}
	return Parse(n.Text)
}

// Parse reads a checkpoint's text (the part before the signatures), without checking any
// signature.
func Parse(text string) (Checkpoint, error) {
	lines := strings.SplitN(text, "\n", 4)
	if len(lines) < 4 {
		return Checkpoint{}, errors.New("checkpoint text has fewer than three lines")
	}
	size, err := strconv.ParseUint(lines[1], 10, 64)
	if err != nil {
		return Checkpoint{}, fmt.Errorf("checkpoint tree size %q: %w", lines[1], err)
	}
	root, err := base64.StdEncoding.DecodeString(lines[2])
	if err != nil || len(root) != 32 {
		return Checkpoint{}, fmt.Errorf("checkpoint root %q is not a base64 SHA-256 hash", lines[2])
	}
	if lines[0] == "" {
		return Checkpoint{}, errors.New("checkpoint origin is empty")
	}
	return Checkpoint{Origin: lines[0], Size: size, Root: root}, nil
}

// ParseNote reads a signed note's checkpoint without checking its signature: for a note this
// process signed and stored itself.
func ParseNote(msg []byte) (Checkpoint, error) {
	i := bytes.Index(msg, []byte("\n\n"))
	if i < 0 {
		return Checkpoint{}, errors.New("checkpoint note has no signature block")
	}
	return Parse(string(msg[:i+1]))
}
