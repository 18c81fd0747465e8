package relay

import (
	"bytes"
	"net"
	"sync"
	"testing"

	"golang.org/x/net/ipv4"
)

// TestDemuxReadBatch sends RTP, RTCP and QUIC-like datagrams interleaved to
// the demultiplexed socket: the ingest gets exactly the RTP/RTCP ones, the
// batch reader exactly the others, in order, with their own bytes and
// control data in each message's own buffers.
func TestDemuxReadBatch(t *testing.T) {
	sock, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer sock.Close()
	var mu sync.Mutex
	var ingested [][]byte
	c := newDemuxConn(sock, func(b []byte, _ net.Addr) {
		mu.Lock()
		ingested = append(ingested, bytes.Clone(b))
		mu.Unlock()
	})
	// quic-go asks for packet info and ECN on its socket: control data
	// must follow the datagram it belongs to.
	if err := ipv4.NewPacketConn(sock).SetControlMessage(ipv4.FlagTTL, true); err != nil {
		t.Fatal(err)
	}

	client, err := net.DialUDP("udp", nil, sock.LocalAddr().(*net.UDPAddr))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	var wantQUIC, wantRTP [][]byte
	for i := range 40 {
		var d []byte
		switch i % 4 {
		case 0, 1: // RTP (version 2: 0x80), RTCP (0x81 … 0xbf)
			d = []byte{0x80 | byte(i%2), byte(i), 1, 2, 3}
			wantRTP = append(wantRTP, d)
		case 2: // QUIC long header
			d = []byte{0xc0, byte(i), 9, 9}
			wantQUIC = append(wantQUIC, d)
		case 3: // QUIC short header
			d = []byte{0x40, byte(i), 7}
			wantQUIC = append(wantQUIC, d)
		}
		if _, err := client.Write(d); err != nil {
			t.Fatal(err)
		}
	}

	ms := make([]ipv4.Message, 8)
	for i := range ms {
		ms[i].Buffers = [][]byte{make([]byte, 1500)}
		ms[i].OOB = make([]byte, 128)
	}
	var got [][]byte
	for len(got) < len(wantQUIC) {
		n, err := c.ReadBatch(ms, 0)
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			t.Fatal("ReadBatch returned no datagram and no error")
		}
		for _, m := range ms[:n] {
			if m.NN == 0 {
				t.Errorf("datagram %x came without its control data", m.Buffers[0][:m.N])
			}
			if m.Addr.String() != client.LocalAddr().String() {
				t.Errorf("datagram from %v, want %v", m.Addr, client.LocalAddr())
			}
			got = append(got, bytes.Clone(m.Buffers[0][:m.N]))
		}
	}
	if !equalDatagrams(got, wantQUIC) {
		t.Errorf("quic-go got %x\nwant %x", got, wantQUIC)
	}
	mu.Lock()
	defer mu.Unlock()
	// The last datagram sent is QUIC: every RTP one was read before it.
	if !equalDatagrams(ingested, wantRTP) {
		t.Errorf("ingest got %x\nwant %x", ingested, wantRTP)
	}
}

func equalDatagrams(a, b [][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !bytes.Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}
