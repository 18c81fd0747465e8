package store

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestUsers(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(dir); fi.Mode().Perm() != 0o700 {
		t.Errorf("data dir mode %v, want 0700", fi.Mode().Perm())
	}
	if err := s.AddUser("alice", "correct horse"); err != nil {
		t.Fatal(err)
	}
	if err := s.AddUser("alice", "xxxxxxxxxx"); !errors.Is(err, ErrExists) {
		t.Errorf("duplicate user: %v", err)
	}
	if err := s.AddUser("bob", ""); !errors.Is(err, ErrEmptyPassword) {
		t.Errorf("empty password: %v", err)
	}
	if err := s.AddUser("a b", "xxxxxxxxxx"); !errors.Is(err, ErrBadName) {
		t.Errorf("bad name: %v", err)
	}
	// Reopened, as after a restart.
	s, err = Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CheckPassword("alice", "correct horse"); err != nil {
		t.Errorf("right password: %v", err)
	}
	for _, c := range [][2]string{{"alice", "wrong"}, {"alice", ""}, {"nobody", "correct horse"}} {
		if err := s.CheckPassword(c[0], c[1]); err != ErrBadCredentials {
			t.Errorf("CheckPassword(%q, %q) = %v, want ErrBadCredentials", c[0], c[1], err)
		}
	}
	b, _ := os.ReadFile(filepath.Join(dir, usersFile))
	if strings.Contains(string(b), "correct horse") || !strings.Contains(string(b), "$argon2id$v=19$") {
		t.Errorf("users file does not hold an argon2id hash only:\n%s", b)
	}
}

func TestStreams(t *testing.T) {
	dir := t.TempDir()
	s, _ := Open(dir)
	key, err := s.AddStream("demo")
	if err != nil {
		t.Fatal(err)
	}
	if len(key) != 43 {
		t.Errorf("key %q: %d characters, want 43", key, len(key))
	}
	if _, err := s.AddStream("demo"); !errors.Is(err, ErrExists) {
		t.Errorf("duplicate stream: %v", err)
	}
	if _, err := s.AddStream("../etc"); !errors.Is(err, ErrBadName) {
		t.Errorf("bad stream name: %v", err)
	}
	s, _ = Open(dir)
	if _, err := s.CheckPublishKey("demo", key); err != nil {
		t.Errorf("right key: %v", err)
	}
	if _, err := s.CheckPublishKey("demo", key+"x"); err != ErrBadPublishKey {
		t.Errorf("wrong key: %v", err)
	}
	if _, err := s.CheckPublishKey("nope", key); !errors.Is(err, ErrNoStream) {
		t.Errorf("unknown stream: %v", err)
	}
	if got := s.Streams(); len(got) != 1 || got[0] != "demo" {
		t.Errorf("Streams() = %v", got)
	}
	b, _ := os.ReadFile(filepath.Join(dir, streamsFile))
	if strings.Contains(string(b), key) {
		t.Error("streams file holds the publish key in clear")
	}
	k1 := s.TicketKey()
	s2, _ := Open(dir)
	if string(s2.TicketKey()) != string(k1) || len(k1) != 32 {
		t.Error("ticket key not persisted")
	}
}

func TestCorruptFiles(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, usersFile), []byte("{not json"), 0o600)
	if _, err := Open(dir); err == nil || !strings.Contains(err.Error(), usersFile) {
		t.Errorf("corrupt users file: %v", err)
	}
	dir = t.TempDir()
	os.WriteFile(filepath.Join(dir, ticketKeyFile), []byte("short"), 0o600)
	if _, err := Open(dir); err == nil {
		t.Error("short ticket key: no error")
	}
}

