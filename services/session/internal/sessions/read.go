package sessions

import (
	"context"
	"encoding/base64"
	"strings"

	"google.golang.org/protobuf/proto"

	sessionv1 "github.com/osirisplane/osiris/api/osiris/session/v1"
	"github.com/osirisplane/osiris/platform/apierr"
)

// Reads use a store snapshot and never wait for the writer. A read of an open session is a
// use of it: it renews the idle TTL through the renewals noted in memory.

// read runs fn on a snapshot, with the live session id, and notes the use.
func (k *Keeper) read(id string, fn func(r Reader, rec *Record) error) error {
	now := k.cfg.Now()
	return k.store.Read(func(r Reader) error {
		rec, err := k.lookup(r, id, now)
		if err != nil {
			return unwrapFatal(err)
		}
		if rec.Open() {
			k.renewals.note(id, now)
		}
		return fn(r, rec)
	})
}

func unwrapFatal(err error) error {
	if f, ok := err.(*fatalError); ok {
		return f.err
	}
	return err
}

// Get returns a live or closed (still retained) session.
func (k *Keeper) Get(_ context.Context, id string) (*Record, error) {
	if err := checkID("id", id); err != nil {
		return nil, err
	}
	var out *Record
	err := k.read(id, func(_ Reader, rec *Record) error {
		out = rec
		return nil
	})
	if err != nil {
		return nil, err
	}
	// Report the deadline as renewed by this read.
	if out.Open() {
		out.Deadline = k.deadline(out)
		if t, ok := k.renewals.get(id); ok && t.After(out.LastUsedAt) {
			out.LastUsedAt = t
		}
	}
	return out, nil
}

// History returns the kept transitions, oldest first, and how many older ones were dropped.
func (k *Keeper) History(_ context.Context, id string) ([]*sessionv1.Transition, uint64, error) {
	if err := checkID("id", id); err != nil {
		return nil, 0, err
	}
	var (
		out     []*sessionv1.Transition
		dropped uint64
	)
	err := k.read(id, func(r Reader, rec *Record) error {
		dropped = rec.HistoryFirst - 1
		return r.History(id, func(t *sessionv1.Transition) bool {
			out = append(out, t)
			return true
		})
	})
	return out, dropped, err
}

// GetValue returns the value of key and its version.
func (k *Keeper) GetValue(_ context.Context, id, key string) (*Value, error) {
	if err := checkID("session_id", id); err != nil {
		return nil, err
	}
	if err := checkKey(key); err != nil {
		return nil, err
	}
	var out *Value
	err := k.read(id, func(r Reader, rec *Record) error {
		v, err := r.Value(id, rec.ValueGen, key)
		if err != nil {
			return err
		}
		if v == nil {
			return apierr.NotFound("session %q has no key %q", id, key)
		}
		out = v
		return nil
	})
	return out, err
}

// Entry is one value of a ListValues page.
type Entry struct {
	Key   string
	Value *Value
}

// ListValues returns a page of the values whose keys start with prefix, in key order, and the
// token of the next page ("" at the end).
func (k *Keeper) ListValues(_ context.Context, id, prefix string, size int32, token string) ([]Entry, string, error) {
	if err := checkID("session_id", id); err != nil {
		return nil, "", err
	}
	if len(prefix) > MaxKeyBytes {
		return nil, "", apierr.Invalid("prefix is %d bytes, longer than any key (%d)", len(prefix), MaxKeyBytes)
	}
	n, err := pageSize(size)
	if err != nil {
		return nil, "", err
	}
	after, err := decodeToken(token)
	if err != nil {
		return nil, "", err
	}
	if token != "" && (!strings.HasPrefix(after, prefix) || checkKey(after) != nil) {
		return nil, "", apierr.Invalid("page_token was issued for a different prefix; repeat the same prefix or start without a token")
	}
	var (
		entries []Entry
		bytes   int
		more    bool
	)
	err = k.read(id, func(r Reader, rec *Record) error {
		return r.Values(id, rec.ValueGen, prefix, after, func(key string, v *Value) bool {
			size := proto.Size(v.Data) + len(key)
			// A page also ends before its values pass the value size limit (it always holds at
			// least one), so any page fits the message size that one SetValue may have.
			if len(entries) == n || (len(entries) > 0 && bytes+size > k.cfg.MaxValueBytes) {
				more = true
				return false
			}
			entries = append(entries, Entry{Key: key, Value: v})
			bytes += size
			return true
		})
	})
	if err != nil || !more {
		return entries, "", err
	}
	return entries, encodeToken(entries[len(entries)-1].Key), nil
}

// List returns a page of sessions in id order: open ones, and closed ones (still retained)
// when includeClosed is set. Listing is not a use of the sessions listed.
func (k *Keeper) List(_ context.Context, includeClosed bool, size int32, token string) ([]*Record, string, error) {
	n, err := pageSize(size)
	if err != nil {
		return nil, "", err
	}
	after, err := decodeToken(token)
	if err != nil {
		return nil, "", err
	}
	if token != "" && checkID("page_token", after) != nil {
		return nil, "", apierr.Invalid("page_token is malformed")
	}
	now := k.cfg.Now()
	var (
		out      []*Record
		examined int
		last     string
		more     bool
	)
	err = k.store.Read(func(r Reader) error {
		return r.Sessions(after, func(rec *Record) bool {
			if k.live(rec, now) && (includeClosed || rec.Open()) {
				if len(out) == n {
					more = true
					return false
				}
				if rec.Open() {
					rec.Deadline = k.deadline(rec)
				}
				out = append(out, rec)
			}
			last = rec.ID
			examined++
			if examined >= MaxExamined {
				more = true
				return false
			}
			return true
		})
	})
	if err != nil || !more {
		return out, "", err
	}
	return out, encodeToken(last), nil
}

// A page token is base64url(1 | the last id or key returned).
func encodeToken(last string) string {
	return base64.RawURLEncoding.EncodeToString(append([]byte{1}, last...))
}

func decodeToken(tok string) (string, error) {
	if tok == "" {
		return "", nil
	}
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil || len(b) < 2 || b[0] != 1 {
		return "", apierr.Invalid("page_token is malformed")
	}
	return string(b[1:]), nil
}
