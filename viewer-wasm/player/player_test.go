package player

import (
	"testing"
	"time"
)

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
	for _, c := range []struct {
		name                 string
		audio                time.Time
		catchUp              time.Duration
		wantRender, wantDrop int
	}{
		{"at +70 ms, no catching up", t0.Add(70 * time.Millisecond), 0, 2, 2},
		{"at +70 ms, 10 ms to catch up", t0.Add(70 * time.Millisecond), 10 * time.Millisecond, 1, 1},
		{"at +70 ms, 40 ms to catch up", t0.Add(70 * time.Millisecond), 40 * time.Millisecond, 0, 0},
		{"at +40 ms: the late one is shown", t0.Add(40 * time.Millisecond), 33 * time.Millisecond, 0, 0},
		{"far behind: jump", t0.Add(200 * time.Millisecond), 33 * time.Millisecond, 3, 3},
		{"before the first frame", t0.Add(-10 * time.Millisecond), 33 * time.Millisecond, -1, 0},
		{"no audio clock: the newest", time.Time{}, 33 * time.Millisecond, 3, 3},
		{"clock an hour off: shown anyway", t0.Add(-time.Hour), 33 * time.Millisecond, 3, 3},
	} {
		if r, d := Pick(q, c.audio, 0, c.catchUp, 5*time.Second); r != c.wantRender || d != c.wantDrop {
			t.Errorf("%s: render %d drop %d, want %d, %d", c.name, r, d, c.wantRender, c.wantDrop)
		}
	}
	if r, d := Pick(nil, t0, 0, 0, time.Second); r != -1 || d != 0 {
		t.Errorf("empty queue: render %d drop %d", r, d)
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

// An Opus packet lost between two decoded ones: the outputs keep their own
// packets' timestamps, whatever the decoder stamps them with, so the
// timeline sees the gap and conceals it.
func TestDecodeQueueKeepsLostPacketsGap(t *testing.T) {
	var q DecodeQueue
	var tl AudioTimeline
	for _, ts := range []int64{0, 480, 1440} { // the packet at 960 never came
		q.Push(ts)
	}
	for range 3 {
		ts, ok := q.Pop()
		if !ok {
			t.Fatal("an output without its packet")
		}
		if g := tl.Gap(ts); g > 0 {
			tl.Add(ts-int64(g), g)
		}
		tl.Add(ts, 480)
	}
	if got, ok := tl.At(1500); !ok || got != 1500 {
		t.Errorf("the sample 1500 after the start has RTP timestamp %d (%v), want 1500: the gap was not kept", got, ok)
	}
	if _, ok := q.Pop(); ok {
		t.Error("an output popped that was never decoded")
	}
}

func TestDecodeQueueResetAndBound(t *testing.T) {
	var q DecodeQueue
	q.Push(1)
	q.Reset()
	if _, ok := q.Pop(); ok {
		t.Error("a packet left after Reset")
	}
	for i := range int64(1000) {
		q.Push(i)
	}
	first, _ := q.Pop()
	n := 1
	last := first
	for ts, ok := q.Pop(); ok; ts, ok = q.Pop() {
		if ts != last+1 {
			t.Fatalf("out of order: %d after %d", ts, last)
		}
		last = ts
		n++
	}
	if n > maxDecoding || last != 999 {
		t.Errorf("held %d packets, the last %d: want at most %d, the newest 999", n, last, maxDecoding)
	}
}
