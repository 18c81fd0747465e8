package watch_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/quicast/quicast/protocol"
	"github.com/quicast/quicast/protocol/watch"
	"github.com/quicast/quicast/relay/relaytest"
)

// A client logs in (a wrong password is refused as such), is refused a
// ticket for a stream that does not exist, and opens a session of one
// that does: the relay tells it how many watch.
func TestClient(t *testing.T) {
	r := relaytest.Start(t)
	r.AddStream(t, "demo")
	r.AddUser(t, "viewer", "watch it live")
	pem, err := os.ReadFile(r.CAFile())
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(pem)
	c := watch.NewClient(watch.Config{Relay: r.URL + "/", TLS: &tls.Config{RootCAs: roots}})
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()

	if _, err := c.Ticket(ctx, "demo"); !errors.Is(err, watch.ErrLoginNeeded) {
		t.Errorf("a ticket without logging in: %v, want ErrLoginNeeded", err)
	}
	if err := c.Login(ctx, "viewer", "not it"); !errors.Is(err, watch.ErrLogin) {
		t.Errorf("wrong password: %v, want ErrLogin", err)
	}
	if err := c.Login(ctx, "viewer", "watch it live"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Dial(ctx, "nonexistent", "test"); !errors.Is(err, watch.ErrNoStream) {
		t.Errorf("a session of a stream that does not exist: %v", err)
	}
	s, err := c.Dial(ctx, "demo", "test")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	m, err := s.ReadControl()
	if err != nil {
		t.Fatal(err)
	}
	if m.Type != protocol.MsgStats || m.Stats.Viewers != 1 {
		t.Errorf("first message %+v, want the viewer count 1", m)
	}
	s.Close()
	select {
	case <-s.Context().Done():
	case <-ctx.Done():
		t.Error("the session did not end on Close")
	}
}
