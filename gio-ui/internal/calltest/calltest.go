// Package calltest is for the tests of calls: the other side of a call, a
// broadcast of the built-in test picture and tone.
package calltest

import (
	"crypto/tls"
	"crypto/x509"
	"os"
	"testing"

	"github.com/quicast/quicast/gio-ui/broadcast"
	"github.com/quicast/quicast/protocol"
	"github.com/quicast/quicast/protocol/watch"
	"github.com/quicast/quicast/relay/relaytest"
	"github.com/quicast/quicast/sender"
	"github.com/quicast/quicast/sender/media"
)

// Publish broadcasts the test picture (w×h at fps) and tone to stream on
// r with its publish key, until the test ends.
func Publish(t testing.TB, r *relaytest.Relay, stream, key string, w, h int, fps float64) *broadcast.Broadcast {
	t.Helper()
	b := broadcast.Start(broadcast.Config{
		PublishConfig: sender.PublishConfig{Relay: r.URL, Stream: stream, Key: key, CAFile: r.CAFile(), Takeover: true},
		Video:         media.Source{Type: media.SourceTest}, Audio: media.Source{Type: media.SourceTest},
		Options: media.Options{Width: w, Height: h, FPS: fps, VideoBitrate: 1_000_000},
	})
	t.Cleanup(b.Stop)
	return b
}

// Join logs user in on r and joins room: the stream and publish key of
// user in the room.
func Join(t testing.TB, r *relaytest.Relay, room, user, password string) protocol.RoomJoin {
	t.Helper()
	pem, err := os.ReadFile(r.CAFile())
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	c := watch.NewClient(watch.Config{Relay: r.URL, TLS: &tls.Config{RootCAs: pool}})
	if err := c.Login(t.Context(), user, password); err != nil {
		t.Fatal(err)
	}
	j, err := c.Join(t.Context(), room)
	if err != nil {
		t.Fatal(err)
	}
	return j
}
