package rtpvp8

import (
	"bytes"
	"slices"
	"testing"

	"github.com/pion/rtp"
)

// cases is the one table of VP8-over-RTP cases. Each is a frame and its
// payloads: what quicast's Packetizer makes of the frame at maxPayload
// (own), or what another sender may send (RFC 7741 allows several
// descriptors). The packetize test, the reassembly test, the keyframe test
// and the fuzz seeds all come from it.
var cases = []struct {
	name       string
	frame      []byte // nil: the payloads make no frame
	maxPayload int
	own        bool // made by our Packetizer (checked byte for byte)
	keyframe   bool
	payloads   [][]byte
}{
	// Ours: X; I, L, T; M and the 15-bit picture ID; TL0PICIDX (a
	// reference frame's one more than the last); TID 0.
	{name: "keyframe, one packet", own: true, keyframe: true, maxPayload: 100,
		frame:    []byte{0x50, 1, 2, 3},
		payloads: [][]byte{{0x90, 0xe0, 0x80, 0x00, 0x01, 0x00, 0x50, 1, 2, 3}}},
	{name: "delta frame, one packet", own: true, maxPayload: 100,
		frame:    []byte{0x51, 9},
		payloads: [][]byte{{0x90, 0xe0, 0x80, 0x00, 0x01, 0x00, 0x51, 9}}},
	{name: "keyframe in three packets of nearly the same size", own: true, keyframe: true, maxPayload: 10,
		frame: []byte{0x50, 1, 2, 3, 4, 5, 6, 7, 8},
		payloads: [][]byte{
			{0x90, 0xe0, 0x80, 0x00, 0x01, 0x00, 0x50, 1, 2},
			{0x80, 0xe0, 0x80, 0x00, 0x01, 0x00, 3, 4, 5},
			{0x80, 0xe0, 0x80, 0x00, 0x01, 0x00, 6, 7, 8}}},
	{name: "no room for data", own: true, maxPayload: DescriptorSize,
		frame: []byte{0x50, 1}},
	{name: "another sender: no extension", keyframe: true,
		frame:    []byte{0x50, 7},
		payloads: [][]byte{{0x10, 0x50, 7}}},
	{name: "another sender: 7-bit picture ID, delta frame",
		frame:    []byte{0x51, 1},
		payloads: [][]byte{{0x90, 0x80, 0x05, 0x51, 1}}},
	{name: "another sender: picture ID, TL0PICIDX and TID", keyframe: true,
		frame:    []byte{0x50, 1},
		payloads: [][]byte{{0x90, 0xe0, 0x05, 0x01, 0x00, 0x50, 1}}},
	{name: "another sender: two packets without extension", keyframe: true,
		frame:    []byte{0x50, 1, 2},
		payloads: [][]byte{{0x10, 0x50, 1}, {0x00, 2}}},
	{name: "partition 1 is not a frame start",
		payloads: [][]byte{{0x11, 0x50}}},
	{name: "truncated extension",
		payloads: [][]byte{{0x90, 0x80}}},
	{name: "empty payload",
		payloads: [][]byte{{}}},
}

// packets wraps payloads in RTP packets from sequence number seq on, the
// marker on the last.
func packets(payloads [][]byte, seq uint16, ts uint32) [][]byte {
	var out [][]byte
	for i, p := range payloads {
		pkt := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: seq + uint16(i), Timestamp: ts,
			Marker: i == len(payloads)-1, SSRC: 5}, Payload: p}
		b, _ := pkt.Marshal()
		out = append(out, b)
	}
	return out
}

func TestPacketize(t *testing.T) {
	for _, c := range cases {
		if !c.own {
			continue
		}
		var p Packetizer
		got := p.Packetize(c.frame, c.maxPayload)
		if !slices.EqualFunc(got, c.payloads, bytes.Equal) {
			t.Errorf("%s: payloads\n%x, want\n%x", c.name, got, c.payloads)
		}
		for i, pl := range got {
			if len(pl) > c.maxPayload {
				t.Errorf("%s: payload %d is %d bytes, over %d", c.name, i, len(pl), c.maxPayload)
			}
		}
	}
}

