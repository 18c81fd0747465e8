package ui

import (
	"testing"
	"time"
)

func TestPictureWidth(t *testing.T) {
	var c call
	for _, s := range []struct{ drawn, want int }{
		{0, maxPictureWidth},    // not drawn yet: the largest
		{1280, maxPictureWidth}, // a huge picture box: no more than the largest
		{250, 250},              // a tile of a grid: its size
		{40, minPictureWidth},   // a tiny tile: no less than the smallest
	} {
		c.setDrawnWidth(s.drawn)
		if got := c.pictureWidth(); got != s.want {
			t.Errorf("drawn %d px wide: pictures converted %d wide, want %d", s.drawn, got, s.want)
		}
	}
}

// A party whose session stops bringing anything is said to be silent once
// silentAfter has passed, and no longer as soon as something comes; a
// session that has brought nothing yet is waiting, not silent.
func TestPartySilence(t *testing.T) {
	var p party
	t0 := time.Unix(1000, 0)
	for _, s := range []struct {
		at    time.Duration
		bytes uint64
		want  time.Duration
	}{
		{0, 0, 0},                            // nothing yet: waiting
		{10 * time.Second, 0, 0},             // still nothing: still waiting
		{11 * time.Second, 500, 0},           // it begins
		{12 * time.Second, 900, 0},           // and goes on
		{14 * time.Second, 900, 0},           // 2 s without: not yet
		{15 * time.Second, 900, silentAfter}, // 3 s without
		{21 * time.Second, 900, 9 * time.Second},
		{22 * time.Second, 1200, 0}, // back
		{24 * time.Second, 1200, 0},
		{25 * time.Second, 100, 0},           // a new session's count
		{28 * time.Second, 100, silentAfter}, // which stopped too
	} {
		if got := p.silence(s.bytes, t0.Add(s.at)); got != s.want {
			t.Errorf("at %v with %d bytes: silent %v, want %v", s.at, s.bytes, got, s.want)
		}
	}
}
