package badgerstore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/osirisplane/osiris/services/cache/internal/entrycache"
)

// Record format version; a store written by a later format is refused, not misread.
const formatV1 = 1

var errTruncated = errors.New("record is truncated")

// encodeMeta encodes everything but the ID (which is in the key).
func encodeMeta(m entrycache.Meta) []byte {
	b := []byte{formatV1}
	b = binary.AppendUvarint(b, m.Revision)
	b = binary.AppendVarint(b, m.CreatedAt.UnixNano())
	b = binary.AppendVarint(b, m.ExpiresAt.UnixNano())
	b = binary.AppendVarint(b, int64(m.TTL))
	b = binary.AppendUvarint(b, uint64(m.ValueSize))
	b = binary.AppendUvarint(b, m.Stamp)
	b = binary.AppendUvarint(b, uint64(len(m.Tags)))
	for _, t := range m.Tags {
		b = binary.AppendUvarint(b, uint64(len(t)))
		b = append(b, t...)
	}
	return b
}

func decodeMeta(id entrycache.ID, b []byte) (entrycache.Meta, error) {
	d := decoder{b: b}
	if v := d.byte(); v != formatV1 && d.err == nil {
		return entrycache.Meta{}, fmt.Errorf("entry %s/%s: unknown record format %d", id.Namespace, id.Key, v)
	}
	m := entrycache.Meta{ID: id}
	m.Revision = d.uvarint()
	m.CreatedAt = time.Unix(0, d.varint()).UTC()
	m.ExpiresAt = time.Unix(0, d.varint()).UTC()
	m.TTL = time.Duration(d.varint())
	m.ValueSize = int64(d.uvarint())
	m.Stamp = d.uvarint()
	n := d.uvarint()
	if n > uint64(len(b)) {
		d.err = errTruncated
	}
	for i := uint64(0); i < n && d.err == nil; i++ {
		m.Tags = append(m.Tags, string(d.bytes(d.uvarint())))
	}
	if d.err == nil && len(d.b) != 0 {
		d.err = fmt.Errorf("%d bytes after the record", len(d.b))
	}
	if d.err != nil {
		return entrycache.Meta{}, fmt.Errorf("entry %s/%s: %w", id.Namespace, id.Key, d.err)
	}
	return m, nil
}

func encodeState(s entrycache.State) []byte {
	b := []byte{formatV1}
	b = binary.AppendUvarint(b, s.Revision)
	hw := int64(0)
	if !s.HighWater.IsZero() {
		hw = s.HighWater.UnixNano()
	}
	b = binary.AppendVarint(b, hw)
	for _, v := range []uint64{s.Stamp, s.Hits, s.Misses, s.Evictions, s.Expirations} {
		b = binary.AppendUvarint(b, v)
	}
	return b
}

func decodeState(b []byte) (entrycache.State, error) {
	d := decoder{b: b}
	if v := d.byte(); v != formatV1 && d.err == nil {
		return entrycache.State{}, fmt.Errorf("state: unknown record format %d", v)
	}
	var s entrycache.State
	s.Revision = d.uvarint()
	if hw := d.varint(); hw != 0 {
		s.HighWater = time.Unix(0, hw).UTC()
	}
	for _, p := range []*uint64{&s.Stamp, &s.Hits, &s.Misses, &s.Evictions, &s.Expirations} {
		*p = d.uvarint()
	}
	if d.err != nil {
		return entrycache.State{}, fmt.Errorf("state: %w", d.err)
	}
	return s, nil
}

// decoder reads varints and remembers the first error.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) byte() byte {
	if d.err != nil || len(d.b) == 0 {
		d.err = errTruncated
		return 0
	}
	v := d.b[0]
	d.b = d.b[1:]
	return v
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err = errTruncated
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.err = errTruncated
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) bytes(n uint64) []byte {
	if d.err != nil || n > uint64(len(d.b)) {
		d.err = errTruncated
		return nil
	}
	v := d.b[:n]
	d.b = d.b[n:]
	return v
}
