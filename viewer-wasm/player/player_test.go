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

func TestAudioTimelineGap(t *testing.T) {
	var tl AudioTimeline
	if g := tl.Gap(1000); g != 0 {
		t.Errorf("empty timeline: gap %d", g)
	}
	tl.Add(48000, 480)
	for _, c := range []struct {
		ts   int64
		want int
	}{{48480, 0}, {48481, 0}, {48960, 480}, {48000, 0}, {48480 + MaxConcealed, MaxConcealed}, {48481 + MaxConcealed, 0}} {
		if got := tl.Gap(c.ts); got != c.want {
			t.Errorf("Gap(%d) = %d, want %d", c.ts, got, c.want)
		}
	}
}
