package sessions

import (
	"time"

	"google.golang.org/protobuf/types/known/structpb"

	sessionv1 "github.com/osirisplane/osiris/api/osiris/session/v1"
	"github.com/osirisplane/osiris/services/session/internal/chatstate"
)

// Record is a session as stored.
type Record struct {
	ID         string
	State      chatstate.State
	Labels     map[string]string
	CreatedAt  time.Time
	UpdatedAt  time.Time
	LastUsedAt time.Time
	ClosedAt   time.Time // zero while the session is open
	IdleTTL    time.Duration
	MaxTTL     time.Duration
	// Deadline is when an open session expires unless it is used again, or when a closed one
	// is removed.
	Deadline time.Time
	// Indexed is the deadline under which the store indexes the session, so the sweeper finds
	// due sessions without a scan. It is never after Deadline and trails it by less than
	// indexSlack: a busy session moves its index entry about once a minute, not at every write,
	// and the sweeper re-indexes a session it finds due early.
	Indexed time.Time
	// Version grows with every change of the session or its values.
	Version    int64
	ValueCount int64
	// ValueGen is the generation of the session's values. ClearValues starts a new generation
	// at once and leaves the old one to the sweeper, so clearing 10,000 keys is one small write.
	ValueGen uint32
	// HistoryFirst is the seq of the oldest kept transition and HistoryNext the seq the next
	// one gets; both start at 1.
	HistoryFirst uint64
	HistoryNext  uint64
	Outcome      sessionv1.Outcome
	ErrorType    string
	ErrorMessage string
}

// Open reports whether the session has not been closed.
func (r *Record) Open() bool { return r.ClosedAt.IsZero() }

func (r *Record) clone() *Record {
	c := *r
	return &c
}

// Value is a stored value and the session version that wrote it.
type Value struct {
	Version int64
	Data    *structpb.Value
}

// Reader is a consistent snapshot of the store. Methods return nil (no error) for what is
// absent.
type Reader interface {
	Session(id string) (*Record, error)
	Value(id string, gen uint32, key string) (*Value, error)
	// ValueVersion is the version of a value, without decoding the value.
	ValueVersion(id string, gen uint32, key string) (version int64, found bool, err error)
	// Values calls fn for the values of generation gen whose keys start with prefix and sort
	// after `after`, in key order, until fn returns false.
	Values(id string, gen uint32, prefix, after string, fn func(key string, v *Value) bool) error
	// History calls fn for the kept transitions of id, oldest first.
	History(id string, fn func(*sessionv1.Transition) bool) error
	// Sessions calls fn for each session whose id sorts after `after`, in id order, until fn
	// returns false.
	Sessions(after string, fn func(*Record) bool) error
	// Due calls fn, earliest first, for the ids whose indexed deadline is at or before t,
	// until fn returns false.
	Due(t time.Time, fn func(id string) bool) error
	// Purges calls fn for each session id that has keys waiting to be purged.
	Purges(fn func(id string) bool) error
}

// Tx is a read-write view used only by the writer goroutine. Reads see the Tx's own writes.
// Nothing is durable until the Store's Sync after the Write that made the Tx returns.
type Tx interface {
	Reader
	// PutSession stores rec and moves its deadline index entry from prev's deadline; prev is
	// nil for a new session.
	PutSession(prev, rec *Record) error
	// RemoveSession deletes rec's record and deadline index entry and marks everything else
	// the session owns (values of every generation, history) for purging.
	RemoveSession(rec *Record) error
	PutValue(id string, gen uint32, key string, v *Value) error
	DeleteValue(id string, gen uint32, key string) error
	AppendHistory(id string, t *sessionv1.Transition) error
	DeleteHistory(id string, seq uint64) error
	// MarkPurge marks the values of id in generations below `below` for purging.
	MarkPurge(id string, below uint32) error
	// Purge deletes up to limit keys that id's purge mark covers: every key of the session
	// when its record is gone, otherwise its values in generations below the mark. It clears
	// the mark and reports done once nothing is left; without a mark it is done at once.
	// It finds the keys among what is committed: call Flush first when this Tx may have
	// written keys of id.
	Purge(id string, limit int) (deleted int, done bool, err error)
	// Flush commits what the Tx holds now.
	Flush() error
	// Checkpoint commits what the Tx holds when it has grown large. The writer calls it between
	// items, so a small item's writes never straddle a commit that Badger forces when a
	// transaction gets too big: each item is all-or-nothing also under a crash.
	Checkpoint() error
}

// Store is what the session keeper needs from storage. The single writer, TTLs, versions and
// the state table live in the keeper, above this interface, so another backend (a replicated
// key/value bucket) only has to store records, values and history grouped per session.
type Store interface {
	// Read runs fn on a snapshot.
	Read(fn func(Reader) error) error
	// Write runs fn on a Tx and commits it (without syncing). If fn fails nothing more is
	// committed, but what Checkpoint committed stays.
	Write(fn func(Tx) error) error
	// CountSessions counts stored session records.
	CountSessions() (int, error)
	// Sync makes everything committed so far durable.
	Sync() error
	Close() error
}
