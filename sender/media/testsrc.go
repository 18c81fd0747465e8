package media

import (
	"image"
	"io"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/mediadevices/pkg/frame"
	"github.com/pion/mediadevices/pkg/io/audio"
	"github.com/pion/mediadevices/pkg/io/video"
	"github.com/pion/mediadevices/pkg/prop"
	"github.com/pion/mediadevices/pkg/wave"
)

// The test source marks every whole second of media time with a white
// flash in the picture and a 1 kHz beep in the sound, both starting at
// exactly the same media time: a receiver measures A/V skew as the distance
// between the two, and glass-to-glass latency against the clock it shows.
const (
	flashDuration = 100 * time.Millisecond
	beepFreq      = 1000.0 // Hz
	beepAmplitude = 0.5
	audioRate     = 48000
	audioChannels = 2
	audioChunk    = 10 * time.Millisecond // one Opus frame: the shortest wait before a packet leaves
	chunkSamples  = audioRate * int(audioChunk/time.Millisecond) / 1000
)

// IsFlash reports whether the test picture at media time t is the white
// flash.
func IsFlash(t time.Duration) bool { return t%time.Second < flashDuration }

// driverBase is the part of a mediadevices driver (driver.Adapter) that the
// built-in sources share: Open/Close with a done channel.
type driverBase struct {
	mu      sync.Mutex
	done    chan struct{}
	closed  bool
	mt      time.Duration // media time of the last frame or chunk read
	skipped atomic.Uint64 // frames not sent because their time had passed
}

// skippedFrames counts the frames a live source left out to keep to real
// time when the encoder could not.
func (d *driverBase) skippedFrames() uint64 { return d.skipped.Load() }

func (d *driverBase) Open() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.done == nil {
		d.done = make(chan struct{})
	}
	return nil
}

func (d *driverBase) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.done == nil {
		d.done = make(chan struct{})
	}
	if !d.closed {
		d.closed = true
		close(d.done)
	}
	return nil
}

func (d *driverBase) doneCh() <-chan struct{} {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.done == nil {
		d.done = make(chan struct{})
	}
	return d.done
}

func (d *driverBase) setMediaTime(t time.Duration) {
	d.mu.Lock()
	d.mt = t
	d.mu.Unlock()
}

func (d *driverBase) mediaTime() time.Duration {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.mt
}

// testVideo is the built-in test picture as a mediadevices video driver.
type testVideo struct {
	driverBase
	clk  *Clock
	w, h int
	fps  float64
}

func newTestVideo(clk *Clock, o Options) *testVideo {
	return &testVideo{clk: clk, w: o.Width, h: o.Height, fps: o.FPS}
}

func (v *testVideo) label() string { return "quicast test picture" }

func (v *testVideo) Properties() []prop.Media {
	return []prop.Media{{Video: prop.Video{Width: v.w, Height: v.h, FrameRate: float32(v.fps), FrameFormat: frame.FormatI420}}}
}

// VideoRecord implements driver.VideoRecorder: frame k is due at media time
// k/fps and is returned then.
func (v *testVideo) VideoRecord(prop.Media) (video.Reader, error) {
	done := v.doneCh()
	var k int64
	// Two pictures drawn in turn: the encoder is done with one before the
	// next read.
	pics := [2]*image.YCbCr{}
	for i := range pics {
		pics[i] = image.NewYCbCr(image.Rect(0, 0, v.w, v.h), image.YCbCrSubsampleRatio420)
	}
	return video.ReaderFunc(func() (image.Image, func(), error) {
		// A live source never queues: when the encoder could not keep up,
		// the frames whose time has passed are skipped, not sent late.
		if due := int64(v.clk.Now().Seconds() * v.fps); due > k+1 {
			v.skipped.Add(uint64(due - k))
			k = due
		}
		t := time.Duration(float64(k) * float64(time.Second) / v.fps)
		if !v.clk.sleepUntil(done, t) {
			return nil, func() {}, io.EOF
		}
		img := pics[k%2]
		k++
		DrawTestPicture(img, t)
		v.setMediaTime(t)
		return img, func() {}, nil
	}), nil
}

// TestPicture draws the test picture at media time t: moving colour bars,
// the media time as HH:MM:SS.mmm, and a white frame during the first
// flashDuration of every second.
func TestPicture(w, h int, t time.Duration) *image.YCbCr {
	img := image.NewYCbCr(image.Rect(0, 0, w, h), image.YCbCrSubsampleRatio420)
	DrawTestPicture(img, t)
	return img
}

// testBars are the eight bars of a test card: luma and chroma per bar.
var testBars = [8][3]uint8{{180, 128, 128}, {168, 44, 136}, {145, 147, 44}, {133, 63, 52},
	{63, 193, 204}, {51, 109, 212}, {28, 212, 120}, {16, 128, 128}}

// DrawTestPicture draws the test picture at media time t into img (4:2:0,
// at its origin). Rows are drawn once and copied: the luma gradient
// changes 24 times down the picture, the chroma never.
func DrawTestPicture(img *image.YCbCr, t time.Duration) {
	w, h := img.Rect.Dx(), img.Rect.Dy()
	if IsFlash(t) {
		fill(img.Y, 235)
		fill(img.Cb, 128)
		fill(img.Cr, 128)
		return
	}
	shift := int(t.Milliseconds() * int64(w) / 4000) // bars cross the picture in 4 s
	base := img.Y[:w]                                // row 0 is the gradient's first band
	for x := range base {
		base[x] = testBars[((x+shift)*8/w)%8][0]
	}
	prev := 0
	for y := 1; y < h; y++ {
		row := img.Y[y*img.YStride : y*img.YStride+w]
		if off := uint8(y * 24 / h); off == uint8(prev*24/h) {
			copy(row, img.Y[prev*img.YStride:prev*img.YStride+w])
		} else {
			for x := range row {
				row[x] = base[x] + off
			}
			prev = y
		}
	}
	cw, ch := (w+1)/2, (h+1)/2
	cb, cr := img.Cb[:cw], img.Cr[:cw]
	for x := range cb {
		b := testBars[((2*x+shift)*8/w)%8]
		cb[x], cr[x] = b[1], b[2]
	}
	for y := 1; y < ch; y++ {
		copy(img.Cb[y*img.CStride:y*img.CStride+cw], cb)
		copy(img.Cr[y*img.CStride:y*img.CStride+cw], cr)
	}
	drawClock(img, t)
}

