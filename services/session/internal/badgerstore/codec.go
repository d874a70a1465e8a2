package badgerstore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"

	sessionv1 "github.com/osirisplane/osiris/api/osiris/session/v1"
	"github.com/osirisplane/osiris/services/session/internal/sessions"
)

// recordFormat is the first byte of an encoded record; a new layout gets a new number.
const recordFormat = 1

// encodeRecord writes r in a compact binary layout: the record is read and rewritten by every
// write of its session, and JSON cost several times more than the rest of a SetValue. Times are
// Unix nanoseconds (0: unset), durations nanoseconds, strings length-prefixed.
func encodeRecord(r *sessions.Record) ([]byte, error) {
	b := make([]byte, 0, 128+len(r.ID)+len(r.ErrorType)+len(r.ErrorMessage))
	b = append(b, recordFormat)
	b = appendString(b, r.ID)
	b = binary.AppendVarint(b, int64(r.State))
	for _, t := range []time.Time{r.CreatedAt, r.UpdatedAt, r.LastUsedAt, r.ClosedAt, r.Deadline, r.Indexed} {
		b = binary.AppendVarint(b, unixNano(t))
	}
	b = binary.AppendVarint(b, int64(r.IdleTTL))
	b = binary.AppendVarint(b, int64(r.MaxTTL))
	b = binary.AppendVarint(b, r.Version)
	b = binary.AppendVarint(b, r.ValueCount)
	b = binary.AppendUvarint(b, uint64(r.ValueGen))
	b = binary.AppendUvarint(b, r.HistoryFirst)
	b = binary.AppendUvarint(b, r.HistoryNext)
	b = binary.AppendVarint(b, int64(r.Outcome))
	b = appendString(b, r.ErrorType)
	b = appendString(b, r.ErrorMessage)
	b = binary.AppendUvarint(b, uint64(len(r.Labels)))
	for k, v := range r.Labels {
		b = appendString(appendString(b, k), v)
	}
	return b, nil
}

func appendString(b []byte, s string) []byte {
	return append(binary.AppendUvarint(b, uint64(len(s))), s...)
}

// decoder reads the layout of encodeRecord and remembers the first error.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail() {
	if d.err == nil {
		d.err = errors.New("decode session record: truncated or corrupt")
	}
	d.b = nil
}

func (d *decoder) varint() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) string() string {
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		d.fail()
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}

func (d *decoder) time() time.Time { return fromUnixNano(d.varint()) }

func unixNano(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func fromUnixNano(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

func decodeRecord(b []byte) (*sessions.Record, error) {
	if len(b) == 0 || b[0] != recordFormat {
		return nil, fmt.Errorf("decode session record: unknown format %v", b[:min(len(b), 1)])
	}
	d := &decoder{b: b[1:]}
	r := &sessions.Record{ID: d.string(), State: sessionv1.ChatState(d.varint())}
	r.CreatedAt, r.UpdatedAt, r.LastUsedAt = d.time(), d.time(), d.time()
	r.ClosedAt, r.Deadline, r.Indexed = d.time(), d.time(), d.time()
	r.IdleTTL, r.MaxTTL = time.Duration(d.varint()), time.Duration(d.varint())
	r.Version, r.ValueCount = d.varint(), d.varint()
	r.ValueGen = uint32(d.uvarint())
	r.HistoryFirst, r.HistoryNext = d.uvarint(), d.uvarint()
	r.Outcome = sessionv1.Outcome(d.varint())
	r.ErrorType, r.ErrorMessage = d.string(), d.string()
	if n := d.uvarint(); n > 0 && d.err == nil {
		if n > uint64(len(d.b)) {
			d.fail()
		} else {
			r.Labels = make(map[string]string, n)
			for range n {
				k := d.string()
				r.Labels[k] = d.string()
			}
		}
	}
	if d.err == nil && len(d.b) != 0 {
		d.fail()
	}
	if d.err != nil {
		return nil, d.err
	}
	return r, nil
}

func encodeValue(v *sessions.Value) ([]byte, error) {
	b := binary.BigEndian.AppendUint64(make([]byte, 0, 8+proto.Size(v.Data)), uint64(v.Version))
	return proto.MarshalOptions{}.MarshalAppend(b, v.Data)
}

// valueVersion reads only the version of an encoded value.
func valueVersion(b []byte) (int64, error) {
	if len(b) < 8 {
		return 0, errors.New("decode value: shorter than its version")
	}
	return int64(binary.BigEndian.Uint64(b)), nil
}

func decodeValue(b []byte) (*sessions.Value, error) {
	if len(b) < 8 {
		return nil, errors.New("decode value: shorter than its version")
	}
	data := &structpb.Value{}
	if err := proto.Unmarshal(b[8:], data); err != nil {
		return nil, fmt.Errorf("decode value: %w", err)
	}
	return &sessions.Value{Version: int64(binary.BigEndian.Uint64(b)), Data: data}, nil
}

func encodeTransition(t *sessionv1.Transition) ([]byte, error) { return proto.Marshal(t) }

func decodeTransition(b []byte) (*sessionv1.Transition, error) {
	t := &sessionv1.Transition{}
	if err := proto.Unmarshal(b, t); err != nil {
		return nil, fmt.Errorf("decode transition: %w", err)
	}
	return t, nil
}
