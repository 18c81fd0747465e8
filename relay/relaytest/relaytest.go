// Package relaytest runs a real quicast relay in the test's process, on a
// loopback port, for the tests of its clients (the sender, the window).
package relaytest

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/quicast/quicast/relay"
)

// Relay is a running relay with its data directory.
type Relay struct {
	URL  string // https://127.0.0.1:PORT
	Dir  string // data directory: certificates, users, streams
	addr string

	cancel context.CancelFunc
	done   chan error
}

// Start runs a relay on 127.0.0.1 with a fresh data directory until the
// test ends.
func Start(t testing.TB) *Relay {
	t.Helper()
	r := &Relay{Dir: t.TempDir(), addr: "127.0.0.1:0"}
	r.run(t)
	t.Cleanup(r.Stop)
	return r
}

func (r *Relay) run(t testing.TB) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- relay.Run(ctx, relay.Config{Listen: r.addr, DataDir: r.Dir}, func(i relay.Info) { ready <- i.Addr })
	}()
	select {
	case a := <-ready:
		r.URL, r.addr = "https://"+a, a
		r.cancel, r.done = cancel, done
	case err := <-done:
		cancel()
		t.Fatal(err)
	}
}

// Stop shuts the relay down as Ctrl-C would (its senders and viewers are
// told) and waits until it has.
func (r *Relay) Stop() {
	if r.cancel == nil {
		return
	}
	r.cancel()
	<-r.done
	r.cancel = nil
}

// Restart starts the stopped relay again on the same address and data
// directory.
func (r *Relay) Restart(t testing.TB) {
	t.Helper()
	r.Stop()
	r.run(t)
}

// CAFile is the PEM file of the CA that signs the relay's certificates.
func (r *Relay) CAFile() string { return filepath.Join(r.Dir, "certs", "ca.pem") }

// AddStream adds a stream and returns its publish key.
func (r *Relay) AddStream(t testing.TB, name string) string {
	t.Helper()
	key, err := relay.AddStream(r.Dir, name)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

// AddUser adds a viewer account.
func (r *Relay) AddUser(t testing.TB, name, password string) {
	t.Helper()
	if err := relay.AddUser(r.Dir, name, password); err != nil {
		t.Fatal(err)
	}
}

// Rekey gives a stream a new publish key and returns it.
func (r *Relay) Rekey(t testing.TB, name string) string {
	t.Helper()
	key, err := relay.RekeyStream(r.Dir, name)
	if err != nil {
		t.Fatal(err)
	}
	return key
}
