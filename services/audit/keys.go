package audit

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/mod/sumdb/note"
)

// generatedKeyFile is where a service started without --signing-key-file keeps the key it made.
const generatedKeyFile = "checkpoint-signing.key"

// signingKey is the checkpoint signer, its verifier and the verifier's text form.
type signingKey struct {
	signer   note.Signer
	verifier note.Verifier
	vkey     string
}

// loadSigningKey reads the key file, or, when none is named, the one the service generated in
// its data dir (generating it on the first start, with a warning: a key beside the data
// protects nothing against someone who has the disk).
func loadSigningKey(file, dataDir, name string, log *slog.Logger) (signingKey, error) {
	if file == "" {
		file = filepath.Join(dataDir, generatedKeyFile)
		if _, err := os.Stat(file); errors.Is(err, fs.ErrNotExist) {
			skey, _, err := note.GenerateKey(rand.Reader, name)
			if err != nil {
				return signingKey{}, err
			}
			if err := os.MkdirAll(dataDir, 0o750); err != nil {
				return signingKey{}, err
			}
			if err := writeFileDurably(file, []byte(skey+"\n"), 0o600); err != nil {
				return signingKey{}, fmt.Errorf("write generated signing key: %w", err)
			}
		}
		log.Warn("checkpoints are signed with a key kept in the data dir: anyone with the disk can sign a rewritten log; generate one with `osiris-audit keygen` and pass --signing-key-file", "key_file", file)
	}
	raw, err := os.ReadFile(file)
	if err != nil {
		return signingKey{}, fmt.Errorf("--signing-key-file: %w", err)
	}
	return parseSigningKey(strings.TrimSpace(string(raw)))
}

// parseSigningKey reads a signed-note private key ("PRIVATE+KEY+name+hash+base64") and derives
// its verifier key.
func parseSigningKey(skey string) (signingKey, error) {
	s, err := note.NewSigner(skey)
	if err != nil {
		return signingKey{}, fmt.Errorf("--signing-key-file does not hold a signed-note private key (write one with `osiris-audit keygen`): %w", err)
	}
	parts := strings.SplitN(skey, "+", 5) // PRIVATE, KEY, name, hash, key (base64 may hold '+')
	key, err := base64.StdEncoding.DecodeString(parts[4])
	if err != nil || len(key) != 1+ed25519.SeedSize || key[0] != 1 {
		return signingKey{}, errors.New("--signing-key-file: only Ed25519 keys are supported")
	}
	vkey, err := note.NewEd25519VerifierKey(s.Name(), ed25519.NewKeyFromSeed(key[1:]).Public().(ed25519.PublicKey))
	if err != nil {
		return signingKey{}, err
	}
	v, err := note.NewVerifier(vkey)
	if err != nil {
		return signingKey{}, err
	}
	return signingKey{signer: s, verifier: v, vkey: vkey}, nil
}

// writeFileDurably writes a new file whole or not at all, and makes its name durable: a power
// loss must not leave an empty key beside a log it signed.
func writeFileDurably(name string, data []byte, perm os.FileMode) error {
	dir := filepath.Dir(name)
	f, err := os.CreateTemp(dir, ".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if err := f.Chmod(perm); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := errors.Join(f.Sync(), f.Close()); err != nil {
		return err
	}
	if err := os.Rename(f.Name(), name); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	return errors.Join(d.Sync(), d.Close())
}
