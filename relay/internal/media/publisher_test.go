package media

import (
	"net"
	"testing"
	"time"
)

func TestLatchFollowsTheSender(t *testing.T) {
	h := &Hub{}
	p := &publisher{}
	udp := func(ip string, port int) net.Addr { return &net.UDPAddr{IP: net.ParseIP(ip), Port: port} }
	now := time.Unix(1000, 0)
	p.latch(h, udp("192.0.2.7", 5004), now)
	// The same source in a new net.Addr each packet, as sockets return it.
	p.latch(h, udp("192.0.2.7", 5004), now)
	p.latch(h, &net.UDPAddr{IP: net.IPv4(192, 0, 2, 7), Port: 5004}, now) // 16-byte form
	if n := h.c.relatches.Load(); n != 0 {
		t.Fatalf("%d relatches for one sender", n)
	}
	p.latch(h, udp("192.0.2.7", 5006), now)   // NAT rebinding: new port
	p.latch(h, udp("2001:db8::7", 5006), now) // new address
	if n := h.c.relatches.Load(); n != 2 {
		t.Errorf("%d relatches, want 2", n)
	}
	if got := p.address().String(); got != "[2001:db8::7]:5006" {
		t.Errorf("latched %s", got)
	}
	// Other address types are compared by their text.
	if !sameAddr(&net.TCPAddr{Port: 1}, &net.TCPAddr{Port: 1}) || sameAddr(&net.TCPAddr{Port: 1}, &net.TCPAddr{Port: 2}) {
		t.Error("sameAddr of TCP addresses")
	}
}
