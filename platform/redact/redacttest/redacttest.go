// Package redacttest is a corpus of secrets as people paste them, one class per case, and
// of ordinary text that must survive redaction, shared by the tests of package redact and of
// every service that stores what it was sent.
//
// Credentials are assembled from pieces so that secret scanners do not flag this file, and
// the key material is generated at start-up; none of it is a real credential.
package redacttest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"strings"
)

// Case is one class of secret in the shape it arrives in: Text is one string, List the
// elements of one list (a key pasted line by line, a flag and its value as two arguments).
// Secrets are the parts that must not survive, in whole or in part (see Leaks).
type Case struct {
	Class   string
	Text    string
	List    []string
	Secrets []string
}

// Strings returns the case's strings: Text, or the elements of List.
func (c Case) Strings() []string {
	if c.List != nil {
		return c.List
	}
	return []string{c.Text}
}

// Window is the length of the pieces of a secret that Leaks looks for: a partly masked
// secret leaks, and a string of this length is long enough not to occur in the context
// around it.
const Window = 12

// Leaks reports which pieces of secret occur in b: the whole secret when it is shorter than
// two windows, otherwise every Window-long tile of it and its last Window bytes, so that any
// surviving run of 2*Window-1 bytes of the secret is found.
func Leaks(b []byte, secret string) []string {
	var found []string
	for _, p := range Pieces(secret) {
		if strings.Contains(string(b), p) {
			found = append(found, p)
		}
	}
	return found
}

// Pieces are the substrings of secret that Leaks looks for.
func Pieces(secret string) []string {
	if len(secret) < 2*Window {
		return []string{secret}
	}
	var out []string
	for i := 0; i+Window <= len(secret); i += Window {
		out = append(out, secret[i:i+Window])
	}
	return append(out, secret[len(secret)-Window:])
}

// generatedKeys are private keys made for one corpus, in the encodings people paste.
type generatedKeys struct {
	rsaPKCS1, ecSEC1, ecPKCS8 string
}

func genKeys() generatedKeys {
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	ek, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	sec1, err := x509.MarshalECPrivateKey(ek)
	if err != nil {
		panic(err)
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(ek)
	if err != nil {
		panic(err)
	}
	return generatedKeys{
		rsaPKCS1: string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rk)})),
		ecSEC1:   string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: sec1})),
		ecPKCS8:  string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8})),
	}
}

// armored wraps random bytes (after a fixed prefix) the way a key of typ is pasted:
// base64 in lines of width, between its header and footer; extra goes after the header.
func armored(typ, prefix string, n, width int, extra string) string {
	body := base64.StdEncoding.EncodeToString(append([]byte(prefix), random(n)...))
	var s strings.Builder
	s.WriteString("-----BEGIN " + typ + "-----\n" + extra)
	for len(body) > width {
		s.WriteString(body[:width] + "\n")
		body = body[width:]
	}
	s.WriteString(body + "\n-----END " + typ + "-----\n")
	return s.String()
}

func random(n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return b
}

// body returns the lines of a PEM text between its header and footer; they are the secret.
func body(text string) []string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if l != "" && !strings.HasPrefix(l, "----") && !strings.Contains(l, ": ") {
			out = append(out, l)
		}
	}
	return out
}
