package ledger_test

import (
	"bytes"
	"context"
	crand "crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"
	tlog "github.com/transparency-dev/formats/log"
	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/note"
	"google.golang.org/protobuf/types/known/structpb"

	auditv1 "github.com/osirisplane/osiris/api/osiris/audit/v1"
	"github.com/osirisplane/osiris/platform/badgerdb"
	"github.com/osirisplane/osiris/services/audit/internal/badgerstore"
	"github.com/osirisplane/osiris/services/audit/internal/leaf"
	"github.com/osirisplane/osiris/services/audit/internal/ledger"
	"github.com/osirisplane/osiris/services/audit/internal/logtree"
	"github.com/osirisplane/osiris/services/audit/internal/verify"
)

// key is one signing key for a test's log, kept across restarts.
type key struct {
	signer note.Signer
	vkey   string
}

func newKey(t testing.TB) key {
	skey, vkey, err := note.GenerateKey(crand.Reader, "test-log")
	if err != nil {
		t.Fatal(err)
	}
	s, err := note.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	return key{s, vkey}
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// open opens a ledger on a real Badger store in dir. The checkpoint loop's interval is an hour,
// so tests make checkpoints when they mean to (MakeCheckpoint).
func open(t testing.TB, dir string, k key, published string) (*ledger.Ledger, error) {
	t.Helper()
	db, err := badgerdb.Open(dir, badgerdb.Options{}, quiet())
	if err != nil {
		t.Fatal(err)
	}
	l, err := ledger.Open(badgerstore.New(db), ledger.Config{Signer: k.signer, VerifierKey: k.vkey,
		CheckpointInterval: time.Hour, CheckpointDir: published, Log: quiet()})
	if err != nil {
		db.Close()
		return nil, err
	}
	return l, nil
}

func mustOpen(t testing.TB, dir string, k key, published string) *ledger.Ledger {
	t.Helper()
	l, err := open(t, dir, k, published)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func closeLedger(t testing.TB, l *ledger.Ledger) {
	t.Helper()
	if err := l.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func ev(i int) *auditv1.Event {
	args, _ := structpb.NewStruct(map[string]any{"i": float64(i), "q": fmt.Sprintf("query %d", i)})
	return &auditv1.Event{EventType: auditv1.EventType_EVENT_TYPE_TOOL_CALL_STARTED, SessionId: fmt.Sprintf("s%d", i%3),
		CorrelationId: fmt.Sprintf("c%d", i), Tool: "search", Arguments: args, BytesIn: uint64(i)}
}

// appendN appends n events in batches of random sizes and returns the receipts' leaf hashes.
func appendN(t testing.TB, l *ledger.Ledger, from, n int) [][]byte {
	t.Helper()
	var leaves [][]byte
	for i := 0; i < n; {
		size := min(1+rand.IntN(7), n-i)
		batch := make([]*auditv1.Event, size)
		for j := range batch {
			batch[j] = ev(from + i + j)
		}
		rs, err := l.AppendBatch(context.Background(), batch)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rs {
			leaves = append(leaves, r.Hash)
		}
		i += size
	}
	return leaves
}

func rootOf(t testing.TB, leaves [][]byte) []byte {
	t.Helper()
	v := logtree.NewVerifier()
	for _, h := range leaves {
		if err := v.Append(h); err != nil {
			t.Fatal(err)
		}
	}
	r, _ := v.Root()
	return r
}

// Inclusion proofs for random events at random tree sizes verify with the library's verifier
// against roots computed independently from the receipts, and a proof does not verify for an
// event that was changed.
func TestInclusionAndConsistencyProofsVerify(t *testing.T) {
	k := newKey(t)
	l := mustOpen(t, t.TempDir(), k, "")
	defer closeLedger(t, l)
	leaves := appendN(t, l, 0, 300)
	ctx := context.Background()
	for range 200 {
		size := uint64(1 + rand.IntN(len(leaves)))
		seq := uint64(1 + rand.IntN(int(size)))
		p, err := l.InclusionProof(ctx, seq, size)
		if err != nil {
			t.Fatalf("inclusion of %d in %d: %v", seq, size, err)
		}
		root := rootOf(t, leaves[:size])
		if err := proof.VerifyInclusion(rfc6962.DefaultHasher, p.LeafIndex, p.TreeSize, leaves[seq-1], p.Hashes, root); err != nil {
			t.Fatalf("inclusion of %d in %d does not verify: %v", seq, size, err)
		}
		e, err := l.Get(ctx, seq)
		if err != nil {
			t.Fatal(err)
		}
		e.Tool = "changed"
		e.Hash = nil
		changed, err := leaf.Hash(e)
		if err != nil {
			t.Fatal(err)
		}
		if proof.VerifyInclusion(rfc6962.DefaultHasher, p.LeafIndex, p.TreeSize, changed, p.Hashes, root) == nil {
			t.Fatalf("a changed event %d verifies in the tree of %d", seq, size)
		}
		from := uint64(1 + rand.IntN(int(size)))
		c, err := l.ConsistencyProof(ctx, from, size)
		if err != nil {
			t.Fatal(err)
		}
		if err := proof.VerifyConsistency(rfc6962.DefaultHasher, from, size, c, rootOf(t, leaves[:from]), root); err != nil {
			t.Fatalf("consistency %d -> %d: %v", from, size, err)
		}
	}
	for _, bad := range []struct {
		seq, size uint64
		want      string
	}{{0, 5, "seq must be at least 1"}, {6, 5, "not in a tree of size 5"}, {1, 301, "larger than the log"}} {
		if _, err := l.InclusionProof(ctx, bad.seq, bad.size); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("InclusionProof(%d, %d) = %v, want %q", bad.seq, bad.size, err, bad.want)
		}
	}
	if _, err := l.ConsistencyProof(ctx, 10, 5); err == nil || !strings.Contains(err.Error(), "larger than to_size") {
		t.Errorf("ConsistencyProof(10, 5) = %v", err)
	}
	// Without a checkpoint, tree size 0 (the newest checkpoint) has nothing to prove against.
	if _, err := l.InclusionProof(ctx, 1, 0); err == nil || !strings.Contains(err.Error(), "no checkpoint yet") {
		t.Errorf("InclusionProof before any checkpoint = %v", err)
	}
	if err := l.MakeCheckpoint(ctx); err != nil {
		t.Fatal(err)
	}
	cp, err := l.Checkpoint(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	opened, err := verify.OpenCheckpoint(cp.Note, k.vkey)
	if err != nil || opened.Size != 300 || !bytes.Equal(opened.Root, rootOf(t, leaves)) {
		t.Fatalf("checkpoint = %+v, %v; want size 300 and the receipts' root", opened, err)
	}
	// A parser that is not ours: transparency-dev's, which witnesses and monitors use.
	v, err := note.NewVerifier(k.vkey)
	if err != nil {
		t.Fatal(err)
	}
	theirs, _, _, err := tlog.ParseCheckpoint(cp.Note, k.signer.Name(), v)
	if err != nil || theirs.Size != 300 || !bytes.Equal(theirs.Hash, opened.Root) {
		t.Fatalf("transparency-dev/formats reads the checkpoint as %+v, %v", theirs, err)
	}
	p, err := l.InclusionProof(ctx, 42, 0)
	if err != nil || p.TreeSize != 300 {
		t.Fatalf("proof against the newest checkpoint: %+v, %v", p, err)
	}
}

// rewriteFrom rewrites history from seq k on, directly in Badger, as an attacker with the disk
// and the code would: every event from k changed, every leaf hash and tree node recomputed, so
// the store is a consistent tree, just not the one that was signed.
func rewriteFrom(t *testing.T, dir string, k uint64) {
	t.Helper()
	db, err := badgerdb.Open(dir, badgerdb.Options{}, quiet())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	tree := logtree.Factory().NewEmptyRange(0)
	err = db.Update(func(txn *badger.Txn) error {
		for seq := uint64(1); ; seq++ {
			item, err := txn.Get(badgerstore.EventKey(seq))
			if errors.Is(err, badger.ErrKeyNotFound) {
				return nil
			}
			if err != nil {
				return err
			}
			v, err := item.ValueCopy(nil)
			if err != nil {
				return err
			}
			en, err := badgerstore.DecodeEntry(v)
			if err != nil {
				return err
			}
			if seq >= k {
				en.Event.Tool = "innocent"
				en.Event.Hash = nil
				if en.Event.Hash, err = leaf.Hash(en.Event); err != nil {
					return err
				}
			}
			en.Nodes = nil
			if err := tree.Append(en.Event.Hash, func(id compact.NodeID, h []byte) {
				if id.Level > 0 {
					en.Nodes = append(en.Nodes, h)
				}
			}); err != nil {
				return err
			}
			b, err := badgerstore.EncodeEntry(en)
			if err != nil {
				return err
			}
			if err := txn.Set(badgerstore.EventKey(seq), b); err != nil {
				return err
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
}

// History rewritten from event k with every hash recomputed is refused at start against the
// published checkpoint, and a consistency proof from an earlier checkpoint exposes it.
func TestRewrittenHistoryIsRefusedAndFailsConsistency(t *testing.T) {
	dir, published := t.TempDir(), t.TempDir()
	k := newKey(t)
	l := mustOpen(t, dir, k, published)
	ctx := context.Background()
	appendN(t, l, 0, 50)
	if err := l.MakeCheckpoint(ctx); err != nil {
		t.Fatal(err)
	}
	early, err := l.Checkpoint(ctx, 0) // what a witness saw at 50
	if err != nil {
		t.Fatal(err)
	}
	appendN(t, l, 50, 30)
	closeLedger(t, l) // checkpoints 80 and publishes it

	rewriteFrom(t, dir, 20)

	_, err = open(t, dir, k, published)
	var rb *ledger.RollbackError
	if !errors.As(err, &rb) || !rb.Rewritten || !strings.Contains(err.Error(), "size 80") {
		t.Fatalf("open after a rewrite = %v; want a refusal naming the rewritten tree of size 80", err)
	}

	// Without the published checkpoint the service starts, and any holder of an earlier
	// checkpoint catches the rewrite with a consistency proof.
	l = mustOpen(t, dir, k, "")
	defer closeLedger(t, l)
	p, err := l.ConsistencyProof(ctx, early.Size, 80)
	if err != nil {
		t.Fatal(err)
	}
	served := servedRoot(t, l, 80)
	if proof.VerifyConsistency(rfc6962.DefaultHasher, early.Size, 80, p, early.Root, served) == nil {
		t.Fatal("the rewritten tree is consistent with the checkpoint made before the rewrite")
	}
	// The stored checkpoint (signed before the rewrite) no longer matches: the log is corrupt.
	if err := l.Health(); err == nil {
		t.Fatal("a store whose tree differs from its own signed checkpoint is reported healthy")
	}
}

// servedRoot is the root the ledger's stored tree has at size (through a proof of leaf 1).
func servedRoot(t *testing.T, l *ledger.Ledger, size uint64) []byte {
	t.Helper()
	e, err := l.Get(context.Background(), 1)
	if err != nil {
		t.Fatal(err)
	}
	p, err := l.InclusionProof(context.Background(), 1, size)
	if err != nil {
		t.Fatal(err)
	}
	root, err := proof.RootFromInclusionProof(rfc6962.DefaultHasher, 0, size, e.GetHash(), p.Hashes)
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// A store rolled back to an older copy is refused at start, naming both sizes.
func TestRolledBackStoreIsRefused(t *testing.T) {
	dir, published := t.TempDir(), t.TempDir()
	k := newKey(t)
	l := mustOpen(t, dir, k, published)
	appendN(t, l, 0, 40)
	closeLedger(t, l)
	backup := filepath.Join(t.TempDir(), "backup")
	if err := os.CopyFS(backup, os.DirFS(dir)); err != nil {
		t.Fatal(err)
	}
	l = mustOpen(t, dir, k, published)
	appendN(t, l, 40, 25)
	closeLedger(t, l)

	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(backup, dir); err != nil {
		t.Fatal(err)
	}
	_, err := open(t, dir, k, published)
	var rb *ledger.RollbackError
	if !errors.As(err, &rb) || rb.Rewritten || rb.Published != 65 || rb.StoredSize != 40 ||
		!strings.Contains(err.Error(), "holds 40 events") || !strings.Contains(err.Error(), "size 65") {
		t.Fatalf("open of a rolled-back store = %v; want a refusal naming 40 and 65", err)
	}
	// A checkpoint signed by another key is refused too: the published file is not ours.
	_, err = open(t, dir, newKey(t), published)
	if err == nil || !strings.Contains(err.Error(), "not signed by") {
		t.Fatalf("open with another key = %v", err)
	}
}
