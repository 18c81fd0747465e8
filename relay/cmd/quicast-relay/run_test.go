package main

import (
	"bytes"
	"context"
	"errors"
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

func TestManageUsersAndStreams(t *testing.T) {
	dir := t.TempDir()
	must := func(stdin string, args ...string) string {
		t.Helper()
		out, err := runOut(t, stdin, append([]string{"-data", dir}, args...)...)
		if err != nil {
			t.Fatalf("%v: %v\n%s", args, err, out)
		}
		return out
	}
	must("password one\n", "user", "add", "alice")
	must("password two\n", "user", "add", "bob")
	if _, err := runOut(t, "short\n", "-data", dir, "user", "add", "carol"); !errors.Is(err, store.ErrShortPassword) {
		t.Errorf("short password: %v", err)
	}
	if got := must("", "user", "list"); got != "alice\nbob\n" {
		t.Errorf("user list = %q", got)
	}
	must("password three\n", "user", "passwd", "alice")
	must("", "user", "remove", "bob")
	if _, err := runOut(t, "", "-data", dir, "user", "remove", "bob"); !errors.Is(err, store.ErrNoUser) {
		t.Errorf("removing twice: %v", err)
	}
	st, _ := store.Open(dir)
	if err := st.CheckPassword("alice", "password three"); err != nil {
		t.Errorf("new password: %v", err)
	}
	if st.UserExists("bob") {
		t.Error("bob still there")
	}

	lastLine := func(s string) string { l := strings.Split(strings.TrimSpace(s), "\n"); return l[len(l)-1] }
	old := lastLine(must("", "stream", "add", "class"))
	must("", "stream", "add", "lab")
	if got := must("", "stream", "list"); got != "class\nlab\n" {
		t.Errorf("stream list = %q", got)
	}
	key := lastLine(must("", "stream", "rekey", "class"))
	if _, err := st.CheckPublishKey("class", old); err == nil {
		t.Error("the old key still publishes")
	}
	if _, err := st.CheckPublishKey("class", key); err != nil {
		t.Errorf("the printed new key: %v", err)
	}
	must("", "stream", "remove", "lab")
	if st.HasStream("lab") {
		t.Error("lab still there")
	}
	must("", "room", "add", "team")
	if got := must("", "room", "list"); got != "team\n" {
		t.Errorf("room list = %q", got)
	}
	if !st.HasStream("team.alice") {
		t.Error("alice's stream in room team: not there")
	}
	must("", "room", "remove", "team")
	if st.HasRoom("team") || st.HasStream("team.alice") {
		t.Error("room team still there")
	}
	for _, bad := range [][]string{{"stream", "rekey", "nope"}, {"stream", "frob", "x"}, {"user", "list", "x"},
		{"room", "add", "a.b"}, {"room", "remove", "nope"}} {
		if _, err := runOut(t, "", append([]string{"-data", dir}, bad...)...); err == nil {
			t.Errorf("%v succeeded", bad)
		}
	}
}