// The picture ID goes up by one per frame and wraps at 15 bits.
func TestPacketizerPictureID(t *testing.T) {
	var p Packetizer
	for i := range 1<<15 + 2 {
		pl := p.Packetize([]byte{0x51}, 100)
		want := uint16(i) & 0x7fff
		if got := uint16(pl[0][2]&0x7f)<<8 | uint16(pl[0][3]); got != want || pl[0][2]&0x80 == 0 {
			t.Fatalf("frame %d: picture ID %d (M=%d), want %d as 15 bits", i, got, pl[0][2]>>7, want)
		}
	}
}

func TestReassemble(t *testing.T) {
	for _, c := range cases {
		if len(c.payloads) == 0 {
			continue
		}
		var a Assembler
		var got []Frame
		var errs int
		for _, pkt := range packets(c.payloads, 100, 3000) {
			f, ok, err := a.Push(pkt)
			if err != nil {
				errs++
			}
			if ok {
				got = append(got, Frame{Data: slices.Clone(f.Data), Timestamp: f.Timestamp, Keyframe: f.Keyframe})
			}
		}
		switch {
		case c.frame == nil && len(got) != 0:
			t.Errorf("%s: reassembled %x, want no frame", c.name, got[0].Data)
		case c.frame == nil && errs == 0:
			t.Errorf("%s: no frame and no error", c.name)
		case c.frame != nil && (len(got) != 1 || !bytes.Equal(got[0].Data, c.frame) || got[0].Keyframe != c.keyframe || got[0].Timestamp != 3000):
			t.Errorf("%s: reassembled %+v, want %x (keyframe %v)", c.name, got, c.frame, c.keyframe)
		}
	}
}

func TestKeyframeStart(t *testing.T) {
	for _, c := range cases {
		for i, p := range c.payloads {
			want := c.keyframe && i == 0 && c.frame != nil
			if got := KeyframeStart(p); got != want {
				t.Errorf("%s: payload %d: KeyframeStart = %v, want %v", c.name, i, got, want)
			}
		}
	}
}

// FuzzAssembler feeds the reassembler arbitrary packets, seeded with the
// table's: it never panics, and never returns a frame over MaxFrameBytes.
func FuzzAssembler(f *testing.F) {
	for _, c := range cases {
		for _, pkt := range packets(c.payloads, 1, 90) {
			f.Add(pkt)
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var a Assembler
		for range 3 { // the same packet again: a duplicate, a continuation
			if f, ok, _ := a.Push(b); ok && len(f.Data) > MaxFrameBytes {
				t.Fatalf("frame of %d bytes", len(f.Data))
			}
		}
	})
}

// FuzzPacketize: any frame at any payload size comes back whole.
func FuzzPacketize(f *testing.F) {
	for _, c := range cases {
		if c.own {
			f.Add(c.frame, c.maxPayload)
		}
	}
	f.Fuzz(func(t *testing.T, frame []byte, maxPayload int) {
		maxPayload = maxPayload%1500 + 1
		var p Packetizer
		pls := p.Packetize(frame, maxPayload)
		var out []byte
		for _, pl := range pls {
			if len(pl) > maxPayload {
				t.Fatalf("payload %d > %d", len(pl), maxPayload)
			}
			out = append(out, pl[DescriptorSize:]...)
		}
		if maxPayload > DescriptorSize && !bytes.Equal(out, frame) {
			t.Fatal("payloads do not make the frame again")
		}
	})
}

func vp8Packet(seq uint16, ts uint32, start, marker bool, data []byte) []byte {
	d := []byte{0x80, 0x80, 0x80, 0x01} // X, I, 15-bit picture ID
	if start {
		d[0] |= 0x10
	}
	p := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: seq, Timestamp: ts, Marker: marker, SSRC: 5},
		Payload: append(d, data...)}
	b, _ := p.Marshal()
	return b
}

