package verify

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
)

// Checkpoint is what a signed checkpoint states: the log's origin (its key's name), the
// number of leaves, and the RFC 6962 root hash of those leaves.
type Checkpoint struct {
	Origin string
	Size   uint64
	Root   []byte
}

// OpenCheckpoint checks msg, a C2SP signed note, against the verifier key ("name+hash+key")
// and parses its text: origin (the key's name), tree size in decimal, base64 root hash, and
// optional extension lines, which it ignores.
func OpenCheckpoint(msg []byte, verifierKey string) (Checkpoint, error) {
	v, err := note.NewVerifier(strings.TrimSpace(verifierKey))
	if err != nil {
		return Checkpoint{}, fmt.Errorf("the key is not a note verifier key (name+hash+key): %w", err)
	}
	n, err := note.Open(msg, note.VerifierList(v))
	var unverified *note.UnverifiedNoteError
	var invalid *note.InvalidSignatureError
	switch {
	case errors.As(err, &unverified):
		var by []string
		for _, s := range unverified.Note.UnverifiedSigs {
			by = append(by, fmt.Sprintf("%s+%08x", s.Name, s.Hash))
		}
		return Checkpoint{}, fmt.Errorf("the checkpoint is not signed by key %s+%08x (signed by %s): %w", v.Name(), v.KeyHash(), strings.Join(by, ", "), ErrOtherKey)
	case errors.As(err, &invalid):
		return Checkpoint{}, fmt.Errorf("the checkpoint's signature by key %s+%08x is invalid: its text was altered", invalid.Name, invalid.Hash)
	case err != nil:
		return Checkpoint{}, fmt.Errorf("the checkpoint is not a signed note: %w", err)
	}
	return parseText(n.Text, v.Name())
}

// ErrOtherKey is wrapped by OpenCheckpoint's error for a checkpoint signed, but not by the key
// given (another log's, or this log's before its key was rotated).
var ErrOtherKey = errors.New("signed by another key")

// ParseCheckpoint reads a signed note's checkpoint WITHOUT checking any signature: for a
// checkpoint the caller signed and stored itself.
func ParseCheckpoint(msg []byte) (Checkpoint, error) {
	text, _, ok := strings.Cut(string(msg), "\n\n")
	if !ok {
		return Checkpoint{}, errors.New("the checkpoint is not a signed note: no blank line before its signatures")
	}
	return parseText(text+"\n", "")
}

// parseText reads a checkpoint's text; origin, when not empty, is the name it must carry.
func parseText(text, origin string) (Checkpoint, error) {
	lines := strings.Split(text, "\n") // the text ends with "\n", so the last element is ""
	if len(lines) < 4 {
		return Checkpoint{}, fmt.Errorf("the checkpoint has %d lines of text, want origin, size and root hash", len(lines)-1)
	}
	if origin != "" && lines[0] != origin {
		return Checkpoint{}, fmt.Errorf("the checkpoint's origin %q is not its key's name %q", lines[0], origin)
	}
	size, err := strconv.ParseUint(lines[1], 10, 64)
	if err != nil || (len(lines[1]) > 1 && lines[1][0] == '0') {
		return Checkpoint{}, fmt.Errorf("the checkpoint's size %q is not a decimal number", lines[1])
	}
	root, err := base64.StdEncoding.DecodeString(lines[2])
	if err != nil || len(root) != 32 {
		return Checkpoint{}, fmt.Errorf("the checkpoint's root hash %q is not 32 bytes in base64", lines[2])
	}
	return Checkpoint{Origin: lines[0], Size: size, Root: root}, nil
}

// String names the checkpoint as a verdict does.
func (c Checkpoint) String() string {
	return fmt.Sprintf("checkpoint %s size %d root %s", c.Origin, c.Size, base64.StdEncoding.EncodeToString(c.Root))
}
