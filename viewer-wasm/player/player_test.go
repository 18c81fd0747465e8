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

// An Opus packet lost between two decoded ones: the packets keep their own
// timestamps, whatever the decoder stamps its outputs with, so the timeline
// sees the gap and the playout conceals it.
func TestAudioTimelineNextConcealsLostPackets(t *testing.T) {
	var tl AudioTimeline
	var conceal []int
	for _, ts := range []int64{0, 480, 1440} { // the packet at 960 never came
		conceal = append(conceal, tl.Next(ts, 480))
	}
	if conceal[0] != 0 || conceal[1] != 0 || conceal[2] != 480 {
		t.Errorf("concealed %v, want [0 0 480]: the lost packet's time before the third", conceal)
	}
	if got, ok := tl.At(1500); !ok || got != 1500 {
		t.Errorf("the sample 1500 after the start has RTP timestamp %d (%v), want 1500: the gap was not kept", got, ok)
	}
}

// Packets handed to a decoder that is then reset never reach the playout:
// the timeline forgets them, so the read positions after map to the
// packets that did play.
func TestAudioTimelineCut(t *testing.T) {
	var tl AudioTimeline
	tl.Next(0, 480)
	tl.Next(480, 480)
	tl.Next(1440, 480)      // 480 concealed before it
	tl.Cut(480 + 480 + 200) // the third packet, its concealment and 200 of the second
	if got, ok := tl.At(500); !ok || got != 500 {
		t.Errorf("At(500) = %d, %v after the cut: want 500, inside the second packet", got, ok)
	}
	if got, ok := tl.At(900); !ok || got != 760 {
		t.Errorf("At(900) = %d, %v after the cut: want 760, the second packet's last sample left", got, ok)
	}
	tl.Next(100_000, 480)
	if got, ok := tl.At(760 + 10); !ok || got != 100_010 {
		t.Errorf("At(770) = %d, %v: want 100010, the packet after the cut follows on at position 760", got, ok)
	}
	tl.Cut(1 << 20)
	if _, ok := tl.At(0); ok {
		t.Error("a timeline cut of everything still maps a position")
	}
}
