package upstream

import (
	"bytes"
	"log/slog"
	"sync"
)

// maxStderrLine bounds one logged line of a child's stderr; the rest of a longer line is
// dropped, and the record says it was truncated.
const maxStderrLine = 4 << 10

// lineLog logs what a child writes to its stderr, one record per line, so a server's own
// diagnostics (why it cannot start, what it refused) reach the gateway's log.
type lineLog struct {
	log *slog.Logger

	mu  sync.Mutex
	buf []byte
	cut bool // the line in buf was longer than maxStderrLine
}

func (l *lineLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := len(p)
	for len(p) > 0 {
		line, rest, full := bytes.Cut(p, []byte{'\n'})
		if room := maxStderrLine - len(l.buf); len(line) > room {
			line, l.cut = line[:room], true
		}
		l.buf = append(l.buf, line...)
		if !full {
			break
		}
		l.emit()
		p = rest
	}
	return n, nil
}

func (l *lineLog) flush() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.buf) > 0 || l.cut {
		l.emit()
	}
}

func (l *lineLog) emit() {
	line := string(bytes.TrimRight(l.buf, "\r"))
	if l.cut {
		l.log.Info("upstream stderr", "line", line, "truncated", true)
	} else {
		l.log.Info("upstream stderr", "line", line)
	}
	l.buf, l.cut = l.buf[:0], false
}
