package broadcast

import (
	"image"
	"image/color"
	"math"
	"testing"
)

func thumbnailSlow(img image.Image, maxW int) *image.RGBA {
	r := img.Bounds()
	w, h := r.Dx(), r.Dy()
	if w == 0 || h == 0 {
		return nil
	}
	tw, th := w, h
	if tw > maxW {
		tw, th = maxW, h*maxW/w
	}
	out := image.NewRGBA(image.Rect(0, 0, tw, th))
	yc, isYCbCr := img.(*image.YCbCr)
	for y := 0; y < th; y++ {
		sy := r.Min.Y + y*h/th
		row := out.Pix[y*out.Stride:]
		for x := 0; x < tw; x++ {
			sx := r.Min.X + x*w/tw
			var cr, cg, cb uint8
			if isYCbCr {
				yy := yc.Y[yc.YOffset(sx, sy)]
				ci := yc.COffset(sx, sy)
				cr, cg, cb = studioRef(yy, yc.Cb[ci], yc.Cr[ci])
			} else {
				r32, g32, b32, _ := img.At(sx, sy).RGBA()
				cr, cg, cb = uint8(r32>>8), uint8(g32>>8), uint8(b32>>8)
			}
			row[4*x], row[4*x+1], row[4*x+2], row[4*x+3] = cr, cg, cb, 0xff
		}
	}
	return out
}

// studioRef is BT.601 studio range to RGB in floating point (ITU-R
// BT.601-7 §2.5.3 inverted): the reference for Thumbnail.
func studioRef(y, cb, cr uint8) (r, g, b uint8) {
	yy := 255 / 219.0 * (float64(y) - 16)
	u := 255 / 224.0 * (float64(cb) - 128)
	v := 255 / 224.0 * (float64(cr) - 128)
	c := func(f float64) uint8 { return uint8(math.Round(min(255, max(0, f)))) }
	return c(yy + 1.402*v), c(yy - 0.344136*u - 0.714136*v), c(yy + 1.772*u)
}

// near reports whether two colours differ by at most 1 per channel.
func near(a, b color.RGBA) bool {
	d := func(x, y uint8) bool { return x-y <= 1 || y-x <= 1 }
	return d(a.R, b.R) && d(a.G, b.G) && d(a.B, b.B) && a.A == b.A
}

// The test picture's own landmarks: studio black and white are black and
// white on the screen, its bars keep their hue.
func TestStudioRange(t *testing.T) {
	for _, c := range []struct {
		y, cb, cr uint8
		want      color.RGBA
	}{
		{16, 128, 128, color.RGBA{0, 0, 0, 255}},
		{235, 128, 128, color.RGBA{255, 255, 255, 255}},
		{180, 128, 128, color.RGBA{191, 191, 191, 255}}, // 75 % grey
		{81, 90, 240, color.RGBA{255, 0, 0, 255}},       // red
	} {
		r, g, b := studioToRGB(c.y, c.cb, c.cr)
		if got := (color.RGBA{r, g, b, 255}); !near(got, c.want) {
			t.Errorf("Y %d Cb %d Cr %d = %v, want %v", c.y, c.cb, c.cr, got, c.want)
		}
	}
}
