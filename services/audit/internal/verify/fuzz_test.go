package verify

import (
	"bytes"
	"testing"

	"github.com/gowebpki/jcs"
)

// FuzzParseLine: an export line is untrusted input. Whatever it holds, parsing does not panic,
// and a line that parses names the same leaf as its own canonical form: the leaf hash depends
// on what the line says, not on how it is written.
func FuzzParseLine(f *testing.F) {
	for _, l := range newLog(f, 12).lines {
		f.Add(l)
	}
	f.Add([]byte(`{"seq":1,"hash":"00","a":{"b":[1,2,{"c":"\ud83d\ude00"}]}}`))
	f.Add([]byte(`{"seq":1,"seq":2}`))
	f.Add([]byte(" \t{}\r"))
	f.Fuzz(func(t *testing.T, line []byte) {
		l, err := parseLine(line)
		if err != nil {
			return
		}
		c, err := jcs.Transform(line)
		if err != nil {
			t.Fatalf("parseLine accepted %q, which JCS refuses: %v", line, err)
		}
		l2, err := parseLine(c)
		if err != nil {
			t.Fatalf("parseLine refused the canonical form %q of %q: %v", c, line, err)
		}
		if l2.seq != l.seq || !bytes.Equal(l2.computed, l.computed) || !bytes.Equal(l2.claimed, l.claimed) {
			t.Fatalf("%q and its canonical form %q name different leaves", line, c)
		}
	})
}

// FuzzOpenCheckpoint: a checkpoint is untrusted input too.
func FuzzOpenCheckpoint(f *testing.F) {
	s, vkey := newSigner(f, "osiris-audit")
	f.Add(sign(f, s, "osiris-audit\n3\nBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=\n"))
	f.Add(sign(f, s, "osiris-audit\n3\n"))
	f.Fuzz(func(t *testing.T, msg []byte) {
		if cp, err := OpenCheckpoint(msg, vkey); err == nil && len(cp.Root) != 32 {
			t.Fatalf("accepted a root of %d bytes", len(cp.Root))
		}
	})
}
