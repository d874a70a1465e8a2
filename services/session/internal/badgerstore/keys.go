// Package badgerstore keeps sessions in Badger.
//
// Layout. Everything a session owns sits under one prefix, its group 's' id 0x00, so removing
// a session is removing one key range:
//
//	's' id 0x00 'm'                  -> Record (binary, see encodeRecord)
//	's' id 0x00 'h' seq(8)           -> Transition (protobuf)
//	's' id 0x00 'v' gen(4) key       -> version(8) | google.protobuf.Value (protobuf)
//	'x' indexed deadline(8) id       -> empty: the deadline index the sweeper walks
//	'p' id                           -> gen(4): keys of id waiting to be purged
//
// Ids are visible ASCII (never 0x00), so the 0x00 after the id ends it: the group of "a" is not
// a prefix of the group of "ab". Numbers are big-endian, so key order is numeric order: history
// in seq order, values of a generation together, the deadline index earliest first.
// Removing a session deletes its record and index entry and writes a purge mark in one item;
// the rest of the group is deleted by sweeps in bounded chunks, and survives a crash only as
// keys the mark still covers.
package badgerstore

import (
	"encoding/binary"
	"time"
)

const (
	prefixSession  = 's'
	prefixDeadline = 'x'
	prefixPurge    = 'p'

	tagMeta    = 'm'
	tagHistory = 'h'
	tagValue   = 'v'
)

// Group is the prefix of every key session id owns (exported for tests that count keys).
func Group(id string) []byte {
	b := make([]byte, 0, len(id)+16)
	b = append(b, prefixSession)
	b = append(b, id...)
	return append(b, 0)
}

// groupEnd sorts after every key of id's group and before the next session's group.
func groupEnd(id string) []byte {
	b := Group(id)
	b[len(b)-1] = 1
	return b
}

func metaKey(id string) []byte { return append(Group(id), tagMeta) }

func historyPrefix(id string) []byte { return append(Group(id), tagHistory) }

func historyKey(id string, seq uint64) []byte {
	return binary.BigEndian.AppendUint64(historyPrefix(id), seq)
}

func valuesPrefix(id string) []byte { return append(Group(id), tagValue) }

func genPrefix(id string, gen uint32) []byte {
	return binary.BigEndian.AppendUint32(valuesPrefix(id), gen)
}

func valueKey(id string, gen uint32, key string) []byte {
	return append(genPrefix(id, gen), key...)
}

// IndexKey is the deadline index entry of a session (exported for tests).
func IndexKey(deadline time.Time, id string) []byte {
	b := binary.BigEndian.AppendUint64([]byte{prefixDeadline}, nanos(deadline))
	return append(b, id...)
}

func markKey(id string) []byte { return append([]byte{prefixPurge}, id...) }

// nanos orders deadlines; times before 1970 (never produced by a sane clock) sort first.
func nanos(t time.Time) uint64 {
	if t.IsZero() || t.Before(time.Unix(0, 0)) {
		return 0
	}
	return uint64(t.UnixNano())
}

// idOfGroupKey returns the id of a key in some session's group.
func idOfGroupKey(key []byte) (string, bool) {
	for i := 1; i < len(key); i++ {
		if key[i] == 0 {
			return string(key[1:i]), true
		}
	}
	return "", false
}
