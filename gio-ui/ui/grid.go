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
	if u.call != nil {
		u.call.setDrawnWidth(tw)
	}
	gap := gtx.Dp(2)
	seen := map[string]bool{}
	for i := range n {
		at := image.Pt(i%cols*tw, i/cols*th)
		tile := image.Rectangle{Min: at.Add(image.Pt(gap, gap)), Max: at.Add(image.Pt(tw-gap, th-gap))}
		st := op.Offset(tile.Min).Push(gtx.Ops)
		tgtx := gtx
		tgtx.Constraints = layout.Exact(tile.Size())
		if i == len(parties) {
			if self != u.selfPreview {
				u.selfPreview, u.selfOp = self, paint.NewImageOp(self)
			}
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
