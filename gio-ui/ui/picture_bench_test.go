package ui

import (
	"image"
	"testing"

	"gioui.org/layout"
	"gioui.org/op"
	"gioui.org/op/paint"
	"gioui.org/unit"
	"gioui.org/widget"
)

// BenchmarkPictureFrame: a frame of the window's renderer (Gio, headless,
// on this machine's OpenGL: Mesa's llvmpipe where there is no GPU) showing
// a new picture, as every received frame of a call is: a 640×360 box with
// the picture fitted in it (widget.Contain). "scaled": a 640×480 picture
// drawn at 480×360, filtered linearly (Gio makes mipmaps for each new such
// texture); "own-size-linear" and "own-size-nearest": the picture
// converted at the 480×360 it is drawn at (call.pictureWidth), filtered
// either way (pictureFilter picks nearest). "self-*": this side's own
// 480×360 picture in a 160×120 corner, scaled by the renderer or shrunk
// first (shrink, in the loop) and drawn at its size. ms/frame is the wall
// time of Frame, which waits for the rendering. Without a display, Mesa
// renders to no surface (EGL_PLATFORM=surfaceless).
func BenchmarkPictureFrame(b *testing.B) {
	for _, c := range []struct {
		name     string
		box, pic image.Point
		filter   paint.ImageFilter
		shrink   bool
	}{
		{"scaled", image.Pt(640, 360), image.Pt(640, 480), paint.FilterLinear, false},
		{"own-size-linear", image.Pt(640, 360), image.Pt(480, 360), paint.FilterLinear, false},
		{"own-size-nearest", image.Pt(640, 360), image.Pt(480, 360), paint.FilterNearest, false},
		{"self-scaled", image.Pt(160, 120), image.Pt(480, 360), paint.FilterLinear, false},
		{"self-shrunk", image.Pt(160, 120), image.Pt(480, 360), paint.FilterNearest, true},
	} {
		b.Run(c.name, func(b *testing.B) {
			box := c.box
			w := headlessWindow(b, box)
			// Two pictures in turn: each frame uploads a new texture, as
			// a new received frame does.
			pics := [2]*image.RGBA{image.NewRGBA(image.Rectangle{Max: c.pic}), image.NewRGBA(image.Rectangle{Max: c.pic})}
			for i, p := range pics {
				for j := range p.Pix {
					p.Pix[j] = byte(i*7 + j)
				}
			}
			var ops op.Ops
			i := 0
			for b.Loop() {
				ops.Reset()
				gtx := layout.Context{Ops: &ops, Constraints: layout.Exact(box), Metric: unit.Metric{PxPerDp: 1, PxPerSp: 1}}
				pic := pics[i%2]
				if c.shrink {
					pic = shrink(pic, box)
				}
				im := paint.NewImageOp(pic)
				im.Filter = c.filter
				widget.Image{Src: im, Fit: widget.Contain, Position: layout.Center, Scale: 1}.Layout(gtx)
				if err := w.Frame(&ops); err != nil {
					b.Fatal(err)
				}
				i++
			}
			b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/frame")
		})
	}
}
