package badgerdb

import (
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dgraph-io/badger/v4"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func TestSecondOpenIsAClearError(t *testing.T) {
	dir := t.TempDir()
	db, err := Open(dir, Options{}, discard())
	if err != nil {
		t.Fatal(err)
	}
	_, err = Open(dir, Options{}, discard())
	if err == nil || !strings.Contains(err.Error(), "in use by another process") {
		t.Fatalf("second open: %v", err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	// Once closed, the directory opens again, with what was written.
	db, err = Open(dir, Options{}, discard())
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer db.Close()
}

func TestWritesPersistAcrossReopen(t *testing.T) {
	dir := t.TempDir()
	db, err := Open(dir, Options{}, discard())
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(txn *badger.Txn) error { return txn.Set([]byte("k"), []byte("v")) }); err != nil {
		t.Fatal(err)
	}
	db.Close()
	db, err = Open(dir, Options{}, discard())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.View(func(txn *badger.Txn) error {
		it, err := txn.Get([]byte("k"))
		if err != nil {
			return err
		}
		return it.Value(func(v []byte) error {
			if string(v) != "v" {
				t.Fatalf("value %q", v)
			}
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
}

// A power cut between the creation of a WAL file and the sync of its size leaves an empty
// .mem file, which Badger refuses to open; Open removes it, and what was committed is there.
func TestOpenRemovesAnEmptyWALLeftByACrash(t *testing.T) {
	dir := t.TempDir()
	db, err := Open(dir, Options{}, discard())
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(txn *badger.Txn) error { return txn.Set([]byte("k"), []byte("v")) }); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "00099.mem"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	db, err = Open(dir, Options{}, discard())
	if err != nil {
		t.Fatalf("open with an empty WAL: %v", err)
	}
	defer db.Close()
	err = db.View(func(txn *badger.Txn) error {
		item, err := txn.Get([]byte("k"))
		if err != nil {
			return err
		}
		return item.Value(func(v []byte) error {
			if string(v) != "v" {
				t.Errorf("k = %q", v)
			}
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
}
