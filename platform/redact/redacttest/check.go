package redacttest

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/dgraph-io/badger/v4"

	"github.com/osirisplane/osiris/platform/badgerdb"
)

// CheckText fails t for every piece of a secret of cases found in b; where names what b is.
func CheckText(t testing.TB, where string, b []byte, cases []Case) {
	t.Helper()
	for _, c := range cases {
		for _, s := range c.Secrets {
			if leaked := Leaks(b, s); leaked != nil {
				t.Errorf("%s: %s: %q of %q not masked", where, c.Class, leaked, s)
			}
		}
	}
}

// CheckJSON decodes b, one JSON value or a stream of them (JSONL), and checks every string
// in it, so that escapes such as \u0026 cannot hide a secret from CheckText.
func CheckJSON(t testing.TB, where string, b []byte, cases []Case) {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	var all bytes.Buffer
	for {
		var v any
		err := dec.Decode(&v)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("%s: not JSON: %v", where, err)
		}
		collect(&all, v)
	}
	CheckText(t, where, all.Bytes(), cases)
}

func collect(w *bytes.Buffer, v any) {
	switch t := v.(type) {
	case string:
		w.WriteString(t)
		w.WriteByte('\n')
	case []any:
		for _, e := range t {
			collect(w, e)
		}
	case map[string]any:
		for k, e := range t {
			w.WriteString(k + "\n")
			collect(w, e)
		}
	}
}

// CheckDir checks the raw bytes of every file under dir, as an attacker with the disk would
// read them, and returns how many files it read. Trailing zero bytes (preallocated,
// memory-mapped log files) are skipped.
func CheckDir(t testing.TB, dir string, cases []Case) int {
	t.Helper()
	files := 0
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		files++
		CheckText(t, path, bytes.TrimRight(b, "\x00"), cases)
		return nil
	})
	if err != nil {
		t.Fatalf("walk %s: %v", dir, err)
	}
	return files
}

// CheckBadger opens the Badger store in dir (the service must be stopped) and checks every
// version of every key and value: table blocks may be compressed on disk, which CheckDir
// cannot see into.
func CheckBadger(t testing.TB, dir string, cases []Case) {
	t.Helper()
	db, err := badgerdb.Open(dir, badgerdb.Options{}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var all bytes.Buffer
	err = db.View(func(txn *badger.Txn) error {
		opts := badger.DefaultIteratorOptions
		opts.AllVersions = true
		it := txn.NewIterator(opts)
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			all.Write(it.Item().Key())
			all.WriteByte('\n')
			v, err := it.Item().ValueCopy(nil)
			if err != nil {
				return err
			}
			all.Write(v)
			all.WriteByte('\n')
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	CheckText(t, "badger "+dir, all.Bytes(), cases)
}
