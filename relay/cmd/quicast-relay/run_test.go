package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/quicast/quicast/relay/internal/store"
)

func runOut(t *testing.T, stdin string, args ...string) (string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := run(context.Background(), args, strings.NewReader(stdin), &out, &errOut)
	return out.String() + errOut.String(), err
}

func TestUserAndStreamAdd(t *testing.T) {
	dir := t.TempDir()
	if _, err := runOut(t, "a long passphrase\n", "-data", dir, "user", "add", "alice"); err != nil {
		t.Fatal(err)
	}
	if _, err := runOut(t, "", "-data", dir, "user", "add", "bob"); err == nil || !strings.Contains(err.Error(), "stdin") {
		t.Errorf("empty password: %v", err)
	}
	out, err := runOut(t, "", "-data", dir, "stream", "add", "class")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	key := lines[len(lines)-1]
	st, err := store.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.CheckPassword("alice", "a long passphrase"); err != nil {
		t.Errorf("password: %v", err)
	}
	if _, err := st.CheckPublishKey("class", key); err != nil {
		t.Errorf("printed key %q: %v", key, err)
	}
	if _, err := runOut(t, "", "-data", dir, "stream", "add", "class"); err == nil {
		t.Error("adding a stream twice succeeded")
	}
	if _, err := runOut(t, "", "-data", dir, "stream", "add", "../x"); err == nil {
		t.Error("a stream name with a slash was accepted")
	}
	if _, err := runOut(t, "", "-data", dir, "frobnicate"); err == nil || !strings.Contains(err.Error(), "unknown command") {
		t.Errorf("unknown command: %v", err)
	}
}

// The demo credentials are generated once, then the same ones are printed.
func TestDemoCredentials(t *testing.T) {
	dir := t.TempDir()
	env := filepath.Join(t.TempDir(), "demo.env")
	first, err := runOut(t, "", "-data", dir, "demo", "-env", env)
	if err != nil {
		t.Fatal(err)
	}
	second, err := runOut(t, "", "-data", dir, "demo")
	if err != nil {
		t.Fatal(err)
	}
	if first != second || !strings.Contains(first, "demo password:") {
		t.Errorf("demo printed\n%s\nthen\n%s", first, second)
	}
	other, _ := runOut(t, "", "-data", t.TempDir(), "demo")
	if other == first {
		t.Error("two data directories got the same demo password")
	}
	fi, err := os.Stat(env)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("env file: %v %v", fi, err)
	}
	b, _ := os.ReadFile(env)
	var pw string
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "QUICAST_PASSWORD="); ok {
			pw = v
		}
	}
	st, _ := store.Open(dir)
	if err := st.CheckPassword("demo", pw); err != nil || len(pw) < 12 {
		t.Errorf("demo password %q: %v", pw, err)
	}
}
