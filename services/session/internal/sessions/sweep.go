package sessions

import (
	"context"
	"errors"
	"time"
)

// Bounds of one sweep, so that a sweep never holds the writer for long: after a sweep that
// hit a bound, the sweeper submits the next one at once (other writes queue in between).
const (
	// sweepExpireChunk is the most sessions one sweep removes.
	sweepExpireChunk = 1000
	// sweepPurgeChunk is the most keys (values, history) one sweep deletes.
	sweepPurgeChunk = 10_000
	// sweepRenewChunk is the most read renewals one sweep persists.
	sweepRenewChunk = 10_000
)

// SweepReport is what one sweep did.
type SweepReport struct {
	Renewed int // read renewals persisted
	Expired int // open sessions removed because their TTL passed
	Retired int // closed sessions removed because their retention passed
	Purged  int // keys deleted that removed sessions or cleared values owned
	// More says a bound was hit and another sweep should follow at once.
	More   bool
	Events []Event
	// covered are read renewals the store now covers, to forget once the sweep is committed.
	covered []renewal
}

type renewal struct {
	id string
	t  time.Time
}

// Sweep runs sweeps until one finds nothing more to do, and returns what they did in total.
// The sweeper calls it every interval; tests call it after moving their clock.
func (k *Keeper) Sweep(ctx context.Context) (SweepReport, error) {
	var total SweepReport
	for {
		out, err := k.submit(ctx, sweepOp{})
		if err != nil {
			return total, err
		}
		r := out.sweep
		for _, c := range r.covered {
			k.renewals.forget(c.id, c.t)
		}
		if k.cfg.OnSweep != nil {
			k.cfg.OnSweep(r)
		}
		total.Renewed += r.Renewed
		total.Expired += r.Expired
		total.Retired += r.Retired
		total.Purged += r.Purged
		if !r.More {
			return total, nil
		}
	}
}

func (k *Keeper) runSweeper(ctx context.Context) {
	defer close(k.sweeperDone)
	t := time.NewTicker(k.cfg.SweepInterval)
	defer t.Stop()
	for {
		// The first sweep runs at start-up, so sessions that expired while the service was
		// down are removed at once.
		if _, err := k.Sweep(ctx); err != nil && ctx.Err() == nil {
			k.cfg.Log.Warn("sweep failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

type sweepOp struct{}

func (sweepOp) apply(k *Keeper, tx Tx, now time.Time) (outcome, error) {
	renewed, covered, err := k.persistRenewals(tx)
	if err != nil {
		return outcome{}, err
	}
	report, err := k.expireDue(tx, now, sweepExpireChunk)
	if err != nil {
		return outcome{}, err
	}
	report.Renewed, report.covered = renewed, covered
	purged, more, err := purgeSome(tx, sweepPurgeChunk)
	if err != nil {
		return outcome{}, err
	}
	report.Purged = purged
	report.More = report.More || more
	return outcome{sweep: report, events: report.Events}, nil
}

// persistRenewals writes the uses noted by reads into the records, and returns the notes that
// the store already covers (or whose session is closed or gone). Those are forgotten only once
// the sweep is committed, and a note persisted now is forgotten by the next sweep, so that a
// reader always finds the note or a committed record that covers it.
func (k *Keeper) persistRenewals(tx Tx) (int, []renewal, error) {
	n := 0
	var covered []renewal
	for id, t := range k.renewals.snapshot() {
		if n == sweepRenewChunk {
			break
		}
		rec, err := tx.Session(id)
		if err != nil {
			return n, nil, fatal(err)
		}
		if rec == nil || !rec.Open() || !t.After(rec.LastUsedAt) {
			covered = append(covered, renewal{id, t})
			continue
		}
		next := rec.clone()
		next.LastUsedAt = t
		setDeadline(next, openDeadline(next.CreatedAt, t, next.IdleTTL, next.MaxTTL), false)
		if err := tx.PutSession(rec, next); err != nil {
			return n, nil, fatal(err)
		}
		if err := tx.Checkpoint(); err != nil {
			return n, nil, fatal(err)
		}
		n++
	}
	return n, covered, nil
}

// expireDue removes up to limit sessions whose deadline has passed: open ones past a TTL and
// closed ones past their retention. A session renewed by a read since its stored deadline is
// kept, with the renewal persisted.
func (k *Keeper) expireDue(tx Tx, now time.Time, limit int) (SweepReport, error) {
	var r SweepReport
	var due []string
	err := tx.Due(now, func(id string) bool {
		if len(due) == limit {
			r.More = true
			return false
		}
		due = append(due, id)
		return true
	})
	if err != nil {
		return r, fatal(err)
	}
	for _, id := range due {
		rec, err := tx.Session(id)
		if err != nil {
			return r, fatal(err)
		}
		if rec == nil {
			return r, fatal(errors.New("deadline index names session " + id + ", which has no record"))
		}
		if k.live(rec, now) {
			// Indexed early (see Record.Indexed), or renewed by a read since.
			next := rec.clone()
			if t, ok := k.renewals.get(id); ok && t.After(next.LastUsedAt) {
				next.LastUsedAt = t
			}
			setDeadline(next, k.deadline(rec), true) // past now, or the sweeper finds it again
			if err := tx.PutSession(rec, next); err != nil {
				return r, fatal(err)
			}
			continue
		}
		if rec.Open() {
			r.Expired++
		} else {
			r.Retired++
		}
		events, err := k.remove(tx, rec, now, OutcomeExpired)
		if err != nil {
			return r, err
		}
		r.Events = append(r.Events, events...)
		if err := tx.Checkpoint(); err != nil {
			return r, fatal(err)
		}
	}
	return r, nil
}

// purgeSome deletes up to limit keys of removed sessions and cleared values.
func purgeSome(tx Tx, limit int) (int, bool, error) {
	var ids []string
	err := tx.Purges(func(id string) bool {
		ids = append(ids, id)
		return len(ids) < limit
	})
	if err != nil {
		return 0, false, fatal(err)
	}
	// Purge lists keys among committed ones; sessions removed by this sweep are not yet.
	if err := tx.Flush(); err != nil {
		return 0, false, fatal(err)
	}
	purged := 0
	for _, id := range ids {
		if purged >= limit {
			return purged, true, nil
		}
		n, _, err := tx.Purge(id, limit-purged)
		if err != nil {
			return purged, false, fatal(err)
		}
		purged += n
		if err := tx.Checkpoint(); err != nil {
			return purged, false, fatal(err)
		}
	}
	return purged, purged >= limit, nil
}
