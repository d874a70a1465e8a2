package recorder

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"time"

	telemetryv1 "github.com/osirisplane/osiris/api/osiris/telemetry/v1"
	"github.com/osirisplane/osiris/platform/apierr"
)

// Page sizes and the scan budget of one List call.
const (
	DefaultPageSize = 100
	MaxPageSize     = 1000
	// MaxExamined bounds how many stored records one List call reads, so a filter that
	// matches little cannot make one request walk the whole store; the caller continues with
	// the token.
	MaxExamined = 10000
)

// CallFilter selects tool calls. Zero fields match everything.
type CallFilter struct {
	Session, Correlation, Tool string
	Status                     telemetryv1.CallStatus
	Since, Until               time.Time // on the call's time; Since inclusive, Until exclusive
}

func (f CallFilter) validate() error {
	if err := checkTexts("", []text{{"session_id", f.Session, MaxNameBytes}, {"correlation_id", f.Correlation, MaxNameBytes}, {"tool", f.Tool, MaxNameBytes}}); err != nil {
		return err
	}
	if _, known := telemetryv1.CallStatus_name[int32(f.Status)]; !known {
		return apierr.Invalid("status %d is not a known status", f.Status)
	}
	return checkRange(f.Since, f.Until)
}

func checkRange(since, until time.Time) error {
	if !since.IsZero() && !until.IsZero() && !until.After(since) {
		return apierr.Invalid("until (%s) must be after since (%s)", until.Format(time.RFC3339Nano), since.Format(time.RFC3339Nano))
	}
	return nil
}

func (f CallFilter) matches(c *telemetryv1.ToolCall) bool {
	return (f.Session == "" || c.GetSessionId() == f.Session) &&
		(f.Correlation == "" || c.GetCorrelationId() == f.Correlation) &&
		(f.Tool == "" || c.GetTool() == f.Tool) &&
		(f.Status == telemetryv1.CallStatus_CALL_STATUS_UNSPECIFIED || c.GetStatus() == f.Status)
}

// index picks the most selective stored index for f.
func (f CallFilter) index() CallIndex {
	switch {
	case f.Correlation != "":
		return CallIndex{CallsByCorrelation, f.Correlation}
	case f.Session != "":
		return CallIndex{CallsBySession, f.Session}
	case f.Tool != "":
		return CallIndex{CallsByTool, f.Tool}
	}
	return CallIndex{Kind: CallsAll}
}

// fingerprint binds a page token to the filter it was issued for.
func fingerprint(parts ...string) []byte {
	h := sha256.New()
	for _, s := range parts {
		h.Write(binary.AppendUvarint(nil, uint64(len(s))))
		h.Write([]byte(s))
	}
	return h.Sum(nil)[:8]
}

func (f CallFilter) fingerprint() []byte {
	return fingerprint("calls", f.Session, f.Correlation, f.Tool, f.Status.String(), f.Since.Format(time.RFC3339Nano), f.Until.Format(time.RFC3339Nano))
}

// A page token is base64url(version byte 1 | position (16 bytes) | filter fingerprint (8)).
func encodeToken(p Position, fp []byte) string {
	b := []byte{1}
	b = binary.BigEndian.AppendUint64(b, uint64(p.TimeNanos))
	b = binary.BigEndian.AppendUint64(b, p.Seq)
	return base64.RawURLEncoding.EncodeToString(append(b, fp...))
}

func decodeToken(tok string, fp []byte) (Position, error) {
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil || len(b) != 25 || b[0] != 1 {
		return Position{}, apierr.Invalid("page_token is malformed")
	}
	if string(b[17:]) != string(fp) {
		return Position{}, apierr.Invalid("page_token was issued for different filters; repeat the same filters or start without a token")
	}
	return Position{TimeNanos: int64(binary.BigEndian.Uint64(b[1:9])), Seq: binary.BigEndian.Uint64(b[9:17])}, nil
}

func pageSize(n int) (int, error) {
	switch {
	case n < 0:
		return 0, apierr.Invalid("page_size must not be negative")
	case n == 0:
		return DefaultPageSize, nil
	}
	return min(n, MaxPageSize), nil
}

