package relay

import (
	"context"
	"net"
	"testing"
	"testing/synctest"

	"github.com/quic-go/quic-go"
)

// TestQUICAdmission: the per-address cap applies to remote addresses, not
// to this machine's (loopback); a connection's place is freed when its
// context ends.
func TestQUICAdmission(t *testing.T) { synctest.Test(t, testQUICAdmission) }

func testQUICAdmission(t *testing.T) {
	a := newQUICAdmission(quicLimits{perIP: 2, total: 10, handshakesSec: 1})
	admit := func(ip string) (context.CancelFunc, error) {
		ctx, cancel := context.WithCancel(context.Background())
		_, err := a.connContext(ctx, &quic.ClientInfo{RemoteAddr: &net.UDPAddr{IP: net.ParseIP(ip), Port: 4000}})
		return cancel, err
	}
	first, err := admit("192.0.2.1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := admit("192.0.2.1"); err != nil {
		t.Fatal(err)
	}
	if _, err := admit("192.0.2.1"); err == nil {
		t.Error("a third connection from 192.0.2.1 was admitted")
	}
	if _, err := admit("192.0.2.2"); err != nil {
		t.Errorf("another address: %v", err)
	}
	for i := range 3 {
		if _, err := admit("127.0.0.1"); err != nil {
			t.Errorf("loopback connection %d: %v", i, err)
		}
	}
	first()
	synctest.Wait() // the place is given back by the context's AfterFunc
	if _, n := a.open("192.0.2.1"); n != 1 {
		t.Fatalf("a closed connection's place was not freed: %d open from 192.0.2.1", n)
	}
	if _, err := admit("192.0.2.1"); err != nil {
		t.Errorf("after one closed: %v", err)
	}
	if n := a.refused.Load(); n != 1 {
		t.Errorf("%d refused, want 1", n)
	}
	// Handshakes beyond the budget (1/s, burst 3) must validate their address.
	retries := 0
	for range 10 {
		if a.verifySourceAddress(&net.UDPAddr{}) {
			retries++
		}
	}
	if retries < 5 || a.retried.Load() != uint64(retries) {
		t.Errorf("%d of 10 handshakes in one instant sent to Retry (counted %d), want most", retries, a.retried.Load())
	}
}
