package vp8enc_test

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/pion/mediadevices/pkg/codec/vpx"
	"github.com/pion/mediadevices/pkg/io/video"
	"github.com/pion/mediadevices/pkg/prop"

	"github.com/quicast/quicast/sender/internal/vp8enc"
	"github.com/quicast/quicast/sender/media"
)

// frames returns n frames of the moving test picture, 1/fps apart.
func frames(w, h, n int, fps float64) []image.Image {
	out := make([]image.Image, n)
	for i := range out {
		out[i] = media.TestPicture(w, h, time.Duration(float64(i)/fps*float64(time.Second)))
	}
	return out
}

// loop is a video.Reader over frames, round and round.
func loop(fs []image.Image) video.Reader {
	i := 0
	return video.ReaderFunc(func() (image.Image, func(), error) {
		f := fs[i%len(fs)]
		i++
		return f, func() {}, nil
	})
}

// decode decodes VP8 frames with libvpx's decoder (through mediadevices)
// and returns each picture's luma plane; a picture of another size than
// w×h is an error (and nil).
func decode(t *testing.T, encoded [][]byte, w, h int) [][]byte {
	t.Helper()
	pr, pw := io.Pipe()
	dec, err := vpx.NewDecoder(pr, prop.Media{Video: prop.Video{Width: w, Height: h}})
	if err != nil {
		t.Fatal(err)
	}
	defer dec.Close()
	go func() {
		for _, f := range encoded {
			pw.Write(f)
		}
		pw.Close()
	}()
	var out [][]byte
	for {
		img, release, err := dec.Read()
		if err != nil {
			break
		}
		var luma []byte
		y, ok := img.(*image.YCbCr)
		switch b := img.Bounds(); {
		case b.Dx() != w || b.Dy() != h:
			t.Errorf("decoded frame %d: %v, want %d×%d", len(out), b, w, h)
		case !ok:
			t.Errorf("decoded frame %d: a %T", len(out), img)
		default:
			luma = make([]byte, 0, w*h)
			for r := range h {
				luma = append(luma, y.Y[r*y.YStride:r*y.YStride+w]...)
			}
		}
		out = append(out, luma)
		release()
	}
	return out
}

