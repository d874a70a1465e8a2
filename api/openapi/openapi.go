// Package openapi serves the OpenAPI (Swagger 2.0) documents generated from the protos.
package openapi

import (
	"embed"
	"fmt"
)

//go:embed osiris
var docs embed.FS

// Document returns the OpenAPI document of one service, named as in its proto path
// ("audit", "session", "telemetry", "cache").
func Document(service string) ([]byte, error) {
	b, err := docs.ReadFile(fmt.Sprintf("osiris/%s/v1/%s.swagger.json", service, service))
	if err != nil {
		return nil, fmt.Errorf("no OpenAPI document for service %q: %w", service, err)
	}
	return b, nil
}
