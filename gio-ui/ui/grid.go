package ui

import (
	"image"
	"image/color"
	"math"

	"gioui.org/layout"
	"gioui.org/op"
	"gioui.org/op/clip"
	"gioui.org/op/paint"
	"gioui.org/unit"
	"gioui.org/widget"
	"gioui.org/widget/material"

	"github.com/quicast/quicast/gio-ui/i18n"
)

// speakingLevel is the peak level, in dBFS, above which a participant's
// tile is outlined as speaking (the browser room page uses the same).
const speakingLevel = -40

// shade is the band under a participant's name on their picture.
var shade = color.NRGBA{A: 0xa0}

// tileOp is one participant's picture as an ImageOp: Gio uploads an
// ImageOp's image once, so a new one is made per new frame.
type tileOp struct {
	img *image.RGBA
	op  paint.ImageOp
}

// gridShape is the columns and rows of a grid of n tiles in a box of the
// given aspect (width/height): the one whose 4:3 tiles are largest, the
// wider of two as large (side by side rather than one above the other).
func gridShape(n int, aspect float64) (cols, rows int) {
	best := -1.0
	for c := 1; c <= n; c++ {
		r := (n + c - 1) / c
		// A 4:3 tile's width in a box 1 high: limited by the column
		// width (aspect/c) or by the row height (4/3/r).
		w := math.Min(aspect/float64(c), 4.0/3/float64(r))
		if w >= best-1e-9 {
			best, cols, rows = w, c, r
		}
	}
	return cols, rows
}

// layoutGrid draws every other participant's picture in a grid filling
// size, this side's own (self, nil when hidden) last: their name under
// it, a green outline while they speak, and what is awaited while their
// picture has not come.
func (u *UI) layoutGrid(gtx C, size image.Point, parties []partyStatus, self *image.RGBA) {
	if u.tiles == nil {
		u.tiles = map[string]tileOp{}
	}
	n := len(parties)
	if self != nil {
		n++
	}
	cols, rows := gridShape(n, float64(size.X)/float64(max(1, size.Y)))
	tw, th := size.X/cols, size.Y/rows
	gap := gtx.Dp(2)
	if u.call != nil {
		u.call.setDrawnBox(image.Pt(tw-2*gap, th-2*gap))
	}
	seen := map[string]bool{}
	for i := range n {
		at := image.Pt(i%cols*tw, i/cols*th)
		tile := image.Rectangle{Min: at.Add(image.Pt(gap, gap)), Max: at.Add(image.Pt(tw-gap, th-gap))}
		st := op.Offset(tile.Min).Push(gtx.Ops)
		tgtx := gtx
		tgtx.Constraints = layout.Exact(tile.Size())
		if i == len(parties) {
			u.setSelfPicture(self, tile.Size())
			u.layoutTile(tgtx, u.selfOp, u.lang.T(i18n.You), "")
			st.Pop()
			continue
		}
		p := parties[i]
		if p.Level > speakingLevel {
			st.Pop()
			paint.FillShape(gtx.Ops, meterFill, clip.Rect(tile.Inset(-gap)).Op())
			paint.FillShape(gtx.Ops, black, clip.Rect(tile).Op())
			st = op.Offset(tile.Min).Push(gtx.Ops)
		}
		seen[p.Them] = true
		t := u.tiles[p.Them]
		if p.Picture != nil && t.img != p.Picture {
			t = tileOp{p.Picture, paint.NewImageOp(p.Picture)}
		}
		if t.img != nil {
			t.op.Filter = pictureFilter(t.img.Bounds(), tile.Size())
			u.tiles[p.Them] = t
		}
		waiting := ""
		switch {
		case p.Lost > 0:
			waiting = u.lang.T(i18n.CallPartyLost)
		case p.Picture == nil:
			waiting = u.lang.T(i18n.CallWaiting)
		}
		u.layoutTile(tgtx, t.op, p.Them, waiting)
		st.Pop()
	}
	for name := range u.tiles {
		if !seen[name] {
			delete(u.tiles, name) // they left
		}
	}
}

