package upstream

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
)

// wireMessage is a JSON-RPC message as it is on the wire; params, result and error data
// stay raw.
type wireMessage struct {
	Version string          `json:"jsonrpc"`
	ID      any             `json:"id"` // float64, string or nil, as jsonrpc.MakeID takes it
	Method  *string         `json:"method"`
	Params  json.RawMessage `json:"params"`
	Result  json.RawMessage `json:"result"`
	Error   *jsonrpc.Error  `json:"error"`
}

// decodeMessage is jsonrpc.DecodeMessage for what arrives over HTTP, without its cost: the
// SDK's decoder allocates a 32 KiB buffer for every message, most of what a call costs the
// client. Params, result and error data keep the server's bytes.
func decodeMessage(data []byte) (jsonrpc.Message, error) {
	var w wireMessage
	if err := json.Unmarshal(data, &w); err != nil {
		return nil, err
	}
	if w.Version != "2.0" {
		return nil, fmt.Errorf(`"jsonrpc" is %q, not "2.0"`, w.Version)
	}
	id, err := jsonrpc.MakeID(w.ID)
	if err != nil {
		return nil, err
	}
	if w.Method != nil {
		return &jsonrpc.Request{ID: id, Method: *w.Method, Params: w.Params}, nil
	}
	if !id.IsValid() {
		return nil, errors.New("a response without an id")
	}
	r := &jsonrpc.Response{ID: id, Result: w.Result}
	if w.Error != nil {
		r.Error = w.Error
	}
	return r, nil
}
