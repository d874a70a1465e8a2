package sessions

import (
	"context"
	"math"
	"time"

	"google.golang.org/protobuf/types/known/structpb"

	"github.com/osirisplane/osiris/platform/apierr"
)

// SetValue writes key in session id and returns the value's version. expected is 0 (no
// check), -1 (the key must not exist) or the version the key must have now; a caller that
// loses a race gets FailedPrecondition naming the current version, re-reads and retries.
// The value is stored as sent: it is the agent's own state, not redacted.
func (k *Keeper) SetValue(ctx context.Context, id, key string, v *structpb.Value, expected int64) (int64, error) {
	if err := checkID("session_id", id); err != nil {
		return 0, err
	}
	if err := checkKey(key); err != nil {
		return 0, err
	}
	if err := checkValue(v, k.cfg.MaxValueBytes); err != nil {
		return 0, err
	}
	if err := checkExpectedVersion(expected); err != nil {
		return 0, err
	}
	if err := k.precheck(id, key, expected); err != nil {
		return 0, err
	}
	out, err := k.submit(ctx, &setOp{id: id, key: key, value: v, expected: expected})
	return out.version, err
}

// precheck refuses a compare-and-set that is already lost in the latest committed state,
// without queueing it for the writer, where it would wait for a sync only to be refused.
// Under contention most attempts are such losers. It is only an early answer: versions of a
// key only grow, so what is lost here is lost in the writer too, and the writer checks again
// whatever passes.
func (k *Keeper) precheck(id, key string, expected int64) error {
	if expected == 0 {
		return nil
	}
	now := k.cfg.Now()
	return k.store.Read(func(r Reader) error {
		rec, err := k.lookupOpen(r, id, now)
		if err != nil {
			return unwrapFatal(err)
		}
		cur, found, err := r.ValueVersion(id, rec.ValueGen, key)
		if err != nil {
			return err
		}
		return checkVersion(id, key, cur, found, expected)
	})
}

type setOp struct {
	id, key  string
	value    *structpb.Value
	expected int64
}

// checkVersion compares a key's current version (found false: absent) with what the caller
// expects.
func checkVersion(id, key string, cur int64, found bool, expected int64) error {
	switch {
	case expected == 0:
		return nil
	case expected == -1 && found:
		return apierr.FailedPrecondition("key %q of session %q exists at version %d; expected_version -1 requires that it does not", key, id, cur)
	case expected > 0 && !found:
		return apierr.FailedPrecondition("key %q of session %q does not exist; expected_version was %d", key, id, expected)
	case expected > 0 && cur != expected:
		return apierr.FailedPrecondition("key %q of session %q is at version %d, not the expected_version %d; read it again and retry", key, id, cur, expected)
	}
	return nil
}

func (o *setOp) apply(k *Keeper, tx Tx, now time.Time) (outcome, error) {
	rec, err := k.lookupOpen(tx, o.id, now)
	if err != nil {
		return outcome{}, err
	}
	cur, found, err := tx.ValueVersion(o.id, rec.ValueGen, o.key)
	if err != nil {
		return outcome{}, fatal(err)
	}
	if err := checkVersion(o.id, o.key, cur, found, o.expected); err != nil {
		return outcome{}, err
	}
	if !found && rec.ValueCount >= int64(k.cfg.MaxKeysPerSession) {
		return outcome{}, apierr.Exhausted("session %q holds %d keys, the limit is %d; delete or clear values first", o.id, rec.ValueCount, k.cfg.MaxKeysPerSession)
	}
	next := rec.clone()
	k.used(next, now, true)
	if !found {
		next.ValueCount++
	}
	if err := tx.PutValue(o.id, rec.ValueGen, o.key, &Value{Version: next.Version, Data: o.value}); err != nil {
		return outcome{}, fatal(err)
	}
	if err := tx.PutSession(rec, next); err != nil {
		return outcome{}, fatal(err)
	}
	return outcome{version: next.Version}, nil
}

// DeleteValue removes key; with expected > 0 only if the key is at that version.
func (k *Keeper) DeleteValue(ctx context.Context, id, key string, expected int64) error {
	if err := checkID("session_id", id); err != nil {
		return err
	}
	if err := checkKey(key); err != nil {
		return err
	}
	if expected < 0 {
		return apierr.Invalid("expected_version %d is invalid for a delete: use 0 (no check) or a version", expected)
	}
	if err := k.precheck(id, key, expected); err != nil {
		return err
	}
	_, err := k.submit(ctx, &deleteValueOp{id: id, key: key, expected: expected})
	return err
}

type deleteValueOp struct {
	id, key  string
	expected int64
}

func (o *deleteValueOp) apply(k *Keeper, tx Tx, now time.Time) (outcome, error) {
	rec, err := k.lookupOpen(tx, o.id, now)
	if err != nil {
		return outcome{}, err
	}
	cur, found, err := tx.ValueVersion(o.id, rec.ValueGen, o.key)
	if err != nil {
		return outcome{}, fatal(err)
	}
	if !found {
		return outcome{}, apierr.NotFound("session %q has no key %q", o.id, o.key)
	}
	if err := checkVersion(o.id, o.key, cur, found, o.expected); err != nil {
		return outcome{}, err
	}
	next := rec.clone()
	k.used(next, now, true)
	next.ValueCount--
	if err := tx.DeleteValue(o.id, rec.ValueGen, o.key); err != nil {
		return outcome{}, fatal(err)
	}
	if err := tx.PutSession(rec, next); err != nil {
		return outcome{}, fatal(err)
	}
	return outcome{}, nil
}

// ClearValues removes every value of an open session and returns how many there were. The
// values vanish at once (a new generation starts); the sweeper deletes their keys later.
func (k *Keeper) ClearValues(ctx context.Context, id string) (uint64, error) {
	if err := checkID("session_id", id); err != nil {
		return 0, err
	}
	out, err := k.submit(ctx, &clearOp{id: id})
	return out.removed, err
}

type clearOp struct{ id string }

func (o *clearOp) apply(k *Keeper, tx Tx, now time.Time) (outcome, error) {
	rec, err := k.lookupOpen(tx, o.id, now)
	if err != nil {
		return outcome{}, err
	}
	next := rec.clone()
	k.used(next, now, true)
	removed := uint64(max(rec.ValueCount, 0))
	if removed > 0 {
		if rec.ValueGen == math.MaxUint32 {
			return outcome{}, apierr.Exhausted("session %q has been cleared %d times, the limit; delete it and start a new one", o.id, rec.ValueGen)
		}
		next.ValueGen++
		next.ValueCount = 0
		if err := tx.MarkPurge(o.id, next.ValueGen); err != nil {
			return outcome{}, fatal(err)
		}
	}
	if err := tx.PutSession(rec, next); err != nil {
		return outcome{}, fatal(err)
	}
	return outcome{removed: removed}, nil
}
