package broadcast

import (
	"image"
	"image/color"
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
				cr, cg, cb = color.YCbCrToRGB(yy, yc.Cb[ci], yc.Cr[ci])
			} else {
				r32, g32, b32, _ := img.At(sx, sy).RGBA()
				cr, cg, cb = uint8(r32>>8), uint8(g32>>8), uint8(b32>>8)
			}
			row[4*x], row[4*x+1], row[4*x+2], row[4*x+3] = cr, cg, cb, 0xff
		}
	}
	return out
}