// ListCalls returns up to size matching calls after the token's position, in (time, seq)
// order, and the token for the next page ("" when there are no more matches). A call recorded
// later with an earlier time than a token's position is not seen by that paging.
func (r *Recorder) ListCalls(ctx context.Context, f CallFilter, size int, token string) ([]*telemetryv1.ToolCall, string, error) {
	if err := f.validate(); err != nil {
		return nil, "", err
	}
	size, err := pageSize(size)
	if err != nil {
		return nil, "", err
	}
	var from Position // the zero position is before every call
	if !f.Since.IsZero() && f.Since.After(time.Unix(0, 0)) {
		from = Position{TimeNanos: f.Since.UnixNano()} // seq 0: every call at Since follows it
	}
	if token != "" {
		if from, err = decodeToken(token, f.fingerprint()); err != nil {
			return nil, "", err
		}
	}
	var (
		calls    []*telemetryv1.ToolCall
		examined int
		last     = from
		more     bool
	)
	err = r.store.ScanCalls(ctx, f.index(), from, func(c *telemetryv1.ToolCall) (bool, error) {
		if !f.Until.IsZero() && !c.GetTime().AsTime().Before(f.Until) {
			return false, nil // time order: nothing later matches
		}
		if f.matches(c) {
			if len(calls) == size {
				more = true
				return false, nil
			}
			calls = append(calls, c)
		}
		last = PositionOf(c)
		examined++
		if examined >= MaxExamined {
			more = true
			return false, nil
		}
		return true, nil
	})
	if err != nil || !more {
		return calls, "", err
	}
	return calls, encodeToken(last, f.fingerprint()), nil
}

// EventFilter selects server events. Zero fields match everything.
type EventFilter struct {
	Kind         telemetryv1.ServerEventKind
	Server       string
	Since, Until time.Time
}

func (f EventFilter) validate() error {
	if err := checkText("server", f.Server, MaxNameBytes); err != nil {
		return err
	}
	if _, known := telemetryv1.ServerEventKind_name[int32(f.Kind)]; !known {
		return apierr.Invalid("kind %d is not a known server event kind", f.Kind)
	}
	return checkRange(f.Since, f.Until)
}

func (f EventFilter) matches(e *telemetryv1.ServerEvent) bool {
	t := e.GetTime().AsTime()
	return (f.Kind == telemetryv1.ServerEventKind_SERVER_EVENT_KIND_UNSPECIFIED || e.GetKind() == f.Kind) &&
		(f.Server == "" || e.GetServer() == f.Server) &&
		(f.Since.IsZero() || !t.Before(f.Since)) &&
		(f.Until.IsZero() || t.Before(f.Until))
}

func (f EventFilter) fingerprint() []byte {
	return fingerprint("events", f.Kind.String(), f.Server, f.Since.Format(time.RFC3339Nano), f.Until.Format(time.RFC3339Nano))
}

// ListEvents returns up to size matching server events after the token's seq, in seq order.
func (r *Recorder) ListEvents(ctx context.Context, f EventFilter, size int, token string) ([]*telemetryv1.ServerEvent, string, error) {
	if err := f.validate(); err != nil {
		return nil, "", err
	}
	size, err := pageSize(size)
	if err != nil {
		return nil, "", err
	}
	var after uint64
	if token != "" {
		p, err := decodeToken(token, f.fingerprint())
		if err != nil {
			return nil, "", err
		}
		after = p.Seq
	}
	var (
		events   []*telemetryv1.ServerEvent
		examined int
		more     bool
	)
	err = r.store.ScanEvents(ctx, after, func(e *telemetryv1.ServerEvent) (bool, error) {
		if f.matches(e) {
			if len(events) == size {
				more = true
				return false, nil
			}
			events = append(events, e)
		}
		after = e.GetSeq()
		examined++
		if examined >= MaxExamined {
			more = true
			return false, nil
		}
		return true, nil
	})
	if err != nil || !more {
		return events, "", err
	}
	return events, encodeToken(Position{Seq: after}, f.fingerprint()), nil
}
