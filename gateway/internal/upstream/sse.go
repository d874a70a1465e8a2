package upstream

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strconv"
	"time"
)

// event is one server-sent event (the fields MCP uses).
type event struct {
	id       string
	hasID    bool
	name     string
	data     []byte
	retry    time.Duration // 0 when the event set none
	tooLarge bool          // its lines were longer than the bound and were dropped
}

// sseSlack is what an event may hold besides its data: field names, an id, a retry delay.
const sseSlack = 4 << 10

// sseReader reads server-sent events (WHATWG HTML, "event stream interpretation"), holding
// at most max bytes of one event's data (and sseSlack more for its other fields): the lines
// of a larger event are read and dropped, and the event is returned marked tooLarge, so a
// stream can go on past it.
type sseReader struct {
	r   *bufio.Reader
	max int64
}

func newSSEReader(r io.Reader, max int64) *sseReader {
	return &sseReader{r: bufio.NewReader(r), max: max}
}

// next returns the next event, or the error that ended the stream (io.EOF at its end; an
// event the end cut short is dropped, as the SSE standard says).
func (r *sseReader) next() (event, error) {
	var (
		ev      event
		data    bytes.Buffer
		hasData bool
		size    int64
	)
	for {
		line, over, err := r.line(max(r.max+sseSlack-size, 0))
		if err != nil {
			return event{}, err
		}
		size += int64(len(line)) + 1
		if over {
			ev.tooLarge = true
			continue
		}
		if len(line) == 0 {
			ev.tooLarge = ev.tooLarge || int64(data.Len()) > r.max
			if hasData || ev.hasID || ev.retry > 0 || ev.tooLarge {
				if !ev.tooLarge {
					ev.data = data.Bytes()
				}
				return ev, nil
			}
			continue
		}
		if line[0] == ':' || ev.tooLarge { // a comment, or the rest of a dropped event
			continue
		}
		field, value, _ := bytes.Cut(line, []byte{':'})
		value = bytes.TrimPrefix(value, []byte{' '})
		switch string(field) {
		case "data":
			if hasData {
				data.WriteByte('\n')
			}
			data.Write(value)
			hasData = true
		case "id":
			if !bytes.ContainsRune(value, 0) {
				ev.id, ev.hasID = string(value), true
			}
		case "event":
			ev.name = string(value)
		case "retry":
			if ms, err := strconv.ParseUint(string(value), 10, 32); err == nil {
				ev.retry = time.Duration(ms) * time.Millisecond
			}
		}
	}
}

// line reads one line without its end (LF or CRLF). A line longer than budget is read to
// its end and dropped: over is then true.
func (r *sseReader) line(budget int64) (line []byte, over bool, err error) {
	for {
		chunk, err := r.r.ReadSlice('\n')
		if !over && int64(len(line)+len(chunk)) <= budget+1 { // +1: the LF
			line = append(line, chunk...)
		} else {
			over, line = true, nil
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if err != nil {
			return nil, false, err
		}
		return bytes.TrimSuffix(bytes.TrimSuffix(line, []byte{'\n'}), []byte{'\r'}), over, nil
	}
}
