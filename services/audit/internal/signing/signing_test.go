package signing

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/note"
)

func TestKeygenWritesAKeyPairThatSignsAndVerifies(t *testing.T) {
	dir := t.TempDir()
	var out, errb bytes.Buffer
	if code := KeygenMain([]string{"--out", dir}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	printed := strings.TrimSpace(out.String())
	keyPath, pubPath := filepath.Join(dir, DefaultName+".key"), filepath.Join(dir, DefaultName+".pub")
	info, err := os.Stat(keyPath)
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %#o, want 0600", info.Mode().Perm())
	}
	pub, err := os.ReadFile(pubPath)
	if err != nil {
		t.Fatal(err)
	}
	if strings.TrimSpace(string(pub)) != printed {
		t.Fatalf(".pub holds %q, keygen printed %q", pub, printed)
	}

	s, vkey, err := LoadSigner(keyPath)
	if err != nil {
		t.Fatal(err)
	}
	if vkey != printed || s.Name() != DefaultName {
		t.Fatalf("LoadSigner: name %q, verifier key %q; want %q, %q", s.Name(), vkey, DefaultName, printed)
	}
	msg, err := SignCheckpoint(s, 42, bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	v, err := note.NewVerifier(strings.TrimSpace(string(pub)))
	if err != nil {
		t.Fatal(err)
	}
	n, err := note.Open(msg, note.VerifierList(v))
	if err != nil {
		t.Fatalf("a note signed with the .key does not verify with the .pub: %v", err)
	}
	if want := "osiris-audit\n42\nBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=\n"; n.Text != want {
		t.Fatalf("checkpoint text %q, want %q", n.Text, want)
	}

	// Never overwrite: neither file changes.
	before, _ := os.ReadFile(keyPath)
	errb.Reset()
	if code := KeygenMain([]string{"--out", dir}, &out, &errb); code != 1 || !strings.Contains(errb.String(), "exists: keygen never overwrites a key") {
		t.Fatalf("second keygen: exit %d, %q", code, errb.String())
	}
	if after, _ := os.ReadFile(keyPath); !bytes.Equal(before, after) {
		t.Fatal("the key file changed")
	}
}

func TestKeygenUsage(t *testing.T) {
	for _, args := range [][]string{{}, {"--out"}, {"--out", t.TempDir(), "extra"}, {"--out", t.TempDir(), "--name", "a b"},
		{"--out", t.TempDir(), "--name", "a+b"}, {"--out", t.TempDir(), "--name", "host/log"}, {"--out", t.TempDir(), "--name", ""}, {"--bogus"}} {
		var out, errb bytes.Buffer
		if code := KeygenMain(args, &out, &errb); code != 2 || out.Len() > 0 {
			t.Errorf("%q: exit %d, stdout %q; want 2 and nothing", args, code, out.String())
		}
	}
}

func TestLoadSignerRefusesBadKeyFiles(t *testing.T) {
	dir := t.TempDir()
	if _, err := WriteKeyPair(dir, "k"); err != nil {
		t.Fatal(err)
	}
	good, _ := os.ReadFile(filepath.Join(dir, "k.key"))
	write := func(name, content string, perm os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), perm); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		name, path, want string
	}{
		{"missing", filepath.Join(dir, "nope.key"), "no such file"},
		{"group-readable", write("open.key", string(good), 0o640), "has mode 0640"},
		{"the verifier key", write("pub.key", "k+01234567+AQ==\n", 0o600), "is not a note signer key"},
		{"wrong hash", write("hash.key", strings.Replace(string(good), "+k+", "+other+", 1), 0o600), "is not a note signer key"},
		{"empty", write("empty.key", "", 0o600), "is not a note signer key"},
		{"too large", write("big.key", strings.Repeat("x", maxKeyFile+1), 0o600), "more than a key file's"},
		{"a directory", dir, "is not a regular file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.name == "a directory" {
				os.Chmod(dir, 0o700)
			}
			_, _, err := LoadSigner(tt.path)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want an error containing %q", err, tt.want)
			}
		})
	}
	if os.Getuid() != 0 { // root reads any file
		p := write("unreadable.key", string(good), 0o000)
		if _, _, err := LoadSigner(p); err == nil || !strings.Contains(err.Error(), "permission denied") {
			t.Fatalf("unreadable: %v", err)
		}
	}
}

// A key's base64 may hold '+', the separator of the key's other parts: about half of all keys do.
func TestLoadSignerReadsKeysWithPlusInTheirBase64(t *testing.T) {
	dir := t.TempDir()
	for i := 0; i < 20; i++ {
		skey, vkey, err := note.GenerateKey(nil, "k")
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(skey[strings.LastIndex(skey, "+k+")+3+9:], "+") {
			continue
		}
		p := filepath.Join(dir, "k.key")
		os.Remove(p)
		if err := os.WriteFile(p, []byte(skey+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		_, got, err := LoadSigner(p)
		if err != nil || got != vkey {
			t.Fatalf("LoadSigner(%q) = %q, %v; want %q", skey, got, err, vkey)
		}
		return
	}
	t.Fatal("no key with '+' in its base64 in 20 tries (each has about 1 - (63/64)^44 = 50% odds)")
}
