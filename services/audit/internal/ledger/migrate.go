package ledger

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"

	"github.com/transparency-dev/merkle/compact"

	auditv1 "github.com/osirisplane/osiris/api/osiris/audit/v1"
	"github.com/osirisplane/osiris/services/audit/internal/chain"
	"github.com/osirisplane/osiris/services/audit/internal/leaf"
	"github.com/osirisplane/osiris/services/audit/internal/logtree"
)

// migrateBatch is how many events one commit of the migration writes.
const migrateBatch = 1000

// MigrationError refuses a format-1 log whose hash chain does not verify under its own
// encoding: migrating it would sign altered history as if it were intact.
type MigrationError struct {
	Seq    uint64
	Reason string
}

func (e *MigrationError) Error() string {
	return fmt.Sprintf("the audit log written by the previous release (format 1) fails its hash chain at seq %d (%s); it was not migrated, and the service will not start on it: restore it from a backup, or export it with the previous release to inspect it (docs/audit.md, Upgrading)", e.Seq, e.Reason)
}

// migrate rewrites a format-1 log (hash chained, no tree) as format 2, once: the old chain is
// verified whole under its own encoding first; each event keeps its old prev_hash as data (it
// becomes part of its leaf), gets its leaf hash and its tree nodes. A crash midway leaves the
// old events in place and the migration runs again from the start.
func (l *Ledger) migrate(ctx context.Context, log *slog.Logger) error {
	old, ok := l.store.(Legacy)
	if !ok {
		return nil
	}
	n, err := old.LegacyEvents()
	if err != nil || n == 0 {
		return err
	}
	log.Warn("migrating the audit log from format 1 (hash chain) to format 2 (Merkle tree)", "events", n)
	v := chain.NewVerifier()
	tree := logtree.Factory().NewEmptyRange(0)
	var batch []Entry
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		err := l.store.Append(batch)
		batch = batch[:0]
		return err
	}
	err = old.ScanLegacy(ctx, func(e *auditv1.Event) error {
		if err := v.Next(e); err != nil {
			return &MigrationError{Seq: v.Checked() + 1, Reason: err.Error()}
		}
		e.Hash = nil
		h, err := leaf.Hash(e)
		if err != nil {
			return fmt.Errorf("migrate event %d: %w", e.GetSeq(), err)
		}
		e.Hash = h
		en := Entry{Event: e}
		if err := tree.Append(h, func(id compact.NodeID, hash []byte) {
			if id.Level > 0 {
				en.Nodes = append(en.Nodes, hash)
			}
		}); err != nil {
			return err
		}
		if batch = append(batch, en); len(batch) == migrateBatch {
			return flush()
		}
		return nil
	})
	var ce *CorruptError
	switch {
	case errors.As(err, &ce):
		return &MigrationError{Seq: ce.Seq, Reason: ce.Err.Error()}
	case err != nil:
		return err
	case v.Checked() != n:
		return &MigrationError{Seq: v.Checked() + 1, Reason: "the event is missing"}
	}
	if err := flush(); err != nil {
		return err
	}
	if err := l.store.Sync(); err != nil {
		return err
	}
	if err := old.FinishMigration(); err != nil {
		return err
	}
	log.Warn("audit log migrated to format 2; the old chain verified whole, and its head hash is logged here for the record",
		"events", n, "old_chain_head", hex.EncodeToString(v.Head()))
	return nil
}
