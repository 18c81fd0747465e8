package rtph264

import (
	"bytes"
	"errors"
	"testing"

	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"

	"github.com/quicast/quicast/protocol"
)

func nal(typ byte, n int) []byte {
	u := bytes.Repeat([]byte{0xab}, n)
	u[0] = 0x60 | typ // nal_ref_idc 3
	return u
}

func annexB(units ...[]byte) []byte {
	var b []byte
	for _, u := range units {
		b = append(append(b, 0, 0, 0, 1), u...)
	}
	return b
}

var (
	sps = []byte{0x67, 0x42, 0xc0, 0x1f, 0x8c, 0x8d, 0x40}
	pps = []byte{0x68, 0xce, 0x3c, 0x80}
)

// cases are access units as an encoder writes them (Annex B), packetized by
// pion's H264Payloader as the sender does; the reassembler must give each
// back, and the keyframe test must find the IDR ones at their first packet.
var cases = []struct {
	name     string
	au       []byte
	mtu      uint16
	keyframe bool
}{
	{"IDR with SPS and PPS, one packet each", annexB(sps, pps, nal(naluIDR, 300)), 1200, true},
	{"IDR in FU-A fragments", annexB(sps, pps, nal(naluIDR, 5000)), 1200, true},
	{"delta slice, one packet", annexB(nal(1, 200)), 1200, false},
	{"delta slice in FU-A fragments", annexB(nal(1, 3000)), 1000, false},
	{"two slices", annexB(nal(1, 100), nal(1, 100)), 1200, false},
}

func packets(t *testing.T, p *codecs.H264Payloader, au []byte, mtu uint16, seq uint16, ts uint32) [][]byte {
	t.Helper()
	pls := p.Payload(mtu, au)
	var out [][]byte
	for i, pl := range pls {
		pkt := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 102, SequenceNumber: seq + uint16(i), Timestamp: ts,
			Marker: i == len(pls)-1, SSRC: 7}, Payload: pl}
		b, err := pkt.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

func TestReassemble(t *testing.T) {
	var p codecs.H264Payloader
	var a Assembler
	seq := uint16(65530) // across the wrap
	for i, c := range cases {
		pkts := packets(t, &p, c.au, c.mtu, seq, uint32(3000*i))
		seq += uint16(len(pkts))
		var got []protocol.VideoFrame
		for j, pkt := range pkts {
			_, pl, _ := protocol.ParseRTP(pkt)
			// The first packet of an IDR access unit starts a keyframe; no
			// packet of a delta one does. (The IDR slice after the SPS and
			// PPS does too: the relay opens one group per timestamp.)
			if got := KeyframeStart(pl); j == 0 && got != c.keyframe || !c.keyframe && got {
				t.Errorf("%s: packet %d: KeyframeStart = %v", c.name, j, got)
			}
			f, ok, err := a.Push(pkt)
			if err != nil {
				t.Fatalf("%s: packet %d: %v", c.name, j, err)
			}
			if ok {
				got = append(got, protocol.VideoFrame{Data: bytes.Clone(f.Data), Timestamp: f.Timestamp, Keyframe: f.Keyframe})
			}
		}
		if len(got) != 1 || !bytes.Equal(got[0].Data, c.au) || got[0].Keyframe != c.keyframe || got[0].Timestamp != uint32(3000*i) {
			t.Errorf("%s: got %d frames (%+v), want the access unit back (keyframe %v)", c.name, len(got), got, c.keyframe)
		}
	}
}

func TestLossWaitsForIDR(t *testing.T) {
	var p codecs.H264Payloader
	var a Assembler
	push := func(pkts [][]byte) (bool, error) {
		var ok bool
		var err error
		for _, pkt := range pkts {
			var o bool
			_, o, err = a.Push(pkt)
			ok = ok || o
		}
		return ok, err
	}
	key := packets(t, &p, cases[1].au, 1200, 100, 0)
	if ok, err := push(key); !ok || err != nil {
		t.Fatalf("keyframe: %v %v", ok, err)
	}
	delta := packets(t, &p, cases[3].au, 1000, 100+uint16(len(key)), 3000)
	delete := append(append([][]byte{}, delta[:1]...), delta[2:]...) // a middle fragment lost
	if ok, err := push(delete); ok || !errors.Is(err, protocol.ErrVideoLoss) {
		t.Fatalf("access unit with a lost fragment: ok %v err %v, want ErrVideoLoss", ok, err)
	}
	next := packets(t, &p, cases[2].au, 1200, 100+uint16(len(key)+len(delta)), 6000)
	if ok, err := push(next); ok || !errors.Is(err, protocol.ErrVideoLoss) {
		t.Fatalf("delta after the loss: ok %v err %v, want ErrVideoLoss", ok, err)
	}
	key2 := packets(t, &p, cases[0].au, 1200, 100+uint16(len(key)+len(delta)+len(next)), 9000)
	if ok, err := push(key2); !ok || err != nil {
		t.Fatalf("the next IDR: ok %v err %v", ok, err)
	}
}

func TestKeyframeStartEdges(t *testing.T) {
	for _, c := range []struct {
		name string
		pl   []byte
		want bool
	}{
		{"empty", nil, false},
		{"one byte", []byte{0x67}, false},
		{"STAP-A without SPS first", []byte{0x78, 0, 2, 0x68, 0xce}, false},
		{"FU-A continuation of an IDR", []byte{0x7c, 0x05, 1}, false},
		{"FU-A start of an IDR", []byte{0x7c, 0x85, 1}, true},
		{"IDR alone", []byte{0x65, 0x88}, true},
	} {
		if got := KeyframeStart(c.pl); got != c.want {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}

func FuzzAssembler(f *testing.F) {
	var p codecs.H264Payloader
	t := &testing.T{}
	for _, c := range cases {
		for _, pkt := range packets(t, &p, c.au, c.mtu, 1, 90) {
			f.Add(pkt)
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var a Assembler
		for range 3 {
			if fr, ok, _ := a.Push(b); ok && len(fr.Data) > protocol.MaxVideoFrame {
				t.Fatalf("frame of %d bytes", len(fr.Data))
			}
		}
	})
}
