package badgerstore

import (
	"encoding/binary"
	"fmt"

	"github.com/osirisplane/osiris/services/telemetry/internal/recorder"
)

// Key prefixes; see the package comment for the layout.
const (
	prefixCall      = 'r'
	prefixCallIndex = 'i'
	prefixEvent     = 'e'
	prefixAggregate = 'a'
	prefixMeta      = 'n'
	prefixDedupe    = 'd'

	aggGlobal            = 'g'
	aggTool              = 't'
	aggSessionTool       = 's'
	aggWindowTool        = 'w'
	aggWindowSessionTool = 'v'
)

func levelCode(l recorder.Level) byte {
	switch l {
	case recorder.LevelMinute:
		return 'm'
	case recorder.LevelHour:
		return 'h'
	case recorder.LevelDay:
		return 'd'
	}
	panic(fmt.Sprintf("unknown bucket level %d", l))
}

func appendString(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint16(b, uint16(len(s)))
	return append(b, s...)
}

// readString is the inverse of appendString; ok is false on a short key.
func readString(b []byte) (s string, rest []byte, ok bool) {
	if len(b) < 2 {
		return "", nil, false
	}
	n := int(binary.BigEndian.Uint16(b))
	if len(b) < 2+n {
		return "", nil, false
	}
	return string(b[2 : 2+n]), b[2+n:], true
}

func appendPosition(b []byte, p recorder.Position) []byte {
	b = binary.BigEndian.AppendUint64(b, uint64(p.TimeNanos))
	return binary.BigEndian.AppendUint64(b, p.Seq)
}

// positionAt reads the position at the end of a call or index key.
func positionAt(key []byte) recorder.Position {
	tail := key[len(key)-16:]
	return recorder.Position{TimeNanos: int64(binary.BigEndian.Uint64(tail)), Seq: binary.BigEndian.Uint64(tail[8:])}
}

// CallKey is the key of a stored call (exported for tests that edit the store).
func CallKey(p recorder.Position) []byte { return appendPosition([]byte{prefixCall}, p) }

func callIndexPrefix(kind recorder.CallIndexKind, value string) []byte {
	return appendString([]byte{prefixCallIndex, byte(kind)}, value)
}

func eventKey(seq uint64) []byte { return binary.BigEndian.AppendUint64([]byte{prefixEvent}, seq) }

func metaKey(which byte) []byte { return []byte{prefixMeta, which} }

// aggKey encodes k. Window keys put the level and start before the tool, so the buckets of a
// time range are one key range.
func aggKey(k recorder.AggKey) []byte {
	switch k.Kind {
	case recorder.AggGlobal:
		return []byte{prefixAggregate, aggGlobal}
	case recorder.AggTool:
		return appendString([]byte{prefixAggregate, aggTool}, k.Tool)
	case recorder.AggSessionTool:
		return appendString(sessionToolsPrefix(k.Session), k.Tool)
	case recorder.AggWindowTool:
		return appendString(binary.BigEndian.AppendUint64(windowPrefix("", k.Level), uint64(k.Start)), k.Tool)
	case recorder.AggWindowSessionTool:
		return appendString(binary.BigEndian.AppendUint64(windowPrefix(k.Session, k.Level), uint64(k.Start)), k.Tool)
	}
	panic(fmt.Sprintf("unknown aggregate kind %d", k.Kind))
}

func sessionToolsPrefix(session string) []byte {
	return appendString([]byte{prefixAggregate, aggSessionTool}, session)
}

// windowPrefix is the prefix of the buckets of one level, of all sessions ("") or of one.
func windowPrefix(session string, l recorder.Level) []byte {
	if session == "" {
		return []byte{prefixAggregate, aggWindowTool, levelCode(l)}
	}
	return append(appendString([]byte{prefixAggregate, aggWindowSessionTool}, session), levelCode(l))
}

// levelOf is the inverse of levelCode; ok is false for an unknown code.
func levelOf(code byte) (recorder.Level, bool) {
	for _, l := range []recorder.Level{recorder.LevelMinute, recorder.LevelHour, recorder.LevelDay} {
		if levelCode(l) == code {
			return l, true
		}
	}
	return 0, false
}

// bucketEnd reads level(1) start(8) at the head of b and returns the end of that bucket, in
// minutes since the Unix epoch; ok is false on a short or unknown key.
func bucketEnd(b []byte) (end int64, ok bool) {
	if len(b) < 9 {
		return 0, false
	}
	l, ok := levelOf(b[0])
	if !ok {
		return 0, false
	}
	return int64(binary.BigEndian.Uint64(b[1:9])) + int64(l), true
}
