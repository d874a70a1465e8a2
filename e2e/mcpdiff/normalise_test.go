package mcpdiff

import (
	"encoding/base64"
	"regexp"
	"strconv"
	"unicode/utf8"
)

// gatewayMetaKeys are the keys the gateway documents adding to `_meta` (docs/gateway.md):
// the correlation id of every tools/call, its audit receipts and the mark of a reply served
// from the cache. They are removed from both transcripts before comparing; the only list of
// them.
var gatewayMetaKeys = []string{"correlation_id", "osiris/audit", "cached"}

// The normalisation rules. Each replaces what differs between two runs by nature (not by
// the hop), identically in both transcripts; nothing else is touched.
var (
	// uuidRule: random UUIDs. Streamable-HTTP session ids, which server-everything prints in
	// tool results and logs ("for session 0b5e…"), and the elicitation ids it generates.
	uuidRule = regexp.MustCompile(`[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}`)
	// taskIDRule: task ids (16 random bytes in hex) where a tool prints them in its text
	// ("Task created: 2776cf03…"); as JSON values they are under randomKeys.
	taskIDRule = regexp.MustCompile(`\b[0-9a-f]{32}\b`)
	// timeOfDayRule: the wall-clock time server-everything writes into its dynamic resources
	// ("created at 6:03:22 AM", Date.toLocaleTimeString).
	timeOfDayRule = regexp.MustCompile(`\b\d{1,2}:\d{2}:\d{2}(\s?[AP]M)?`)
	// simulatedLogRule: the log line toggle-simulated-logging sends, of a random level (the
	// level picks the text, so both are replaced).
	simulatedLogRule = regexp.MustCompile(`^(Debug|Info|Notice|Warning|Error|Critical|Alert|Emergency)[- ]level[- ]message`)
)

// timeKeys are task timestamps (RFC 3339, of when the task ran); randomKeys are the task ids
// the server draws at random.
var (
	timeKeys   = map[string]bool{"createdAt": true, "lastUpdatedAt": true}
	randomKeys = map[string]bool{"taskId": true}
)

// normalise applies every rule to a transcript ({"ops": [...], "outside": [...]}), decoded
// with UseNumber, in place, and returns it.
func normalise(transcript any) any {
	renumberServerRequests(transcript)
	sortEnvironment(transcript)
	return walk(transcript)
}

// sortEnvironment: get-env answers with the server process's environment as JSON, in the
// order the process that started the server passed it (the client's SDK and the gateway
// order it differently); it is compared with its keys sorted. Its contents still count,
// except PORT: over HTTP each run has its own server process, on its own port.
func sortEnvironment(transcript any) {
	top, _ := transcript.(map[string]any)
	for _, op := range asSlice(top["ops"]) {
		o, _ := op.(map[string]any)
		if o == nil || o["name"] != "tools/call get-env" {
			continue
		}
		resp, _ := o["response"].(map[string]any)
		result, _ := resp["result"].(map[string]any)
		for _, c := range asSlice(result["content"]) {
			cm, _ := c.(map[string]any)
			if s, ok := cm["text"].(string); ok {
				if env, err := decode([]byte(s)); err == nil {
					if m, ok := env.(map[string]any); ok && m["PORT"] != nil {
						m["PORT"] = "<port>"
					}
					cm["text"] = compact(env)
				}
			}
		}
	}
}

// renumberServerRequests: the id of a request the server side sends the client (roots/list,
// sampling, elicitation) is chosen by whoever sends it on that hop, so through the gateway it
// is the gateway's counter. Within each op, and within what arrived outside any op, each such
// id and the client's reply to it become the request's ordinal there ("<server request 2>"),
// so one request missing on one side does not renumber every later one.
func renumberServerRequests(transcript any) {
	top, _ := transcript.(map[string]any)
	for _, op := range asSlice(top["ops"]) {
		o, _ := op.(map[string]any)
		if o == nil {
			continue
		}
		n := ordinals()
		for _, m := range asSlice(o["received"]) {
			n.fix(m, true)
		}
		for _, m := range asSlice(o["replies"]) {
			n.fix(m, false)
		}
	}
	n := ordinals()
	for _, e := range asSlice(top["outside"]) {
		if em, ok := e.(map[string]any); ok {
			n.fix(em["message"], true)
			n.fix(em["reply"], false)
		}
	}
}

// ordinal numbers request ids in order of first appearance.
type ordinal map[string]string

func ordinals() ordinal { return ordinal{} }

// fix renumbers m's id if m is a request (isRequest) or a reply (not).
func (o ordinal) fix(m any, isRequest bool) {
	mm, _ := m.(map[string]any)
	id, hasID := mm["id"]
	if !hasID {
		return
	}
	if _, hasMethod := mm["method"]; hasMethod != isRequest {
		return
	}
	key := compact(id)
	if _, ok := o[key]; !ok {
		o[key] = "<server request " + strconv.Itoa(len(o)+1) + ">"
	}
	mm["id"] = o[key]
}

func walk(v any) any {
	switch x := v.(type) {
	case map[string]any:
		if meta, ok := x["_meta"].(map[string]any); ok {
			removed := false
			for _, k := range gatewayMetaKeys {
				if _, ok := meta[k]; ok {
					delete(meta, k)
					removed = true
				}
			}
			// A `_meta` that held only the gateway's keys was added by the gateway; an empty
			// one the upstream sent stays, so dropping it still shows.
			if removed && len(meta) == 0 {
				delete(x, "_meta")
			}
		}
		if x["method"] == "notifications/message" {
			if p, ok := x["params"].(map[string]any); ok {
				if d, ok := p["data"].(string); ok && simulatedLogRule.MatchString(d) {
					p["level"], p["data"] = "<random level>", "<simulated log message of that level>"
				}
			}
		}
		for k, e := range x {
			switch s, isString := e.(string); {
			case isString && timeKeys[k]:
				x[k] = "<time>"
			case isString && randomKeys[k]:
				x[k] = "<random id>"
			case isString && k == "blob":
				x[k] = blob(s)
			default:
				x[k] = walk(e)
			}
		}
		return x
	case []any:
		for i, e := range x {
			x[i] = walk(e)
		}
		return x
	case string:
		return text(x)
	}
	return v
}

func text(s string) string {
	s = uuidRule.ReplaceAllString(s, "<uuid>")
	s = taskIDRule.ReplaceAllString(s, "<random id>")
	return timeOfDayRule.ReplaceAllString(s, "<time of day>")
}

// blob: a base64 blob whose content is text with a time of day in it (server-everything's
// dynamic blob resources) is compared as that text, normalised; any other blob as it is.
func blob(s string) string {
	raw, err := base64.StdEncoding.DecodeString(s)
	if err != nil || !utf8.Valid(raw) || !timeOfDayRule.Match(raw) {
		return s
	}
	return "<base64 of> " + text(string(raw))
}

func asSlice(v any) []any {
	s, _ := v.([]any)
	return s
}
