package vp8enc

import (
	"image"
	"image/color"
	"testing"
)

func TestToI420(t *testing.T) {
	rgba := image.NewRGBA(image.Rect(0, 0, 4, 2))
	for x := range 4 {
		for y := range 2 {
			rgba.Set(x, y, color.RGBA{R: 200, G: 30, B: 90, A: 255})
		}
	}
	wy, wcb, wcr := color.RGBToYCbCr(200, 30, 90)
	got := toI420(rgba, nil)
	if got.SubsampleRatio != image.YCbCrSubsampleRatio420 || got.Y[5] != wy || got.Cb[1] != wcb || got.Cr[1] != wcr {
		t.Errorf("RGBA → I420: Y %d Cb %d Cr %d, want %d %d %d", got.Y[5], got.Cb[1], got.Cr[1], wy, wcb, wcr)
	}
	// 4:2:2 chroma is averaged over the two rows of each 4:2:0 block.
	src := image.NewYCbCr(image.Rect(0, 0, 2, 2), image.YCbCrSubsampleRatio422)
	src.Cb[0], src.Cb[src.COffset(0, 1)] = 100, 110
	src.Cr[0], src.Cr[src.COffset(0, 1)] = 50, 61
	if got := toI420(src, got); got.Rect.Dx() != 2 || got.Cb[0] != 105 || got.Cr[0] != 56 {
		t.Errorf("4:2:2 → I420: Cb %d Cr %d (size %v), want 105, 56", got.Cb[0], got.Cr[0], got.Rect)
	}
}
