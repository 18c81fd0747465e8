package media

import (
	"image"
	"image/color"
	"math"
	"sync/atomic"
	"testing"

	"github.com/pion/mediadevices/pkg/io/audio"
	"github.com/pion/mediadevices/pkg/io/video"
	"github.com/pion/mediadevices/pkg/wave"
)

// Muting silences the sound before encoding, and the level shows it;
// unmuting brings it back. Blanking turns the picture black, same size.
func TestMuteAndBlank(t *testing.T) {
	var muted, blank atomic.Bool
	level := 0.0
	tone := func() (wave.Audio, func(), error) {
		a := wave.NewInt16Interleaved(wave.ChunkInfo{Len: 480, Channels: 2, SamplingRate: 48000})
		for i := range a.Data {
			a.Data[i] = 8000
		}
		return a, func() {}, nil
	}
	ar := tapAudio(audio.ReaderFunc(tone), Options{Muted: &muted, Level: func(db float64) { level = db }})
	peak := func() float64 {
		c, _, err := ar.Read()
		if err != nil {
			t.Fatal(err)
		}
		return PeakDBFS(c)
	}
	if p := peak(); p < -13 || level != p {
		t.Errorf("unmuted: peak %.1f dBFS, level %.1f", p, level)
	}
	muted.Store(true)
	if p := peak(); !math.IsInf(p, -1) || !math.IsInf(level, -1) {
		t.Errorf("muted: peak %.1f dBFS, level %.1f, want silence", p, level)
	}
	muted.Store(false)
	if p := peak(); p < -13 {
		t.Errorf("unmuted again: peak %.1f dBFS", p)
	}

	released := 0
	bars := func() (image.Image, func(), error) {
		img := image.NewYCbCr(image.Rect(0, 0, 64, 48), image.YCbCrSubsampleRatio420)
		for i := range img.Y {
			img.Y[i] = 200
		}
		return img, func() { released++ }, nil
	}
	var previewed image.Image
	vr := tapVideo(video.ReaderFunc(bars), Options{Blank: &blank, Preview: func(img image.Image) { previewed = img }})
	read := func() image.Image {
		img, release, err := vr.Read()
		if err != nil {
			t.Fatal(err)
		}
		release()
		return img
	}
	if y := color.YCbCrModel.Convert(read().At(10, 10)).(color.YCbCr).Y; y != 200 {
		t.Errorf("camera on: luma %d", y)
	}
	blank.Store(true)
	img := read()
	if img.Bounds() != image.Rect(0, 0, 64, 48) || color.YCbCrModel.Convert(img.At(10, 10)).(color.YCbCr).Y != 16 || previewed != img {
		t.Errorf("camera off: %v, luma %v, previewed the black picture %v", img.Bounds(), img.At(10, 10), previewed == img)
	}
	if released != 2 {
		t.Errorf("%d source frames released, want 2 (the blanked one too)", released)
	}
}
