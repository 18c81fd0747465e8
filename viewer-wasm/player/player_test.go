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