func TestAssembler(t *testing.T) {
	var a Assembler
	key := append([]byte{0x50}, bytes.Repeat([]byte{1}, 10)...)
	if _, ok, _ := a.Push(vp8Packet(1, 3000, true, false, key[:5])); ok {
		t.Fatal("frame complete before the marker")
	}
	f, ok, err := a.Push(vp8Packet(2, 3000, false, true, key[5:]))
	if err != nil || !ok || !bytes.Equal(f.Data, key) || !f.Keyframe || f.Timestamp != 3000 {
		t.Fatalf("got %+v %v %v, want the keyframe", f, ok, err)
	}
	// A frame with a missing middle packet is dropped and counted.
	a.Push(vp8Packet(3, 6000, true, false, []byte{0x51, 1}))
	if _, ok, err := a.Push(vp8Packet(5, 6000, false, true, []byte{2})); ok || err != ErrLoss || a.FramesBroken != 1 {
		t.Fatalf("broken frame: ok=%v err=%v broken=%d, want ErrLoss", ok, err, a.FramesBroken)
	}
	// The next delta frame is complete but refers to the lost one.
	if _, ok, err := a.Push(vp8Packet(6, 9000, true, true, []byte{0x51, 9})); ok || err != ErrLoss {
		t.Fatalf("delta frame after a loss: ok=%v err=%v, want ErrLoss", ok, err)
	}
	// A keyframe ends it; the delta frames after it come through.
	if f, ok, err := a.Push(vp8Packet(7, 12000, true, true, []byte{0x50, 9})); !ok || err != nil || !f.Keyframe {
		t.Fatalf("keyframe after a loss: %+v %v %v", f, ok, err)
	}
	if f, ok, err := a.Push(vp8Packet(8, 15000, true, true, []byte{0x51, 9})); !ok || err != nil || f.Timestamp != 15000 {
		t.Fatalf("delta frame: %+v %v %v", f, ok, err)
	}
	// A whole frame lost between two complete ones: the next delta frame
	// cannot be decoded.
	if _, ok, err := a.Push(vp8Packet(10, 21000, true, true, []byte{0x51, 9})); ok || err != ErrLoss {
		t.Fatalf("delta frame after a lost frame: ok=%v err=%v, want ErrLoss", ok, err)
	}
	if _, _, err := a.Push([]byte{0x80}); err == nil {
		t.Error("garbage packet: no error")
	}
}

func TestAssemblerBoundsFrames(t *testing.T) {
	var a Assembler
	chunk := bytes.Repeat([]byte{1}, 1200)
	seq := uint16(0)
	a.Push(vp8Packet(seq, 3000, true, false, append([]byte{0x50}, chunk...)))
	for range MaxFrameBytes / 1200 {
		seq++
		if _, ok, _ := a.Push(vp8Packet(seq, 3000, false, false, chunk)); ok {
			t.Fatal("frame complete before the marker")
		}
	}
	seq++
	if _, ok, err := a.Push(vp8Packet(seq, 3000, false, true, chunk)); ok || err != ErrLoss {
		t.Fatalf("a frame over %d bytes: ok=%v err=%v, want dropped with ErrLoss", MaxFrameBytes, ok, err)
	}
	if cap(a.cur) > MaxFrameBytes*3/2 { // append grows by a quarter at this size
		t.Errorf("the assembler kept growing: %d bytes", cap(a.cur))
	}
	seq++
	if f, ok, err := a.Push(vp8Packet(seq, 6000, true, true, []byte{0x50, 1})); !ok || err != nil || !f.Keyframe {
		t.Fatalf("the next keyframe: %+v %v %v", f, ok, err)
	}
}

