package ledger_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/osirisplane/osiris/platform/badgerdb"
	"github.com/osirisplane/osiris/services/audit/internal/badgerstore"
	"github.com/osirisplane/osiris/services/audit/internal/chain"
	"github.com/osirisplane/osiris/services/audit/internal/leaf"
	"github.com/osirisplane/osiris/services/audit/internal/ledger"
)

// writeFormat1 writes n events as the previous release stored them: plain protobuf under 'e',
// hash-chained with the chain package's encoding; tamper, when set, edits one after chaining.
func writeFormat1(t *testing.T, dir string, n int, tamper func(seq uint64, b []byte) []byte) [][]byte {
	t.Helper()
	db, err := badgerdb.Open(dir, badgerdb.Options{}, quiet())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	prev := chain.Genesis()
	var hashes [][]byte
	err = db.Update(func(txn *badger.Txn) error {
		for i := range n {
			e := ev(i)
			e.Seq, e.Time, e.PrevHash = uint64(i+1), timestamppb.New(time.Unix(1700000000, int64(i))), prev
			h, err := chain.Digest(prev, e)
			if err != nil {
				return err
			}
			e.Hash, prev = h, h
			hashes = append(hashes, h)
			b, err := proto.Marshal(e)
			if err != nil {
				return err
			}
			if tamper != nil {
				b = tamper(e.Seq, b)
			}
			if err := txn.Set(badgerstore.LegacyKey(e.Seq), b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return hashes
}

// A log written by the previous release is migrated once: its chain verified under the old
// encoding, each event kept with its old prev_hash as data, given a leaf and a place in the
// tree; after that it verifies and grows like any other.
func TestFormat1LogIsMigratedAfterItsChainVerifies(t *testing.T) {
	dir := t.TempDir()
	old := writeFormat1(t, dir, 2500, nil)
	k := newKey(t)
	l := mustOpen(t, dir, k, "")
	ctx := context.Background()
	if l.Head() != 2500 {
		t.Fatalf("head after migration = %d, want 2500", l.Head())
	}
	var leaves [][]byte
	for seq := uint64(1); seq <= 2500; seq++ {
		e, err := l.Get(ctx, seq)
		if err != nil {
			t.Fatal(err)
		}
		wantPrev := chain.Genesis()
		if seq > 1 {
			wantPrev = old[seq-2]
		}
		if !bytes.Equal(e.GetPrevHash(), wantPrev) {
			t.Fatalf("seq %d lost its old prev_hash", seq)
		}
		h := e.GetHash()
		e.Hash = nil
		if want, _ := leaf.Hash(e); !bytes.Equal(h, want) {
			t.Fatalf("seq %d: hash is not its leaf hash", seq)
		}
		leaves = append(leaves, h)
	}
	v, err := l.Verify(ctx)
	if err != nil || !v.OK || v.Checked != 2500 || !bytes.Equal(v.HeadHash, rootOf(t, leaves)) {
		t.Fatalf("verify after migration = %+v, %v", v, err)
	}
	appendN(t, l, 2500, 10)
	closeLedger(t, l)

	l = mustOpen(t, dir, k, "") // no second migration; the old events are gone
	defer closeLedger(t, l)
	if v, err := l.Verify(ctx); err != nil || !v.OK || v.Checked != 2510 {
		t.Fatalf("verify after restart = %+v, %v", v, err)
	}
	if err := l.Health(); err != nil {
		t.Fatal(err)
	}
}

// A format-1 log whose chain is broken is not migrated and the ledger does not open on it:
// migrating would sign altered history as intact.
func TestBrokenFormat1LogIsRefusedNotMigrated(t *testing.T) {
	dir := t.TempDir()
	writeFormat1(t, dir, 10, func(seq uint64, b []byte) []byte {
		if seq == 4 {
			return bytes.Replace(b, []byte("search"), []byte("innocu"), 1)
		}
		return b
	})
	_, err := open(t, dir, newKey(t), "")
	var me *ledger.MigrationError
	if !errors.As(err, &me) || me.Seq != 4 || !strings.Contains(err.Error(), "was not migrated") {
		t.Fatalf("open of a broken format-1 log = %v; want a refusal at seq 4", err)
	}
	// Nothing was changed: the old events are all still there, and the refusal repeats.
	if _, err := open(t, dir, newKey(t), ""); !errors.As(err, &me) || me.Seq != 4 {
		t.Fatalf("second open = %v", err)
	}
}
