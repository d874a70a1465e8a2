package fanout

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/trace/noop"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	auditv1 "github.com/osirisplane/osiris/api/osiris/audit/v1"
	telemetryv1 "github.com/osirisplane/osiris/api/osiris/telemetry/v1"
	"github.com/osirisplane/osiris/gateway/internal/proxy"
	"github.com/osirisplane/osiris/gateway/internal/wire"
	"github.com/osirisplane/osiris/services/audit"
)

// startAudit runs a real audit service (its validation and redaction are what is tested
// against) with the given limit on an event's arguments.
func startAudit(t *testing.T, maxArgs int) auditv1.AuditServiceClient {
	t.Helper()
	cfg := audit.DefaultConfig()
	cfg.DataDir, cfg.GRPCAddr, cfg.HTTPAddr = t.TempDir(), "127.0.0.1:0", "127.0.0.1:0"
	cfg.MaxArgumentsBytes = maxArgs
	svc, err := audit.New(cfg, quiet())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- svc.Run(ctx) }()
	conn, err := grpc.NewClient(svc.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		conn.Close()
		cancel()
		if err := <-served; err != nil {
			t.Errorf("audit service: %v", err)
		}
	})
	return auditv1.NewAuditServiceClient(conn)
}

func newTestAudit(t *testing.T, client auditv1.AuditServiceClient, failOpen bool) *Audit {
	t.Helper()
	a, err := NewAudit(client, failOpen, metricnoop.NewMeterProvider().Meter(""), noop.NewTracerProvider().Tracer(""), quiet())
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func events(t *testing.T, client auditv1.AuditServiceClient, session string) []*auditv1.Event {
	t.Helper()
	resp, err := client.ListEvents(context.Background(), &auditv1.ListEventsRequest{SessionId: session})
	if err != nil {
		t.Fatal(err)
	}
	return resp.GetEvents()
}

// Issue 12, defect 11: a result with isError was recorded with an empty error message. Its
// text is the event's error_message, redacted by the audit service as any other.
func TestIsErrorTextIsAudited(t *testing.T) {
	client := startAudit(t, 1<<20)
	a := newTestAudit(t, client, false)
	const result = `{"content":[{"type":"text","text":"login failed with AKIAABCDEFGHIJKLMNOP"},{"type":"text","text":"second\u0000line"}],"isError":true}`
	var calls int
	reply, err := a.Around(context.Background(), toolCall("S", `{"name":"login","arguments":{}}`), answer(result, &calls))
	if err != nil {
		t.Fatal(err)
	}
	got := events(t, client, "S")
	if len(got) != 2 {
		t.Fatalf("%d events", len(got))
	}
	end := got[1]
	if end.GetEventType() != auditv1.EventType_EVENT_TYPE_TOOL_CALL_FAILED || end.GetErrorCode() != "tool_error" {
		t.Fatalf("end event %v", end)
	}
	msg := end.GetErrorMessage()
	if !strings.HasPrefix(msg, "login failed with ") || strings.Contains(msg, "AKIAABCDEFGHIJKLMNOP") || !strings.Contains(msg, "second\uFFFDline") {
		t.Fatalf("error_message %q: want the isError text, redacted, NUL replaced", msg)
	}
	if meta(t, reply, MetaKey) != end.GetCorrelationId() || end.GetBytesOut() != uint64(len(result)) {
		t.Fatalf("reply %s; event %v", reply.Result, end)
	}
}

// Issue 12, defect 11, telemetry's side: the record is an error with the isError text.
func TestIsErrorTextIsCounted(t *testing.T) {
	spool, _ := newSpool(t, &fakeTelemetry{}, 10)
	var calls int
	ctx := withCorrelationID(context.Background(), "mcp_1")
	if _, err := spool.Around(ctx, toolCall("S", `{"name":"t","arguments":{"a":1}}`), answer(`{"content":[{"type":"text","text":"disk full"}],"isError":true}`, &calls)); err != nil {
		t.Fatal(err)
	}
	rec := <-spool.spool
	if rec.GetStatus() != telemetryv1.CallStatus_CALL_STATUS_ERROR || rec.GetError() != "disk full" || rec.GetCorrelationId() != "mcp_1" || rec.GetBytesIn() != uint64(len(`{"a":1}`)) {
		t.Fatalf("record %v", rec)
	}
}

// Issue 12, Deliver 4: a request refused for its size is audited. Arguments over the audit
// service's limit were refused with -32010 and left nothing in the log; now the call is
// refused as invalid params and recorded as tool_call_rejected without the arguments, also
// when the gateway fails open (the service is up: the request is what it will not take). A
// tool name the service will not take (a terminal escape in it) is recorded the same way,
// with the name made printable.
func TestOversizedArgumentsAreAuditedAsRejected(t *testing.T) {
	client := startAudit(t, 1024)
	for _, tc := range []struct {
		params, code, why, tool string
	}{
		{`{"name":"big","arguments":{"blob":"` + strings.Repeat("x", 4096) + `"}}`, "request_too_large", "over the limit of 1024", "big"},
		{`{"name":"bad\u001b[2J","arguments":{}}`, "invalid_request", "control character", "bad\uFFFD[2J"},
	} {
		for _, failOpen := range []bool{false, true} {
			a := newTestAudit(t, client, failOpen)
			session := fmt.Sprintf("%s-%v", tc.code, failOpen)
			var calls int
			_, err := a.Around(context.Background(), toolCall(session, tc.params), answer(`{"content":[]}`, &calls))
			var rpc *jsonrpc.Error
			if !errors.As(err, &rpc) || rpc.Code != jsonrpc.CodeInvalidParams || !strings.Contains(rpc.Message, tc.why) || calls != 0 {
				t.Fatalf("%s: %v after %d forwards", session, err, calls)
			}
			got := events(t, client, session)
			if len(got) != 1 {
				t.Fatalf("%s: %d events", session, len(got))
			}
			e := got[0]
			if e.GetEventType() != auditv1.EventType_EVENT_TYPE_TOOL_CALL_REJECTED || e.GetErrorCode() != tc.code || e.GetArguments() != nil ||
				e.GetTool() != tc.tool || !strings.Contains(e.GetErrorMessage(), tc.why) || e.GetCorrelationId() == "" {
				t.Fatalf("%s: event %v", session, e)
			}
		}
	}
}

// tools/call params that are not a JSON object are refused as invalid params, and recorded.
func TestParamsNotAnObjectAreRefusedAndAudited(t *testing.T) {
	f := &capturingAudit{}
	a := newTestAudit(t, f, false)
	var calls int
	_, err := a.Around(context.Background(), toolCall("S", `[1]`), answer(`{}`, &calls))
	var rpc *jsonrpc.Error
	if !errors.As(err, &rpc) || rpc.Code != jsonrpc.CodeInvalidParams || calls != 0 || len(f.events) != 1 ||
		f.events[0].GetEventType() != auditv1.EventType_EVENT_TYPE_TOOL_CALL_REJECTED || f.events[0].GetErrorCode() != "invalid_request" {
		t.Fatalf("%v after %d forwards; events %v", err, calls, f.events)
	}
}

// The correlation id is spliced into the request's and the reply's _meta; every other byte of
// both passes as the peers wrote it, and the sizes recorded are those bytes.
func TestCorrelationIDIsSplicedIntoBothMetas(t *testing.T) {
	f := &capturingAudit{}
	a := newTestAudit(t, f, false)
	const params = `{"name":"t", "arguments":null,"x":false,"_meta":{"progressToken":7}}`
	const result = `{"content":[],"structuredContent":null,"extra":{"b":1,"a":2}}`
	var sent json.RawMessage
	forward := func(context.Context) (*wire.Reply, error) {
		return &wire.Reply{Result: json.RawMessage(result)}, nil
	}
	call := toolCall("S", params)
	reply, err := a.Around(context.Background(), call, func(ctx context.Context) (*wire.Reply, error) {
		sent = call.Params
		return forward(ctx)
	})
	if err != nil {
		t.Fatal(err)
	}
	corr := f.events[0].GetCorrelationId()
	if want := `{"name":"t", "arguments":null,"x":false,"_meta":{"progressToken":7,"correlation_id":"` + corr + `"}}`; string(sent) != want {
		t.Fatalf("sent\n%s\nwant\n%s", sent, want)
	}
	if want := `{"content":[],"structuredContent":null,"extra":{"b":1,"a":2},"_meta":{"correlation_id":"` + corr + `"}}`; string(reply.Result) != want {
		t.Fatalf("reply\n%s\nwant\n%s", reply.Result, want)
	}
	if f.events[0].GetBytesIn() != 4 || f.events[1].GetBytesOut() != uint64(len(result)) {
		t.Fatalf("sizes in %d, out %d", f.events[0].GetBytesIn(), f.events[1].GetBytesOut())
	}
}

// A call the gateway itself refuses (no upstream owns the tool) is audited as rejected.
func TestRefusedByTheGatewayIsAuditedAsRejected(t *testing.T) {
	f := &capturingAudit{}
	a := newTestAudit(t, f, false)
	_, err := a.Around(context.Background(), toolCall("S", `{"name":"nobody_t"}`), func(context.Context) (*wire.Reply, error) {
		return nil, proxy.Rejection{Err: &jsonrpc.Error{Code: jsonrpc.CodeInvalidParams, Message: "no upstream owns nobody_t"}}
	})
	if err == nil || len(f.events) != 2 || f.events[1].GetEventType() != auditv1.EventType_EVENT_TYPE_TOOL_CALL_REJECTED ||
		f.events[1].GetErrorCode() != "jsonrpc_-32602" {
		t.Fatalf("%v; events %v", err, f.events)
	}
}

// The audit service refuses NUL in text fields and error text over 64 KiB; an upstream error
// with either is still recorded (U+FFFD for NUL, cut at a character boundary), so the call is
// not failed closed for it.
func TestErrorTextIsWhatTheAuditServiceTakes(t *testing.T) {
	if got, want := errorText("upstream said \x00 twice\x00"), "upstream said \uFFFD twice\uFFFD"; got != want {
		t.Fatalf("errorText = %q, want %q", got, want)
	}
	long := errorText(strings.Repeat("é", 40<<10))
	if len(long) > maxAuditMessageBytes || !strings.HasPrefix(long, "éé") || strings.ContainsRune(long, '\uFFFD') {
		t.Fatalf("long text: %d bytes", len(long))
	}
}

// capturingAudit stores every event it is sent.
type capturingAudit struct {
	auditv1.AuditServiceClient
	events []*auditv1.Event
}

func (f *capturingAudit) AppendBatch(_ context.Context, req *auditv1.AppendBatchRequest, _ ...grpc.CallOption) (*auditv1.AppendBatchResponse, error) {
	out := &auditv1.AppendBatchResponse{}
	for _, e := range req.GetEvents() {
		f.events = append(f.events, e)
		out.Receipts = append(out.Receipts, &auditv1.AppendResponse{})
	}
	return out, nil
}
