package audit

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"

	"golang.org/x/mod/sumdb/note"

	"github.com/osirisplane/osiris/services/audit/internal/signing"
)

// loadSigningKey reads the key file, or, when none is named, the key the service generated in
// its data dir as NAME.key (generating it, and NAME.pub, on the first start). A key beside the
// data protects nothing against someone who has the disk, so that case warns at every start.
func loadSigningKey(file, dataDir, name string, log *slog.Logger) (note.Signer, string, error) {
	if file == "" {
		file = filepath.Join(dataDir, name+".key")
		if _, err := os.Stat(file); errors.Is(err, fs.ErrNotExist) {
			if err := os.MkdirAll(dataDir, 0o750); err != nil {
				return nil, "", err
			}
			if _, err := signing.WriteKeyPair(dataDir, name); err != nil {
				return nil, "", fmt.Errorf("generate a checkpoint signing key: %w", err)
			}
		}
		log.Warn("checkpoints are signed with a key kept in the data dir: anyone with the disk can sign a rewritten log; generate one with `osiris-audit keygen`, keep it elsewhere and pass --signing-key-file", "key_file", file)
	}
	s, vkey, err := signing.LoadSigner(file)
	if err != nil {
		return nil, "", fmt.Errorf("--signing-key-file: %w", err)
	}
	return s, vkey, nil
}