func fill(b []byte, v byte) {
	for i := range b {
		b[i] = v
	}
}

// digits is a 5×7 bitmap font for 0-9, ':' and '.'; each row is 5 bits.
var digits = map[byte][7]uint8{
	'0': {0x0e, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0e}, '1': {0x04, 0x0c, 0x04, 0x04, 0x04, 0x04, 0x0e},
	'2': {0x0e, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1f}, '3': {0x1f, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0e},
	'4': {0x02, 0x06, 0x0a, 0x12, 0x1f, 0x02, 0x02}, '5': {0x1f, 0x10, 0x1e, 0x01, 0x01, 0x11, 0x0e},
	'6': {0x06, 0x08, 0x10, 0x1e, 0x11, 0x11, 0x0e}, '7': {0x1f, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08},
	'8': {0x0e, 0x11, 0x11, 0x0e, 0x11, 0x11, 0x0e}, '9': {0x0e, 0x11, 0x11, 0x0f, 0x01, 0x02, 0x0c},
	':': {0x00, 0x0c, 0x0c, 0x00, 0x0c, 0x0c, 0x00}, '.': {0x00, 0x00, 0x00, 0x00, 0x00, 0x0c, 0x0c},
}

// drawClock writes the media time in white on a black box, centred.
func drawClock(img *image.YCbCr, t time.Duration) {
	ms := t.Milliseconds()
	s := []byte{
		byte('0' + ms/36_000_000%10), byte('0' + ms/3_600_000%10), ':',
		byte('0' + ms/600_000%6), byte('0' + ms/60_000%10), ':',
		byte('0' + ms/10_000%6), byte('0' + ms/1000%10), '.',
		byte('0' + ms/100%10), byte('0' + ms/10%10), byte('0' + ms%10),
	}
	w, h := img.Rect.Dx(), img.Rect.Dy()
	scale := max(1, w/(len(s)*6*2))
	tw, th := len(s)*6*scale, 7*scale
	x0, y0 := (w-tw)/2, (h-th)/2
	for y := y0 - scale; y < y0+th+scale; y++ {
		for x := x0 - scale; x < x0+tw+scale; x++ {
			if x >= 0 && y >= 0 && x < w && y < h {
				img.Y[y*img.YStride+x] = 16
				ci := img.COffset(x, y) // neutral chroma: a black box, white digits
				img.Cb[ci], img.Cr[ci] = 128, 128
			}
		}
	}
	for i, c := range s {
		g := digits[c]
		for row := 0; row < 7; row++ {
			for col := 0; col < 5; col++ {
				if g[row]&(0x10>>col) == 0 {
					continue
				}
				for dy := 0; dy < scale; dy++ {
					for dx := 0; dx < scale; dx++ {
						x, y := x0+(i*6+col)*scale+dx, y0+row*scale+dy
						if x < w && y < h {
							img.Y[y*img.YStride+x] = 235
						}
					}
				}
			}
		}
	}
}

// testAudio is the built-in test sound as a mediadevices audio driver.
type testAudio struct {
	driverBase
	clk *Clock
}

func newTestAudio(clk *Clock) *testAudio { return &testAudio{clk: clk} }

func (a *testAudio) label() string { return "quicast test tone" }

func (a *testAudio) Properties() []prop.Media {
	return []prop.Media{{Audio: prop.Audio{SampleRate: audioRate, ChannelCount: audioChannels, Latency: audioChunk,
		IsFloat: true, IsInterleaved: true}}}
}

// AudioRecord implements driver.AudioRecorder: 20 ms chunks, chunk n due at
// media time n×20 ms.
func (a *testAudio) AudioRecord(prop.Media) (audio.Reader, error) {
	done := a.doneCh()
	var n int64
	return audio.ReaderFunc(func() (wave.Audio, func(), error) {
		t := time.Duration(n) * audioChunk
		if !a.clk.sleepUntil(done, t) {
			return nil, func() {}, io.EOF
		}
		chunk := wave.NewFloat32Interleaved(wave.ChunkInfo{Channels: audioChannels, Len: chunkSamples, SamplingRate: audioRate})
		TestTone(chunk.Data, audioChannels, n*int64(chunkSamples))
		n++
		a.setMediaTime(t)
		return chunk, func() {}, nil
	}), nil
}

// TestTone fills interleaved samples starting at sample index first (48 kHz):
// a 1 kHz sine during the first flashDuration of every second, silence
// otherwise.
func TestTone(dst []float32, channels int, first int64) {
	beepSamples := int64(flashDuration) * audioRate / int64(time.Second)
	for i := 0; i < len(dst)/channels; i++ {
		s := first + int64(i)
		var v float32
		if pos := s % audioRate; pos < beepSamples {
			v = float32(beepAmplitude * math.Sin(2*math.Pi*beepFreq*float64(pos)/audioRate))
		}
		for c := 0; c < channels; c++ {
			dst[i*channels+c] = v
		}
	}
}