func TestEncode(t *testing.T) {
	const w, h = 320, 240
	fs := frames(w, h, 60, 30)
	e, err := vp8enc.New(loop(fs), vp8enc.Config{Width: w, Height: h, Bitrate: 500_000, KeyInterval: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	var out [][]byte
	var keys []int
	start := time.Unix(1_800_000_000, 0)
	for i := range 90 {
		if i == 45 {
			e.ForceKeyFrame()
		}
		data, key, err := e.Encode(fs[i%len(fs)], start.Add(time.Duration(i)*time.Second/30))
		if err != nil {
			t.Fatal(err)
		}
		if len(data) == 0 {
			continue
		}
		if key != (data[0]&1 == 0) {
			t.Errorf("frame %d: libvpx says key %v, the frame tag (RFC 6386 §9.1) says %v", i, key, data[0]&1 == 0)
		}
		if key {
			keys = append(keys, i)
		}
		out = append(out, data)
	}
	if len(keys) < 3 || keys[0] != 0 {
		t.Errorf("keyframes at %v: want the first, one a second at most and the forced one", keys)
	}
	forced := false
	for _, k := range keys {
		forced = forced || k == 45
	}
	if !forced {
		t.Errorf("no keyframe at the forced frame 45: %v", keys)
	}
	if n := len(decode(t, out, w, h)); n != len(out) {
		t.Errorf("libvpx decoded %d of %d frames", n, len(out))
	}
	// Through mediadevices' interface, as the sender uses it.
	if _, release, err := e.Read(); err != nil {
		t.Fatal(err)
	} else {
		release()
	}
	if err := e.SetBitRate(0); err == nil {
		t.Error("a zero bitrate accepted")
	}
	if err := e.SetBitRate(200_000); err != nil {
		t.Error(err)
	}
	if _, _, err := e.Read(); err != nil {
		t.Errorf("after a bitrate change: %v", err)
	}
	e.Close()
	if _, _, err := e.Read(); !errors.Is(err, io.EOF) {
		t.Errorf("read after close: %v", err)
	}
}

func TestBadInput(t *testing.T) {
	if _, err := vp8enc.New(loop(nil), vp8enc.Config{Width: 321, Height: 240}); !errors.Is(err, vp8enc.ErrSize) {
		t.Errorf("odd width: %v", err)
	}
	e, err := vp8enc.New(loop(nil), vp8enc.Config{Width: 64, Height: 48})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	// Other formats are converted: a camera's 4:2:2, RGB.
	for _, img := range []image.Image{image.NewRGBA(image.Rect(0, 0, 64, 48)),
		image.NewYCbCr(image.Rect(0, 0, 64, 48), image.YCbCrSubsampleRatio422)} {
		if data, _, err := e.Encode(img, time.Now()); err != nil || len(data) == 0 {
			t.Errorf("%T frame: %d bytes, %v", img, len(data), err)
		}
	}
	if _, _, err := e.Encode(image.NewYCbCr(image.Rect(0, 0, 32, 48), image.YCbCrSubsampleRatio420), time.Now()); !errors.Is(err, vp8enc.ErrSize) {
		t.Errorf("wrong size: %v", err)
	}
}

// cpuTime is the process's user+system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// encodeLoop runs the benchmark loop over r and reports, besides the wall
// time, the CPU time per frame and the share of one core 30 fps takes.
func encodeLoop(b *testing.B, r interface {
	Read() ([]byte, func(), error)
}) {
	b.ReportAllocs()
	c0 := cpuTime()
	for b.Loop() {
		if _, release, err := r.Read(); err != nil {
			b.Fatal(err)
		} else {
			release()
		}
	}
	perFrame := (cpuTime() - c0) / time.Duration(b.N)
	b.ReportMetric(float64(perFrame.Microseconds())/1000, "cpu-ms/frame")
	b.ReportMetric(100*perFrame.Seconds()*30, "%core@30fps")
}

// BenchmarkEncode encodes 1280×720 frames of the moving test picture (one
// op = one frame), with this encoder (one and two threads), with OpenH264
// as -codec h264 sets it up, and with pion/mediadevices' VP8 encoder set up
// as the sender used to: compare in one run. %core@30fps is the CPU a live 720p30 encode takes.
func BenchmarkEncode(b *testing.B) {
	const w, h = 1280, 720
	fs := frames(w, h, 60, 30)
	for _, threads := range []int{1, 2} {
		b.Run(fmt.Sprintf("vp8enc-720p-threads=%d", threads), func(b *testing.B) {
			e, err := vp8enc.New(loop(fs), vp8enc.Config{Width: w, Height: h, Bitrate: 1_500_000, Threads: threads})
			if err != nil {
				b.Fatal(err)
			}
			defer e.Close()
			encodeLoop(b, e)
		})
	}
	// Detailed, moving content, as a camera's: a Mandelbrot zoom that
	// ffmpeg renders into a Y4M file read back by the file source's reader.
	if ff, err := exec.LookPath("ffmpeg"); err == nil {
		path := filepath.Join(b.TempDir(), "zoom.y4m")
		if out, err := exec.Command(ff, "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i",
			"mandelbrot=size=1280x720:rate=30", "-frames:v", "60", "-pix_fmt", "yuv420p", path).CombinedOutput(); err != nil {
			b.Fatalf("ffmpeg: %v\n%s", err, out)
		}
		f, err := os.Open(path)
		if err != nil {
			b.Fatal(err)
		}
		yr, err := media.NewY4MReader(f)
		if err != nil {
			b.Fatal(err)
		}
		var zoom []image.Image
		for {
			img, err := yr.ReadFrame()
			if err != nil {
				break
			}
			zoom = append(zoom, img)
		}
		f.Close()
		b.Run("vp8enc-720p-file", func(b *testing.B) {
			e, err := vp8enc.New(loop(zoom), vp8enc.Config{Width: w, Height: h, Bitrate: 1_500_000, Threads: 1})
			if err != nil {
				b.Fatal(err)
			}
			defer e.Close()
			encodeLoop(b, e)
		})
	}
	b.Run("openh264-720p", func(b *testing.B) {
		e, err := media.NewH264Encoder(loop(fs), w, h, media.Options{FPS: 30, VideoBitrate: 1_500_000, KeyframeInterval: 2 * time.Second})
		if err != nil {
			b.Fatal(err)
		}
		defer e.Close()
		encodeLoop(b, e)
	})
	b.Run("mediadevices-720p", func(b *testing.B) {
		params, err := vpx.NewVP8Params()
		if err != nil {
			b.Fatal(err)
		}
		params.BitRate = 1_500_000
		params.KeyFrameInterval = 60
		params.Deadline = time.Millisecond
		params.LagInFrames = 0
		params.RateControlEndUsage = vpx.RateControlCBR
		params.ErrorResilient = vpx.ErrorResilientDefault
		enc, err := params.BuildVideoEncoder(loop(fs), prop.Media{Video: prop.Video{Width: w, Height: h, FrameRate: 30}})
		if err != nil {
			b.Fatal(err)
		}
		defer enc.Close()
		encodeLoop(b, enc)
	})
}

// Every other frame is a non-reference frame: left out, the frames after
// it decode to the very same pictures; a reference frame left out
// changes them.
func TestNonReferenceFrames(t *testing.T) {
	const w, h = 320, 240
	fs := frames(w, h, 40, 30)
	e, err := vp8enc.New(loop(fs), vp8enc.Config{Width: w, Height: h, Bitrate: 500_000, KeyInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	var all [][]byte
	var nonRef []bool
	start := time.Unix(1_800_000_000, 0)
	for i := range len(fs) {
		data, key, err := e.Encode(fs[i], start.Add(time.Duration(i)*time.Second/30))
		if err != nil {
			t.Fatal(err)
		}
		if len(data) == 0 {
			continue
		}
		if key && e.NonReference() {
			t.Errorf("frame %d: a keyframe said to be non-reference", i)
		}
		all = append(all, data)
		nonRef = append(nonRef, e.NonReference())
	}
	n := 0
	for i, nr := range nonRef {
		if nr {
			n++
			if i > 0 && nonRef[i-1] {
				t.Errorf("frames %d and %d both non-reference", i-1, i)
			}
		}
	}
	if n < len(all)/2-1 {
		t.Fatalf("%d of %d frames non-reference, want every other one", n, len(all))
	}
	full := decode(t, all, w, h)
	if len(full) != len(all) {
		t.Fatalf("decoded %d of %d frames", len(full), len(all))
	}
	// Only the reference frames, and the pictures they decode to.
	var kept [][]byte
	var want [][]byte
	for i, f := range all {
		if !nonRef[i] {
			kept, want = append(kept, f), append(want, full[i])
		}
	}
	got := decode(t, kept, w, h)
	if len(got) != len(kept) {
		t.Fatalf("decoded %d of the %d reference frames", len(got), len(kept))
	}
	for i := range got {
		if !bytes.Equal(got[i], want[i]) {
			t.Fatalf("reference frame %d decodes differently without the non-reference frames", i)
		}
	}
	// The check can tell: leaving out one reference frame (the third)
	// changes the picture of the one after it.
	var broken [][]byte
	for i, f := range all {
		if !nonRef[i] && i != 2 {
			broken = append(broken, f)
		}
	}
	if nonRef[2] {
		t.Fatal("frame 2 is non-reference")
	}
	if b := decode(t, broken, w, h); len(b) < 2 || bytes.Equal(b[1], full[4]) {
		t.Error("a reference frame left out changed nothing: the comparison cannot fail")
	}
}