// TestNullFiles: a users or streams file holding JSON null (an editor, a
// script) is an empty one, not a crash on the next change.
func TestNullFiles(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{usersFile, streamsFile, sessionsFile} {
		os.WriteFile(filepath.Join(dir, f), []byte("null\n"), 0o600)
	}
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.AddUser("alice", "a long passphrase"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AddStream("demo"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.NewSession("alice", time.Now(), time.Hour); err != nil {
		t.Fatal(err)
	}
}

// TestSessionsPerUser: one account logging in again and again ends its own
// oldest sessions, not everyone's chance to log in.
func TestSessionsPerUser(t *testing.T) {
	s := openWithUsers(t, t.TempDir(), "alice", "bob")
	now := time.Unix(1_800_000_000, 0)
	bob, err := s.NewSession("bob", now, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	var alice []string
	for i := range MaxUserSessions + 5 {
		tok, err := s.NewSession("alice", now.Add(time.Duration(i)*time.Second), time.Hour)
		if err != nil {
			t.Fatalf("login %d: %v", i, err)
		}
		alice = append(alice, tok)
	}
	at := now.Add(time.Minute)
	for i, tok := range alice {
		_, ok := s.SessionUser(tok, at)
		if want := i >= 5; ok != want {
			t.Errorf("alice's session %d valid: %v, want %v", i, ok, want)
		}
	}
	if _, ok := s.SessionUser(bob, at); !ok {
		t.Error("alice's logins ended bob's session")
	}
}

func FuzzParseHash(f *testing.F) {
	f.Add(hashPassword("pw", argon2Params{Memory: 8, Time: 1, Threads: 1, KeyLen: 16}))
	f.Add("$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA")
	f.Add("$argon2i$v=19$m=1,t=1,p=1$$")
	f.Fuzz(func(t *testing.T, s string) {
		p, salt, hash, err := parseHash(s)
		if err != nil {
			return
		}
		if p.Memory > 1<<21 || p.Time > 16 || p.Threads == 0 || len(salt) < 8 || int(p.KeyLen) != len(hash) {
			t.Fatalf("accepted out-of-range hash %q: %+v", s, p)
		}
	})
}

// A stream or user added by another process (the CLI while the relay runs)
// is seen without a restart.
func TestSeesChangesByAnotherProcess(t *testing.T) {
	dir := t.TempDir()
	relay, _ := Open(dir)
	cli, _ := Open(dir)
	key, err := cli.AddStream("late")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := relay.CheckPublishKey("late", key); err != nil {
		t.Errorf("relay does not see the new stream: %v", err)
	}
	if err := cli.AddUser("bob", "pw-of-bob"); err != nil {
		t.Fatal(err)
	}
	if err := relay.CheckPassword("bob", "pw-of-bob"); err != nil {
		t.Errorf("relay does not see the new user: %v", err)
	}
	// The relay's own additions merge with the CLI's.
	if _, err := relay.AddStream("mine"); err != nil {
		t.Fatal(err)
	}
	if got := cli.Streams(); len(got) != 2 {
		t.Errorf("streams = %v, want late and mine", got)
	}
}

// Login sessions outlive the process that made them (a relay restart) and
// end on logout, on a new password and when the user is removed — also
// when another process (the command line) does it.
func TestSessions(t *testing.T) {
	dir := t.TempDir()
	s := openWithUsers(t, dir, "alice", "bob")
	now := time.Unix(1_800_000_000, 0)
	open := func(u string) string {
		tok, err := s.NewSession(u, now, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	a1, a2, b1 := open("alice"), open("alice"), open("bob")
	if _, err := s.NewSession("carol", now, time.Hour); !errors.Is(err, ErrNoUser) {
		t.Errorf("session for an unknown user: %v", err)
	}

	restarted, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if u, ok := restarted.SessionUser(a1, now.Add(time.Minute)); !ok || u != "alice" {
		t.Errorf("after a restart: %q, %v", u, ok)
	}
	if _, ok := restarted.SessionUser(a1, now.Add(time.Hour)); ok {
		t.Error("expired session accepted")
	}
	if _, ok := restarted.SessionUser(a1+"x", now); ok {
		t.Error("forged cookie accepted")
	}
	b, _ := os.ReadFile(filepath.Join(dir, sessionsFile))
	if strings.Contains(string(b), a1) {
		t.Error("the sessions file holds a usable cookie")
	}

	if err := restarted.EndSession(a1); err != nil {
		t.Fatal(err)
	}
	if _, ok := s.SessionUser(a1, now); ok {
		t.Error("logged-out session accepted by the other process")
	}
	if _, ok := s.SessionUser(a2, now); !ok {
		t.Error("logging out one session ended another")
	}
	cli, _ := Open(dir)
	if err := cli.SetPassword("alice", "a new password"); err != nil {
		t.Fatal(err)
	}
	if _, ok := s.SessionUser(a2, now); ok {
		t.Error("session survived a new password")
	}
	if err := s.CheckPassword("alice", "a new password"); err != nil {
		t.Errorf("new password: %v", err)
	}
	if err := cli.RemoveUser("bob"); err != nil {
		t.Fatal(err)
	}
	if _, ok := s.SessionUser(b1, now); ok || s.UserExists("bob") {
		t.Error("removed user still logged in")
	}
	if err := cli.RemoveUser("bob"); !errors.Is(err, ErrNoUser) {
		t.Errorf("removing twice: %v", err)
	}
	if err := cli.SetPassword("alice", "short"); !errors.Is(err, ErrShortPassword) {
		t.Errorf("short password: %v", err)
	}
}

func TestRekeyAndRemoveStream(t *testing.T) {
	dir := t.TempDir()
	s, _ := Open(dir)
	old, err := s.AddStream("demo")
	if err != nil {
		t.Fatal(err)
	}
	id, _ := s.StreamKey("demo")
	cli, _ := Open(dir)
	key, err := cli.Rekey("demo")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.CheckPublishKey("demo", old); !errors.Is(err, ErrBadPublishKey) {
		t.Errorf("old key after rekey: %v", err)
	}
	newID, err := s.CheckPublishKey("demo", key)
	if err != nil || newID == id {
		t.Errorf("new key: id %q (was %q), %v", newID, id, err)
	}
	if err := cli.RemoveStream("demo"); err != nil {
		t.Fatal(err)
	}
	if _, ok := s.StreamKey("demo"); ok {
		t.Error("removed stream still there")
	}
	if _, err := cli.Rekey("demo"); !errors.Is(err, ErrNoStream) {
		t.Errorf("rekey of a removed stream: %v", err)
	}
}

// openWithUsers opens the store in dir with users whose passwords are
// "password of NAME".
func openWithUsers(t *testing.T, dir string, users ...string) *Store {
	t.Helper()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range users {
		if err := s.AddUser(u, "password of "+u); err != nil {
			t.Fatal(err)
		}
	}
	return s
}
