package ledger

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/osirisplane/osiris/platform/writer"
	"github.com/osirisplane/osiris/services/audit/internal/logtree"
	"github.com/osirisplane/osiris/services/audit/internal/signing"
	"github.com/osirisplane/osiris/services/audit/internal/verify"
)

// CheckpointFile is the name of the newest checkpoint in Config.CheckpointDir.
const CheckpointFile = "checkpoint"

// checkpointer signs a checkpoint of the durable tree at most every interval, stores it, and
// publishes it to the checkpoint directory. It is the only writer of checkpoints.
type checkpointer struct {
	signer      note.Signer
	verifier    note.Verifier
	verifierKey string
	dir         string
	log         *slog.Logger

	mu     sync.Mutex // one checkpoint at a time (the loop, and Close)
	latest atomic.Pointer[Checkpoint]

	stop chan struct{}
	done chan struct{}
}

// RollbackError refuses to open a store that the published checkpoint shows was rolled back
// or rewritten.
type RollbackError struct {
	Dir        string
	Published  uint64 // size of the checkpoint in Dir
	StoredSize uint64 // size of the stored tree
	Rewritten  bool   // the store holds that many leaves, but a different tree
}

func (e *RollbackError) Error() string {
	if e.Rewritten {
		return fmt.Sprintf("the audit store's tree of size %d does not match the checkpoint of size %d published in %s: history was rewritten; refusing to start (restore the store from a backup, docs/audit.md)",
			e.StoredSize, e.Published, e.Dir)
	}
	return fmt.Sprintf("the audit store holds %d events but the checkpoint published in %s is of size %d: the store was rolled back or replaced; refusing to start (restore the newest backup, docs/audit.md)",
		e.StoredSize, e.Dir, e.Published)
}

// openCheckpoints loads the newest stored checkpoint, checks it and the published one against
// the tree, and refuses a store behind or beside the published one.
func (l *Ledger) openCheckpoints(cfg Config) error {
	c := &l.checkpoints
	c.signer, c.verifierKey, c.dir, c.log = cfg.Signer, cfg.VerifierKey, cfg.CheckpointDir, cfg.Log
	size, msg, err := l.store.LastCheckpoint()
	if err != nil {
		return fmt.Errorf("read the newest checkpoint: %w", err)
	}
	if msg != nil {
		cp, err := l.checkCheckpoint(msg)
		switch {
		case errors.Is(err, verify.ErrOtherKey):
			// The key was rotated: what the old key signed is not this process's to vouch
			// for; the next checkpoint is signed by the new key.
			c.log.Warn("the newest stored checkpoint is signed by another key (rotated?); it is not served", "size", size, "err", err)
		case err != nil:
			l.integrity.set(0, corruption(size, fmt.Errorf("stored checkpoint of size %d: %w", size, err)))
		default:
			c.latest.Store(&cp)
		}
	}
	if c.dir == "" {
		return nil
	}
	if err := os.MkdirAll(c.dir, 0o750); err != nil {
		return fmt.Errorf("create checkpoint dir: %w", err)
	}
	published, err := os.ReadFile(filepath.Join(c.dir, CheckpointFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read the published checkpoint: %w", err)
	}
	pc, err := verify.OpenCheckpoint(published, c.verifierKey)
	if err != nil {
		return fmt.Errorf("%s: %w; refusing to start", filepath.Join(c.dir, CheckpointFile), err)
	}
	if pc.Size > l.head.seq {
		return &RollbackError{Dir: c.dir, Published: pc.Size, StoredSize: l.head.seq}
	}
	root, err := logtree.Root(pc.Size, l.store.Nodes)
	if err != nil || !bytes.Equal(root, pc.Root) {
		return &RollbackError{Dir: c.dir, Published: pc.Size, StoredSize: l.head.seq, Rewritten: true}
	}
	if latest := c.latest.Load(); latest == nil || latest.Size < pc.Size {
		// Published, then lost from the store (a crash between the two): keep it again.
		if err := l.store.PutCheckpoint(pc.Size, published); err != nil {
			return err
		}
		c.latest.Store(&Checkpoint{Size: pc.Size, Root: pc.Root, Note: published})
	}
	return nil
}

// checkCheckpoint verifies a stored checkpoint's signature and that the tree has its root.
func (l *Ledger) checkCheckpoint(msg []byte) (Checkpoint, error) {
	cp, err := verify.OpenCheckpoint(msg, l.checkpoints.verifierKey)
	if err != nil {
		return Checkpoint{}, err
	}
	if cp.Size > l.head.seq {
		return Checkpoint{}, fmt.Errorf("it covers %d events but the store holds %d", cp.Size, l.head.seq)
	}
	root, err := logtree.Root(cp.Size, l.store.Nodes)
	if err != nil {
		return Checkpoint{}, err
	}
	if !bytes.Equal(root, cp.Root) {
		return Checkpoint{}, errors.New("the stored tree has a different root at its size")
	}
	return Checkpoint{Size: cp.Size, Root: cp.Root, Note: msg}, nil
}

func (c *checkpointer) start(l *Ledger, interval time.Duration) {
	c.stop, c.done = make(chan struct{}), make(chan struct{})
	go func() {
		defer close(c.done)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-c.stop:
				return
			case <-t.C:
				if err := c.make(l, l.storeCheckpoint); err != nil && !errors.Is(err, writer.ErrClosed) {
					c.log.Error("checkpoint not made; retrying at the next interval", "err", err)
				}
			}
		}
	}()
}

