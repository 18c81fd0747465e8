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

// TestFlooding: a publisher is cut off only after floodStrikes periods in a
// row with more than the cap dropped (so more than twice the cap sent); a
// period at or under that starts the count again.
func TestFlooding(t *testing.T) {
	h := &Hub{cfg: Config{MaxPublishRate: 800_000}} // 100 kB per period
	const capBytes = 100_000
	for _, c := range []struct {
		name    string
		dropped []uint64 // per period
		cut     bool     // after the last
	}{
		{"never above", []uint64{0, 0, 0, 0}, false},
		{"a keyframe burst", []uint64{150_000, 0, 0}, false},
		{"at the cap", []uint64{capBytes, capBytes, capBytes, capBytes}, false},
		{"two periods", []uint64{capBytes + 1, capBytes + 1}, false},
		{"three periods", []uint64{capBytes + 1, capBytes + 1, capBytes + 1}, true},
		{"interrupted", []uint64{200_000, 200_000, 50_000, 200_000, 200_000}, false},
		{"interrupted, then three", []uint64{200_000, 200_000, 0, 200_000, 200_000, 200_000}, true},
	} {
		p := &publisher{}
		var cut bool
		for _, d := range c.dropped {
			p.floodBytes.Store(d)
			cut = h.flooding(p)
		}
		if cut != c.cut {
			t.Errorf("%s: cut off %v, want %v", c.name, cut, c.cut)
		}
		if p.floodBytes.Load() != 0 {
			t.Errorf("%s: the dropped bytes were not taken", c.name)
		}
	}
}
