package signing

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/mod/sumdb/note"
)

// DefaultName is the key name, and so the checkpoint origin, keygen uses without --name.
const DefaultName = "osiris-audit"

// maxKeyFile bounds what LoadSigner reads: a key line is about 100 bytes.
const maxKeyFile = 4096

// ValidName reports why name cannot name a note key, or nil: it must be non-empty UTF-8
// without spaces or '+', as sumdb/note requires (GenerateKey itself does not check).
func ValidName(name string) error {
	switch {
	case name == "":
		return errors.New("key name is empty")
	case !utf8.ValidString(name):
		return fmt.Errorf("key name %q is not UTF-8", name)
	case strings.IndexFunc(name, unicode.IsSpace) >= 0 || strings.Contains(name, "+"):
		return fmt.Errorf("key name %q contains a space or '+'", name)
	}
	return nil
}

// validFileName is ValidName for a name that also names the key files.
func validFileName(name string) error {
	if err := ValidName(name); err != nil {
		return err
	}
	if strings.ContainsAny(name, `/\`) || name == "." || name == ".." {
		return fmt.Errorf("key name %q cannot be a file name ('/' or '\\' in it)", name)
	}
	return nil
}

// LoadSigner reads a private key file written by keygen (note.GenerateKey's signer key,
// "PRIVATE+KEY+name+hash+key") and returns its signer and the matching verifier key. The file
// must be readable by its owner only: anyone who reads it can sign checkpoints.
func LoadSigner(path string) (note.Signer, string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, "", fmt.Errorf("signing key: %w", err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, "", fmt.Errorf("signing key: %w", err)
	}
	if !info.Mode().IsRegular() {
		return nil, "", fmt.Errorf("signing key %s is not a regular file", path)
	}
	if perm := info.Mode().Perm(); perm&0o077 != 0 {
		return nil, "", fmt.Errorf("signing key %s has mode %#o: others than its owner may read it; chmod 600 it", path, perm)
	}
	if info.Size() > maxKeyFile {
		return nil, "", fmt.Errorf("signing key %s is %d bytes, more than a key file's %d", path, info.Size(), maxKeyFile)
	}
	b := make([]byte, info.Size())
	if _, err := io.ReadFull(f, b); err != nil {
		return nil, "", fmt.Errorf("signing key: %w", err)
	}
	skey := strings.TrimSpace(string(b))
	s, err := note.NewSigner(skey)
	if err != nil {
		return nil, "", fmt.Errorf("signing key %s is not a note signer key (PRIVATE+KEY+name+hash+key): %w", path, err)
	}
	vkey, err := verifierKey(skey)
	if err != nil {
		return nil, "", fmt.Errorf("signing key %s: %w", path, err)
	}
	return s, vkey, nil
}

// verifierKey derives the verifier key of a signer key that note.NewSigner accepted.
func verifierKey(skey string) (string, error) {
	parts := strings.SplitN(skey, "+", 5) // PRIVATE, KEY, name, hash, key (base64 may hold "+")
	if len(parts) != 5 {
		return "", errors.New("not a note signer key")
	}
	key, err := base64.StdEncoding.DecodeString(parts[4])
	if err != nil || len(key) != 1+ed25519.SeedSize {
		return "", errors.New("not an Ed25519 note signer key")
	}
	pub := ed25519.NewKeyFromSeed(key[1:]).Public().(ed25519.PublicKey)
	return note.NewEd25519VerifierKey(parts[2], pub)
}

// WriteKeyPair generates a key named name and writes dir/name.key (the signer key, mode 0600)
// and dir/name.pub (the verifier key), refusing to overwrite either. It returns the verifier key.
func WriteKeyPair(dir, name string) (string, error) {
	if err := validFileName(name); err != nil {
		return "", err
	}
	skey, vkey, err := note.GenerateKey(rand.Reader, name)
	if err != nil {
		return "", err
	}
	keyPath, pubPath := dir+string(os.PathSeparator)+name+".key", dir+string(os.PathSeparator)+name+".pub"
	for _, p := range []string{keyPath, pubPath} {
		if _, err := os.Lstat(p); err == nil {
			return "", fmt.Errorf("%s exists: keygen never overwrites a key", p)
		} else if !errors.Is(err, fs.ErrNotExist) {
			return "", err
		}
	}
	if err := writeNew(keyPath, skey+"\n", 0o600); err != nil {
		return "", err
	}
	if err := writeNew(pubPath, vkey+"\n", 0o644); err != nil {
		os.Remove(keyPath)
		return "", err
	}
	// The names too must survive a power loss: a service that lost its generated key would
	// make a new one, and its stored checkpoints would no longer verify.
	d, err := os.Open(dir)
	if err != nil {
		return "", err
	}
	if err := errors.Join(d.Sync(), d.Close()); err != nil {
		return "", err
	}
	return vkey, nil
}

func writeNew(path, content string, perm os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(content); err != nil {
		f.Close()
		os.Remove(path)
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		os.Remove(path)
		return err
	}
	return f.Close()
}

// CheckpointText is the body of a C2SP checkpoint: origin, tree size in decimal, and the
// root hash in standard base64, one per line.
func CheckpointText(origin string, size uint64, root []byte) string {
	return origin + "\n" + strconv.FormatUint(size, 10) + "\n" + base64.StdEncoding.EncodeToString(root) + "\n"
}

// SignCheckpoint returns the signed note of the checkpoint of a tree of size leaves with the
// given root; its origin is the signer's name.
func SignCheckpoint(s note.Signer, size uint64, root []byte) ([]byte, error) {
	return note.Sign(&note.Note{Text: CheckpointText(s.Name(), size, root)}, s)
}
