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

// The echo canceller sees each raw chunk before the level and the
// encoder, as 16-bit samples whatever the chunk's type, and what it
// changes is what goes on.
func TestEchoTap(t *testing.T) {
	for _, float := range []bool{false, true} {
		chunk := func() (wave.Audio, func(), error) {
			info := wave.ChunkInfo{Len: 480, Channels: 2, SamplingRate: 48000}
			if float {
				a := wave.NewFloat32Interleaved(info)
				for i := range a.Data {
					a.Data[i] = 0.5
				}
				return a, func() {}, nil
			}
			a := wave.NewInt16Interleaved(info)
			for i := range a.Data {
				a.Data[i] = 16384
			}
			return a, func() {}, nil
		}
		var seen []int16
		channels := 0
		halve := func(pcm []int16, ch int) {
			seen, channels = append([]int16(nil), pcm...), ch
			for i := range pcm {
				pcm[i] /= 2
			}
		}
		level := 0.0
		r := tapAudio(audio.ReaderFunc(chunk), Options{Echo: halve, Level: func(db float64) { level = db }})
		c, _, err := r.Read()
		if err != nil {
			t.Fatal(err)
		}
		if len(seen) != 960 || channels != 2 || seen[0] < 16383 || seen[0] > 16384 {
			t.Errorf("float %v: the canceller saw %d samples, %d channels, first %v", float, len(seen), channels, seen[:1])
		}
		if p := PeakDBFS(c); math.Abs(p-(-12.04)) > 0.1 || level != p {
			t.Errorf("float %v: after the canceller %.2f dBFS (level %.2f), want -12.04", float, p, level)
		}
	}
}
