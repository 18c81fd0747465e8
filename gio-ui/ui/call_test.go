package ui

import "testing"

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
