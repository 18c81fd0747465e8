package h264

import (
	"errors"
	"image"
	"testing"
	"time"

	"github.com/pion/mediadevices/pkg/io/video"

	"github.com/quicast/quicast/sender/media"
)

// card is a w×h picture, its left half light and its right half dark.
func card(w, h int) *image.YCbCr {
	img := image.NewYCbCr(image.Rect(0, 0, w, h), image.YCbCrSubsampleRatio420)
	for y := range h {
		for x := range w {
			v := byte(50)
			if x < w/2 {
				v = 200
			}
			img.Y[y*img.YStride+x] = v
		}
	}
	for i := range img.Cb {
		img.Cb[i], img.Cr[i] = 128, 128
	}
	return img
}

// encoded returns n access units of the card, by the sender's OpenH264
// encoder (the first an IDR).
func encoded(t *testing.T, w, h, n int) [][]byte {
	t.Helper()
	pic := card(w, h)
	return encode(t, video.ReaderFunc(func() (image.Image, func(), error) { return pic, func() {}, nil }), w, h, 500_000, n)
}

// encode returns n access units of src's w×h pictures at bitrate (bit/s),
// by the sender's OpenH264 encoder (the first an IDR).
func encode(tb testing.TB, src video.Reader, w, h, bitrate, n int) [][]byte {
	tb.Helper()
	enc, err := media.NewH264Encoder(src, w, h, media.Options{VideoBitrate: bitrate, FPS: 30, KeyframeInterval: 2 * time.Second})
	if err != nil {
		tb.Fatal(err)
	}
	defer enc.Close()
	var aus [][]byte
	for range n {
		b, release, err := enc.Read()
		if err != nil {
			tb.Fatal(err)
		}
		aus = append(aus, append([]byte(nil), b...))
		release()
	}
	return aus
}

// meanY is the mean luma of r in img.
func meanY(img *image.YCbCr, r image.Rectangle) float64 {
	var sum, n float64
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			sum += float64(img.Y[img.YOffset(x, y)])
			n++
		}
	}
	return sum / n
}

// The sender's H.264 (OpenH264, linked into the same binary) decodes to
// the picture it was made of: its size, and each half's brightness.
func TestDecodesTheSendersPictures(t *testing.T) {
	const w, h = 320, 240
	d, err := NewDecoder()
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	for i, au := range encoded(t, w, h, 5) {
		img, err := d.Decode(au)
		if err != nil {
			t.Fatalf("access unit %d (%d bytes): %v", i, len(au), err)
		}
		if img.Rect != image.Rect(0, 0, w, h) || img.SubsampleRatio != image.YCbCrSubsampleRatio420 {
			t.Fatalf("picture %v %v, want %dx%d 4:2:0", img.Rect, img.SubsampleRatio, w, h)
		}
		left, right := meanY(img, image.Rect(16, 16, w/2-16, h-16)), meanY(img, image.Rect(w/2+16, 16, w-16, h-16))
		if left < 180 || left > 220 || right < 30 || right > 70 {
			t.Errorf("picture %d: mean luma %.0f left, %.0f right; want about 200 and 50", i, left, right)
		}
	}
}

// Garbage is an error or no picture, never a crash, and the decoder takes
// the stream again from its next IDR.
func TestCorruptInput(t *testing.T) {
	d, err := NewDecoder()
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	aus := encoded(t, 160, 120, 2)
	bad := append([]byte(nil), aus[0]...)
	for i := len(bad) / 3; i < len(bad); i += 7 {
		bad[i] ^= 0x5a
	}
	for _, b := range [][]byte{nil, {0, 0, 0, 1}, {0, 0, 1, 0x65, 0xff, 0xff}, bad} {
		if img, err := d.Decode(b); err == nil && img.Rect.Empty() {
			t.Errorf("%d bytes of garbage: an empty picture and no error", len(b))
		}
	}
	if img, err := d.Decode(aus[0]); err != nil || img.Rect.Dx() != 160 {
		t.Fatalf("the IDR after garbage: %v, %v", img, err)
	}
	d.Close()
	if _, err := d.Decode(aus[1]); err == nil || errors.Is(err, ErrNoPicture) {
		t.Errorf("after Close: %v, want the decoder closed", err)
	}
}

// BenchmarkDecode: the CPU of decoding one 1280×720 picture of a moving
// picture (the sender's OpenH264 at 2 Mbit/s, an IDR then P-frames), in
// ns/op per access unit.
func BenchmarkDecode(b *testing.B) {
	const w, h, n = 1280, 720, 30
	pic := card(w, h)
	i := 0
	src := video.ReaderFunc(func() (image.Image, func(), error) {
		i++
		for y := range h { // the light half's edge moves 8 pixels a frame
			row := pic.Y[y*pic.YStride : y*pic.YStride+w]
			for x := range row {
				row[x] = 50
				if (x+8*i)%w < w/2 {
					row[x] = 200
				}
			}
		}
		return pic, func() {}, nil
	})
	aus := encode(b, src, w, h, 2_000_000, n)
	d, err := NewDecoder()
	if err != nil {
		b.Fatal(err)
	}
	defer d.Close()
	k := 0
	for b.Loop() {
		if _, err := d.Decode(aus[k%n]); err != nil {
			b.Fatalf("access unit %d: %v", k%n, err)
		}
		k++
	}
}