// layoutTile draws one picture of the grid filling the constraints, or
// waiting in its place when that is set, with name on a dark band at the
// bottom left.
func (u *UI) layoutTile(gtx C, img paint.ImageOp, name, waiting string) {
	if waiting != "" {
		l := material.Body2(u.th, waiting)
		l.Color = grey
		layout.Center.Layout(gtx, l.Layout)
	} else {
		widget.Image{Src: img, Fit: widget.Contain, Position: layout.Center, Scale: 1 / gtx.Metric.PxPerDp}.Layout(gtx)
	}
	layout.SW.Layout(gtx, func(gtx C) D {
		// The name, white on a dark band: readable on any picture.
		return layout.Stack{}.Layout(gtx,
			layout.Expanded(func(gtx C) D {
				paint.FillShape(gtx.Ops, shade, clip.Rect{Max: gtx.Constraints.Min}.Op())
				return D{Size: gtx.Constraints.Min}
			}),
			layout.Stacked(func(gtx C) D {
				return layout.UniformInset(unit.Dp(4)).Layout(gtx, func(gtx C) D {
					l := material.Body2(u.th, name)
					l.Color = white
					return l.Layout(gtx)
				})
			}))
	})
}

// ownSize is how far (a fraction) from 1 the scale of a picture drawn at
// its own size may be: a column or row in 33 repeated or left out.
const ownSize = 0.03

// fitScale is the scale of a picture of size img drawn to fit box
// (widget.Contain), 0 for an empty picture.
func fitScale(img image.Rectangle, box image.Point) float64 {
	if img.Dx() <= 0 || img.Dy() <= 0 {
		return 0
	}
	return min(float64(box.X)/float64(img.Dx()), float64(box.Y)/float64(img.Dy()))
}

// pictureFilter is the scaling filter for a picture of size img drawn to
// fit box (widget.Contain): nearest neighbour where it is drawn at its own
// size (within ownSize) — the same pixels as linear there, and Gio then
// makes no mipmaps for its texture, which it does for every new linearly
// filtered picture: with software OpenGL (Mesa's llvmpipe) five times what
// drawing it costs (BenchmarkPictureFrame). Linear where it is scaled.
func pictureFilter(img image.Rectangle, box image.Point) paint.ImageFilter {
	if s := fitScale(img, box); s >= 1-ownSize && s <= 1+ownSize {
		return paint.FilterNearest
	}
	return paint.FilterLinear
}

// setSelfPicture makes selfOp show self, this side's own picture, drawn
// to fit box: shrunk to the size it is drawn at (shrink) when it is
// larger, so that it needs no scaling filter (pictureFilter).
func (u *UI) setSelfPicture(self *image.RGBA, box image.Point) {
	if self == u.selfPreview && u.selfBox == box {
		return
	}
	s := shrink(self, box)
	u.selfPreview, u.selfBox, u.selfOp = self, box, paint.NewImageOp(s)
	u.selfOp.Filter = pictureFilter(s.Bounds(), box)
}

// shrink returns img scaled down to fit box (widget.Contain), each pixel
// the average of the ones it covers, or img itself where it is drawn at its
// own size or larger (ownSize).
func shrink(img *image.RGBA, box image.Point) *image.RGBA {
	r := img.Bounds()
	w, h := r.Dx(), r.Dy()
	scale := fitScale(r, box)
	if scale <= 0 || scale >= 1-ownSize {
		return img
	}
	tw, th := max(1, int(float64(w)*scale)), max(1, int(float64(h)*scale))
	out := image.NewRGBA(image.Rect(0, 0, tw, th))
	for y := range th {
		y0, y1 := y*h/th, max((y+1)*h/th, y*h/th+1)
		for x := range tw {
			x0, x1 := x*w/tw, max((x+1)*w/tw, x*w/tw+1)
			var sum [4]int
			for sy := y0; sy < y1; sy++ {
				o := img.PixOffset(r.Min.X+x0, r.Min.Y+sy)
				row := img.Pix[o : o+4*(x1-x0)]
				for i := 0; i < len(row); i += 4 {
					sum[0] += int(row[i])
					sum[1] += int(row[i+1])
					sum[2] += int(row[i+2])
					sum[3] += int(row[i+3])
				}
			}
			n := (y1 - y0) * (x1 - x0)
			p := out.Pix[y*out.Stride+4*x : y*out.Stride+4*x+4 : y*out.Stride+4*x+4]
			p[0], p[1], p[2], p[3] = uint8(sum[0]/n), uint8(sum[1]/n), uint8(sum[2]/n), uint8(sum[3]/n)
		}
	}
	return out
}
