package ui

import (
	"image"
	"testing"
	"time"

	"gioui.org/op/paint"
)

func TestPictureWidth(t *testing.T) {
	var c call
	vga := image.Rect(0, 0, 640, 480)
	for _, s := range []struct {
		box  image.Point
		src  image.Rectangle
		want int
	}{
		{image.Pt(0, 0), vga, maxPictureWidth},       // not drawn yet: the largest
		{image.Pt(1280, 1000), vga, maxPictureWidth}, // a huge picture box: no more than the largest
		{image.Pt(250, 400), vga, 250},               // a tall tile: its width
		{image.Pt(1024, 360), vga, 480},              // a wide box: as wide as the picture fits its height
		{image.Pt(400, 150), image.Rect(0, 0, 320, 180), 266},
		{image.Pt(40, 30), vga, minPictureWidth}, // a tiny tile: no less than the smallest
		{image.Pt(300, 200), image.Rectangle{}, 300},
	} {
		c.setDrawnBox(s.box)
		if got := c.pictureWidth(s.src); got != s.want {
			t.Errorf("drawn in %v: a %v picture converted %d wide, want %d", s.box, s.src.Size(), got, s.want)
		}
	}
}

// A picture drawn at its own size needs no scaling filter; a scaled one
// is filtered linearly.
func TestPictureFilter(t *testing.T) {
	for _, s := range []struct {
		img  image.Rectangle
		box  image.Point
		want paint.ImageFilter
	}{
		{image.Rect(0, 0, 480, 360), image.Pt(480, 360), paint.FilterNearest},
		{image.Rect(0, 0, 480, 360), image.Pt(1024, 360), paint.FilterNearest}, // fits by its height, centred
		{image.Rect(0, 0, 266, 150), image.Pt(400, 152), paint.FilterNearest},  // within 3 %
		{image.Rect(0, 0, 640, 480), image.Pt(480, 360), paint.FilterLinear},   // scaled down
		{image.Rect(0, 0, 640, 480), image.Pt(1280, 960), paint.FilterLinear},  // scaled up
		{image.Rectangle{}, image.Pt(100, 100), paint.FilterLinear},
	} {
		if got := pictureFilter(s.img, s.box); got != s.want {
			t.Errorf("%v in a %v box: filter %v, want %v", s.img.Size(), s.box, got, s.want)
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

// A picture larger than its box is shrunk to fit it, each pixel the
// average of those it covers; one that fits is kept as it is.
func TestShrink(t *testing.T) {
	img := image.NewRGBA(image.Rect(10, 10, 14, 12)) // 4×2, not at the origin
	for i := range img.Pix {
		img.Pix[i] = byte(i * 8)
	}
	got := shrink(img, image.Pt(2, 2))
	if got.Bounds().Size() != image.Pt(2, 1) {
		t.Fatalf("4×2 into 2×2: %v, want 2×1", got.Bounds().Size())
	}
	// Pixel (0,0) averages source pixels (0,0), (1,0), (0,1), (1,1).
	for c := range 4 {
		want := (int(img.Pix[c]) + int(img.Pix[4+c]) + int(img.Pix[img.Stride+c]) + int(img.Pix[img.Stride+4+c])) / 4
		if int(got.Pix[c]) != want {
			t.Errorf("channel %d: %d, want %d", c, got.Pix[c], want)
		}
	}
	if shrink(img, image.Pt(8, 4)) != img || shrink(img, image.Pt(4, 2)) != img {
		t.Error("a picture that fits was copied")
	}
}

// A new self-view picture redraws the window, except in a call whose last
// frame, less than selfViewWait ago, showed the others' pictures: their
// next picture's redraw shows it.
func TestSelfViewChanged(t *testing.T) {
	now := time.Unix(1000, 0)
	redraws := 0
	u := &UI{now: func() time.Time { return now }, invalidate: func() { redraws++ }}
	for _, c := range []struct {
		name   string
		others bool
		ago    time.Duration
		redraw bool
	}{
		{"no call", false, time.Millisecond, true},
		{"theirs shown just now", true, time.Millisecond, false},
		{"theirs shown within the wait", true, selfViewWait - time.Millisecond, false},
		{"theirs stopped", true, selfViewWait, true},
		{"a call without their pictures", false, 10 * time.Millisecond, true},
	} {
		u.drewOthers.Store(c.others)
		u.drawnAt.Store(now.Add(-c.ago).UnixNano())
		before := redraws
		u.selfViewChanged()
		if got := redraws > before; got != c.redraw {
			t.Errorf("%s: redrawn %v, want %v", c.name, got, c.redraw)
		}
	}
}
