package player

import (
	"bytes"
	"testing"
	"time"

	"github.com/pion/rtp"
)

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
	if _, ok, _ := a.Push(vp8Packet(5, 6000, false, true, []byte{2})); ok || a.FramesBroken != 1 {
		t.Fatalf("broken frame delivered (ok=%v, broken=%d)", ok, a.FramesBroken)
	}
	// The next complete delta frame comes through.
	f, ok, _ = a.Push(vp8Packet(6, 9000, true, true, []byte{0x51, 9}))
	if !ok || f.Keyframe || f.Timestamp != 9000 {
		t.Fatalf("delta frame: %+v %v", f, ok)
	}
	if _, _, err := a.Push([]byte{0x80}); err == nil {
		t.Error("garbage packet: no error")
	}
}

func TestUnwrapper(t *testing.T) {
	var u Unwrapper
	for _, c := range []struct {
		in   uint32
		want int64
	}{{0xfffffff0, 0xfffffff0}, {0x10, 0x100000010}, {0x05, 0x100000005}, {0x20, 0x100000020}} {
		if got := u.Unwrap(c.in); got != c.want {
			t.Errorf("Unwrap(%#x) = %#x, want %#x", c.in, got, c.want)
		}
	}
}

func TestAudioTimeline(t *testing.T) {
	var tl AudioTimeline
	tl.Add(48000, 960)
	tl.Add(48960, 960)
	tl.Add(60000, 960) // after a gap in the stream
	for _, c := range []struct {
		played int64
		want   int64
	}{{0, 48000}, {100, 48100}, {960, 48960}, {1920, 60000}, {2000, 60080}} {
		if got, ok := tl.At(c.played); !ok || got != c.want {
			t.Errorf("At(%d) = %d, %v; want %d", c.played, got, ok, c.want)
		}
	}
}

func TestPick(t *testing.T) {
	t0 := time.Unix(100, 0)
	q := []Pending{{Wall: t0}, {Wall: t0.Add(33 * time.Millisecond)}, {Wall: t0.Add(66 * time.Millisecond)}, {Wall: t0.Add(99 * time.Millisecond)}}
	if r, d := Pick(q, t0.Add(70*time.Millisecond), 0, 5*time.Second); r != 2 || d != 2 {
		t.Errorf("at +70 ms: render %d drop %d, want 2, 2", r, d)
	}
	if r, _ := Pick(q, t0.Add(-10*time.Millisecond), 0, 5*time.Second); r != -1 {
		t.Errorf("before the first frame: render %d", r)
	}
	if r, d := Pick(q, time.Time{}, 0, 5*time.Second); r != 3 || d != 3 {
		t.Errorf("no audio clock: render %d drop %d, want the newest", r, d)
	}
	if r, _ := Pick(q, t0.Add(-time.Hour), 0, 5*time.Second); r != 3 {
		t.Errorf("clock an hour off: render %d, want frames shown anyway", r)
	}
}
