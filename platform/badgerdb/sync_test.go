package badgerdb

import (
	"fmt"
	"testing"

	"github.com/dgraph-io/badger/v4"
)

// Writes that fill several memtables, so WAL files rotate between syncs, and Sync keeps
// succeeding and tracking the newest files. (Durability across power loss cannot be tested
// here; SIGKILL tests in the services cover acknowledged-after-commit.)
func TestSyncAcrossMemtableRotations(t *testing.T) {
	db, err := Open(t.TempDir(), Options{MemTableSize: 8 << 20}, discard())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	val := make([]byte, 4<<10)
	for i := range 6000 { // about 24 MiB: several 8 MiB memtables
		if err := db.Update(func(txn *badger.Txn) error { return txn.Set(fmt.Appendf(nil, "k%06d", i), val) }); err != nil {
			t.Fatal(err)
		}
		if i%100 == 0 {
			if err := db.Sync(); err != nil {
				t.Fatalf("sync after %d writes: %v", i, err)
			}
		}
	}
	if db.synced[".mem"] < 3 {
		t.Fatalf("newest WAL at the last sync is %d; the memtable never rotated", db.synced[".mem"])
	}
}
