package badgerdb

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dgraph-io/badger/v4"
	"golang.org/x/sys/unix"
)

// TestNoAcknowledgedByteLeftUnsynced forces a memtable rotation at the worst moment (inside
// Sync, after the batch committed and before its callers would hear: in the old design,
// between listing the WAL files and DB.Sync) and then checks with cachestat(2) that no WAL or
// value-log file still holds dirty (unsynced) pages: everything that Sync covered is on disk.
// The kernel's own dirty-page count is the observation, so the test does not trust the code's
// bookkeeping of what it synced.
func TestNoAcknowledgedByteLeftUnsynced(t *testing.T) {
	dir := t.TempDir()
	if !cachestatWorks(t, dir) {
		t.Skip("cachestat(2) is not available on this kernel or file system (Linux >= 6.5 needed)")
	}
	db, err := Open(dir, Options{MemTableSize: 1 << 20}, discard())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	val := make([]byte, 16<<10)
	n := 0
	put := func() {
		n++
		if err := db.Update(func(txn *badger.Txn) error { return txn.Set(fmt.Appendf(nil, "k%08d", n), val) }); err != nil {
			t.Fatal(err)
		}
	}
	// rotate writes until a new WAL file appears.
	rotate := func() {
		before := newestFile(t, dir, ".mem")
		for newestFile(t, dir, ".mem") == before {
			put()
		}
	}
	for round := range 20 {
		put() // the batch whose acknowledgement waits for Sync
		db.beforeSync = rotate
		if err := db.Sync(); err != nil {
			t.Fatal(err)
		}
		db.beforeSync = nil
		if dirty := dirtyFiles(t, dir); len(dirty) > 0 {
			t.Fatalf("round %d: Sync returned with unsynced pages in %s", round, strings.Join(dirty, ", "))
		}
	}
}

func newestFile(t *testing.T, dir, ext string) string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	newest := ""
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ext) && e.Name() > newest {
			newest = e.Name()
		}
	}
	return newest
}

// dirtyFiles lists the WAL and value-log files with dirty pages, and how many.
func dirtyFiles(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var dirty []string
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".mem") && !strings.HasSuffix(e.Name(), ".vlog") {
			continue
		}
		f, err := os.Open(filepath.Join(dir, e.Name()))
		if errors.Is(err, os.ErrNotExist) {
			continue // flushed to a synced table and removed: nothing in it is needed
		}
		if err != nil {
			t.Fatal(err)
		}
		var st unix.Cachestat_t
		err = unix.Cachestat(uint(f.Fd()), &unix.CachestatRange{}, &st, 0)
		f.Close()
		if err != nil {
			t.Fatalf("cachestat %s: %v", e.Name(), err)
		}
		if st.Dirty+st.Writeback > 0 {
			dirty = append(dirty, fmt.Sprintf("%s (%d dirty pages)", e.Name(), st.Dirty+st.Writeback))
		}
	}
	return dirty
}

// cachestatWorks writes a page without syncing and checks cachestat sees it dirty.
func cachestatWorks(t *testing.T, dir string) bool {
	f, err := os.Create(filepath.Join(dir, "probe"))
	if err != nil {
		t.Fatal(err)
	}
	defer os.Remove(f.Name())
	defer f.Close()
	if _, err := f.Write(make([]byte, 4096)); err != nil {
		t.Fatal(err)
	}
	var st unix.Cachestat_t
	return unix.Cachestat(uint(f.Fd()), &unix.CachestatRange{}, &st, 0) == nil && st.Dirty > 0
}

// TestSyncMakesNewNamesDurable counts Sync's directory fsyncs: one after Open, one after a
// batch that made Badger create a WAL file, and none when no file was created. (Badger also
// creates tables in the background, so the test lists the directory around each Sync to know
// which case it is in. The power-loss test of the audit service checks, on a filesystem that
// drops unsynced names, that every acknowledged append survives.)
func TestSyncMakesNewNamesDurable(t *testing.T) {
	dir := t.TempDir()
	db, err := Open(dir, Options{MemTableSize: 1 << 20}, discard())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	syncs := 0
	db.syncDir = func(path string) error {
		if path != dir {
			t.Errorf("synced %s, not the data dir %s", path, dir)
		}
		syncs++
		return fsync(path)
	}
	names := func() map[string]bool {
		entries, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		m := map[string]bool{}
		for _, e := range entries {
			m[e.Name()] = true
		}
		return m
	}
	newName := func(now, then map[string]bool) string {
		for n := range now {
			if !then[n] {
				return n
			}
		}
		return ""
	}
	// sync runs Sync and returns the names listed just before and just after it.
	sync := func() (before, after map[string]bool) {
		t.Helper()
		before = names()
		syncs = 0
		if err := db.Sync(); err != nil {
			t.Fatal(err)
		}
		return before, names()
	}
	prevBefore, prevAfter := sync()
	if syncs != 1 {
		t.Fatalf("the first Sync fsynced the data dir, which Open filled, %d times, want 1", syncs)
	}
	val := make([]byte, 16<<10)
	n := 0
	put := func() {
		n++
		if err := db.Update(func(txn *badger.Txn) error { return txn.Set(fmt.Appendf(nil, "k%08d", n), val) }); err != nil {
			t.Fatal(err)
		}
	}
	checked := 0
	for round := range 20 {
		put()
		before, after := sync()
		switch {
		case newName(before, prevAfter) != "": // created after the last Sync had read its watch
			if syncs != 1 {
				t.Fatalf("round %d: %s was created and Sync fsynced the data dir %d times, want 1", round, newName(before, prevAfter), syncs)
			}
		case newName(after, prevBefore) == "": // nothing created since before the last Sync
			checked++
			if syncs != 0 {
				t.Fatalf("round %d: no file was created and Sync fsynced the data dir %d times", round, syncs)
			}
		}
		wal := newestFile(t, dir, ".mem")
		for newestFile(t, dir, ".mem") == wal {
			put()
		}
		prevBefore, prevAfter = sync()
		if syncs != 1 {
			t.Fatalf("round %d: Sync after a new WAL file %s fsynced the data dir %d times, want 1", round, newestFile(t, dir, ".mem"), syncs)
		}
	}
	if checked == 0 {
		t.Fatal("Badger created a file around every Sync: the case of no new file was never checked")
	}
	t.Logf("%d of 20 rounds had no new file", checked)
}