// close stops the loop and checkpoints what the writer made durable last. The writer has
// stopped, so the checkpoint is stored directly: no other commit can race it.
func (c *checkpointer) close(l *Ledger) error {
	if c.stop == nil {
		return nil
	}
	close(c.stop)
	<-c.done
	return c.make(l, func(cp Checkpoint) error { return l.store.PutCheckpoint(cp.Size, cp.Note) })
}

// storeCheckpoint has the writer store cp (see item) and waits until it is durable.
func (l *Ledger) storeCheckpoint(cp Checkpoint) error {
	_, err := l.q.Submit(context.Background(), item{checkpoint: &cp})
	return err
}

// make checkpoints the durable tree if it grew since the last checkpoint: sign, store (synced),
// then publish. A crash between storing and publishing leaves the directory one checkpoint
// behind, which the next one replaces; the other way round cannot happen.
func (c *checkpointer) make(l *Ledger, store func(Checkpoint) error) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	size := l.Head()
	if prev := c.latest.Load(); size == 0 || prev != nil && prev.Size >= size {
		return nil
	}
	if l.Health() != nil {
		// Signing would vouch for a log known to be altered (and, with the key on the same
		// disk, make the alteration look published). The failure was logged when found, and
		// the service is not ready until a VerifyChain passes.
		return nil
	}
	root, err := logtree.Root(size, l.store.Nodes)
	if err != nil {
		return fmt.Errorf("root at size %d: %w", size, err)
	}
	msg, err := signing.SignCheckpoint(c.signer, size, root)
	if err != nil {
		return err
	}
	cp := Checkpoint{Size: size, Root: root, Note: msg}
	if err := store(cp); err != nil {
		return fmt.Errorf("store checkpoint of size %d: %w", size, err)
	}
	c.latest.Store(&cp)
	if c.dir != "" {
		if err := publish(c.dir, msg); err != nil {
			return fmt.Errorf("publish checkpoint of size %d: %w", size, err)
		}
	}
	return nil
}

// publish replaces dir/checkpoint with msg atomically and durably: a reader (or a crash) sees
// the old file or the new one, never a torn one.
func publish(dir string, msg []byte) error {
	f, err := os.CreateTemp(dir, ".checkpoint-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name()) // after a successful rename there is nothing to remove
	if _, err := f.Write(msg); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Chmod(f.Name(), 0o644); err != nil {
		return err
	}
	if err := os.Rename(f.Name(), filepath.Join(dir, CheckpointFile)); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// MakeCheckpoint checkpoints the durable tree now if it grew (tests, and operators through
// nothing else: the loop does it every interval).
func (l *Ledger) MakeCheckpoint(context.Context) error {
	return l.checkpoints.make(l, l.storeCheckpoint)
}
