package upstream

import (
	"reflect"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
)

// decodeMessage reads what jsonrpc.DecodeMessage reads, the same way.
func TestDecodeMessageAsTheSDK(t *testing.T) {
	for _, in := range []string{
		`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"b":null,"a":[false]}}`,
		`{"jsonrpc":"2.0","id":"s-1","method":"roots/list"}`,
		`{"jsonrpc":"2.0","method":"notifications/message","params":{"x": 1}}`,
		`{"jsonrpc":"2.0","method":"","params":null}`,
		`{"params":{},"method":"m","jsonrpc":"2.0","id":7}`,
		`{"jsonrpc":"2.0","id":3,"result":{"z":1, "a":{"k":null}}}`,
		`{"jsonrpc":"2.0","id":3,"result":null}`,
		`{"jsonrpc":"2.0","id":"x","error":{"code":-32042,"message":"m","data":{"b":[1,null],"a":false}}}`,
		`{"jsonrpc":"2.0","id":4,"error":{"code":-1,"message":""}}`,
		`{"jsonrpc":"1.0","id":1,"result":{}}`,
		`{"jsonrpc":"2.0","result":{}}`,
		`{"jsonrpc":"2.0","id":true,"result":{}}`,
		`{"jsonrpc":"2.0","id":1,"result":{}`,
		`[]`,
	} {
		want, wantErr := jsonrpc.DecodeMessage([]byte(in))
		got, err := decodeMessage([]byte(in))
		if (err != nil) != (wantErr != nil) {
			t.Errorf("%s: error %v, the SDK's %v", in, err, wantErr)
			continue
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s:\n got %#v\nwant %#v", in, got, want)
		}
	}
}