// A non-reference frame's payloads all carry the N bit, and the
// reassembled frame says so; a reference frame's carry none, and a
// keyframe is never taken for a non-reference frame.
func TestNonReference(t *testing.T) {
	var p Packetizer
	var a Assembler
	frames := []struct {
		data   []byte
		nonRef bool
		want   bool
	}{
		{[]byte{0x50, 1, 2, 3, 4, 5, 6}, false, false}, // keyframe (P bit 0)
		{[]byte{0x51, 1, 2, 3, 4, 5, 6}, true, true},
		{[]byte{0x51, 7, 8, 9, 10, 11}, false, false},
		{[]byte{0x50, 7, 8, 9, 10, 11}, true, false}, // a keyframe marked N: still a keyframe
	}
	seq := uint16(10)
	for i, fr := range frames {
		pls := p.PacketizeFrame(fr.data, DescriptorSize+3, fr.nonRef)
		if len(pls) < 2 {
			t.Fatalf("frame %d: %d payloads, want several", i, len(pls))
		}
		for j, pl := range pls {
			if NonReference(pl) != fr.nonRef {
				t.Errorf("frame %d payload %d: N bit %v, want %v", i, j, NonReference(pl), fr.nonRef)
			}
		}
		var got Frame
		var ok bool
		for _, pkt := range packets(pls, seq, uint32(3000*(i+1))) {
			f, done, err := a.Push(pkt)
			if err != nil {
				t.Fatalf("frame %d: %v", i, err)
			}
			if done {
				got, ok = f, true
			}
		}
		seq += uint16(len(pls))
		if !ok || !bytes.Equal(got.Data, fr.data) || got.NonReference != fr.want {
			t.Errorf("frame %d: reassembled %x non-reference %v (ok %v), want %x non-reference %v", i, got.Data, got.NonReference, ok, fr.data, fr.want)
		}
	}
}

// Frames of the upper temporal layer lost on the way cost nothing: the
// frames after them are delivered, no ErrLoss. A base-layer frame lost
// stops every delta frame until the next keyframe.
func TestLossOfUpperLayer(t *testing.T) {
	type frame struct {
		nonRef bool
		key    bool
	}
	// K N R N R N R N K N R
	seq := []frame{{key: true}, {nonRef: true}, {}, {nonRef: true}, {}, {nonRef: true}, {}, {nonRef: true}, {key: true}, {nonRef: true}, {}}
	type outcome struct {
		delivered bool
		loss      bool
	}
	run := func(drop func(i, pkt int) bool) []outcome {
		var p Packetizer
		var a Assembler
		out := make([]outcome, len(seq))
		sn := uint16(1)
		for i, f := range seq {
			data := []byte{0x51, byte(i), 2, 3, 4, 5, 6, 7}
			if f.key {
				data[0] = 0x50
			}
			pls := p.PacketizeFrame(data, DescriptorSize+3, f.nonRef)
			for j, pkt := range packets(pls, sn, uint32(3000*(i+1))) {
				if drop(i, j) {
					continue
				}
				got, ok, err := a.Push(pkt)
				if ok && got.Data[1] == byte(i) {
					out[i].delivered = true
				}
				if err != nil {
					out[i].loss = true
				}
			}
			sn += uint16(len(pls))
		}
		return out
	}
	check := func(name string, out []outcome, want func(i int) bool, lossAt func(i int) bool) {
		t.Helper()
		for i, o := range out {
			if o.delivered != want(i) || o.loss != lossAt(i) {
				t.Errorf("%s: frame %d (%+v): delivered %v, ErrLoss %v; want %v, %v", name, i, seq[i], o.delivered, o.loss, want(i), lossAt(i))
			}
		}
	}
	no := func(int) bool { return false }
	// Frame 3 (upper layer) lost whole, frame 5 cut in the middle.
	out := run(func(i, pkt int) bool { return i == 3 || i == 5 && pkt == 1 })
	check("upper-layer frames lost", out, func(i int) bool { return i != 3 && i != 5 }, no)
	// Frame 4 (base layer) lost whole: 5, 6 and 7 wait for the keyframe.
	out = run(func(i, pkt int) bool { return i == 4 })
	check("a base-layer frame lost", out, func(i int) bool { return i < 4 || i >= 8 }, func(i int) bool { return i >= 5 && i <= 7 })
}
