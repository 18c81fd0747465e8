package media

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"image"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

func TestParseSource(t *testing.T) {
	for _, c := range []struct {
		in   string
		want Source
	}{
		{"test", Source{Type: SourceTest}},
		{"none", Source{Type: SourceNone}},
		{"file:/tmp/a b.y4m", Source{Type: SourceFile, Arg: "/tmp/a b.y4m"}},
		{"device:Integrated Camera", Source{Type: SourceDevice, Arg: "Integrated Camera"}},
	} {
		got, err := ParseSource(c.in)
		if err != nil || got != c.want {
			t.Errorf("ParseSource(%q) = %+v, %v; want %+v", c.in, got, err, c.want)
		}
		if got.String() != c.in {
			t.Errorf("%+v.String() = %q, want %q", got, got.String(), c.in)
		}
	}
	for _, bad := range []string{"camera", "file:", "device:", "tset"} {
		if _, err := ParseSource(bad); !errors.Is(err, ErrBadSource) {
			t.Errorf("ParseSource(%q): %v, want ErrBadSource", bad, err)
		}
	}
}

// The flash and the beep start at exactly the same media time: every whole
// second, for 100 ms.
func TestTestSourceFlashAndBeepAligned(t *testing.T) {
	mean := func(b []byte) float64 {
		s := 0
		for _, v := range b {
			s += int(v)
		}
		return float64(s) / float64(len(b))
	}
	for k := 0; k < 90; k++ { // three seconds at 30 fps
		mt := time.Duration(k) * time.Second / 30
		m := mean(TestPicture(64, 48, mt).Y)
		if flash := mt%time.Second < flashDuration; flash != (m > 230) {
			t.Errorf("frame %d (%v): mean luma %.0f, flash expected %v", k, mt, m, flash)
		}
	}
	buf := make([]float32, 2*audioRate*2)
	TestTone(buf, 2, 0)
	onset := func(from int) int {
		for i := from; i < len(buf)/2; i++ {
			if math.Abs(float64(buf[2*i])) > 0.01 {
				return i
			}
		}
		return -1
	}
	// The first sample of each second is sin(0) = 0; the next is loud.
	if got := onset(1); got != 1 {
		t.Errorf("beep 1 starts at sample %d, want 1", got)
	}
	if got := onset(audioRate / 2); got != audioRate+1 {
		t.Errorf("beep 2 starts at sample %d, want %d", got, audioRate+1)
	}
	if v := buf[2*(audioRate/10+10)]; v != 0 {
		t.Errorf("sample after the 100 ms beep = %v, want silence", v)
	}
}

func TestEncodeTestSource(t *testing.T) {
	ctx := context.Background()
	clk := NewClock()
	v, err := Open(ctx, clk, Source{Type: SourceTest}, KindVideo, Options{Width: 320, Height: 240, KeyframeInterval: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	a, err := Open(ctx, clk, Source{Type: SourceTest}, KindAudio, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if v.Codec().Name != "VP8" || a.Codec().Name != "opus" {
		t.Fatalf("codecs %v %v", v.Codec(), a.Codec())
	}
	var keys []int
	var keyTimes []time.Duration
	last := time.Duration(-1)
	nonRef, prevNonRef := 0, false
	for i := 0; i < 40; i++ {
		f, err := v.ReadFrame(ctx)
		if err != nil {
			t.Fatal(err)
		}
		// Frames are 1/30 s apart in media time; a loaded machine may make
		// the source skip some (they are counted, not sent late), so the
		// times need not be consecutive, only on the frame grid and rising.
		// The source starts at media time 0; the same load may skip its
		// first frames, so the first one read is within the first second.
		if i == 0 && (f.MediaTime < 0 || f.MediaTime >= time.Second) {
			t.Errorf("first frame at media time %v, want the source's start (0, or a few frames after under load)", f.MediaTime)
		}
		n := f.MediaTime * 30 / time.Second
		if d := f.MediaTime - n*time.Second/30; f.MediaTime <= last || (d > time.Microsecond && d < time.Second/30-time.Microsecond) {
			t.Errorf("frame %d media time %v (after %v): not the next point of the 30 fps grid", i, f.MediaTime, last)
		}
		last = f.MediaTime
		if f.Keyframe {
			keys = append(keys, i)
			keyTimes = append(keyTimes, f.MediaTime)
		}
		if f.NonReference {
			nonRef++
			if f.Keyframe || prevNonRef {
				t.Errorf("frame %d: non-reference, and a keyframe (%v) or after another (%v)", i, f.Keyframe, prevNonRef)
			}
		}
		prevNonRef = f.NonReference
		if i == 20 {
			v.RequestKeyFrame()
		}
	}
	if len(keys) == 0 || keys[0] != 0 {
		t.Fatalf("keyframes at %v: the first frame must be one", keys)
	}
	if nonRef < 40/2-len(keys) {
		t.Errorf("%d of 40 frames non-reference: want every other frame after a keyframe", nonRef)
	}
	if len(keys) < 3 {
		t.Errorf("keyframes at %v: want one at least every 15 frames (0.5 s)", keys)
	}
	for i := 1; i < len(keyTimes); i++ {
		if gap := keyTimes[i] - keyTimes[i-1]; gap > 500*time.Millisecond+time.Second/30 {
			t.Errorf("keyframes at media times %v: %v between two, want at most 0.5 s", keyTimes, gap)
		}
	}
	forced := false
	for _, k := range keys {
		forced = forced || k == 21 || k == 22
	}
	if !forced {
		t.Errorf("keyframes at %v: RequestKeyFrame after frame 20 not honoured", keys)
	}
	for i := 0; i < 10; i++ {
		f, err := a.ReadFrame(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if want := time.Duration(i) * 10 * time.Millisecond; f.MediaTime != want {
			t.Errorf("audio packet %d media time %v, want %v", i, f.MediaTime, want)
		}
		if len(f.Data) == 0 || opusFrameDuration(f.Data[0]) != 10*time.Millisecond || f.Data[0]&3 != 0 {
			t.Errorf("audio packet %d: TOC 0x%02x is not one 10 ms Opus frame", i, f.Data[0])
		}
	}
}

// TestChunkTimes: packets are stamped with their first sample's time,
// whether a chunk holds several packets or a packet several chunks.
func TestChunkTimes(t *testing.T) {
	ms := func(n int) time.Duration { return time.Duration(n) * time.Millisecond }
	for _, c := range []struct {
		name           string
		chunk, packet  int // ms
		chunks, pkts   int
		firstChunkTime int // ms
	}{
		{"20 ms chunks, 10 ms packets", 20, 10, 3, 6, 100},
		{"5 ms chunks, 10 ms packets", 5, 10, 8, 4, 100},
		{"10 ms each", 10, 10, 4, 4, 0},
	} {
		var ct chunkTimes
		for i := range c.chunks {
			ct.chunks = append(ct.chunks, chunkTime{ms(c.firstChunkTime + i*c.chunk), ms(c.chunk)})
		}
		for i := range c.pkts {
			at, ok := ct.packet(ms(c.packet))
			if want := ms(c.firstChunkTime + i*c.packet); !ok || at != want {
				t.Errorf("%s: packet %d at %v (%v), want %v", c.name, i, at, ok, want)
			}
		}
		if _, ok := ct.packet(ms(c.packet)); ok || len(ct.chunks) != 0 {
			t.Errorf("%s: %d chunks left after all packets", c.name, len(ct.chunks))
		}
	}
}

func writeY4M(t testing.TB, path string, w, h, frames int) {
	var b bytes.Buffer
	b.WriteString("YUV4MPEG2 W" + itoa(w) + " H" + itoa(h) + " F25:1 Ip A1:1 C420jpeg\n")
	for k := 0; k < frames; k++ {
		b.WriteString("FRAME\n")
		for i := 0; i < w*h*3/2; i++ {
			b.WriteByte(byte(i + k))
		}
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

func wavBytes(rate, channels int, samples []int16) []byte {
	data := make([]byte, 2*len(samples))
	for i, s := range samples {
		binary.LittleEndian.PutUint16(data[2*i:], uint16(s))
	}
	h := make([]byte, 44)
	copy(h, "RIFF")
	binary.LittleEndian.PutUint32(h[4:], uint32(36+len(data)))
	copy(h[8:], "WAVEfmt ")
	binary.LittleEndian.PutUint32(h[16:], 16)
	binary.LittleEndian.PutUint16(h[20:], 1)
	binary.LittleEndian.PutUint16(h[22:], uint16(channels))
	binary.LittleEndian.PutUint32(h[24:], uint32(rate))
	binary.LittleEndian.PutUint32(h[28:], uint32(rate*channels*2))
	binary.LittleEndian.PutUint16(h[32:], uint16(channels*2))
	binary.LittleEndian.PutUint16(h[34:], 16)
	copy(h[36:], "data")
	binary.LittleEndian.PutUint32(h[40:], uint32(len(data)))
	return append(h, data...)
}

func itoa(n int) string { return strconv.Itoa(n) }

func TestFileSources(t *testing.T) {
	dir := t.TempDir()
	y4m := filepath.Join(dir, "a.y4m")
	writeY4M(t, y4m, 64, 48, 3)
	wav := filepath.Join(dir, "a.wav")
	samples := make([]int16, 44100/10) // 0.1 s mono at 44.1 kHz
	for i := range samples {
		samples[i] = int16(10000 * math.Sin(float64(i)/10))
	}
	os.WriteFile(wav, wavBytes(44100, 1, samples), 0o644)

	ctx := context.Background()
	clk := NewClock()
	v, err := Open(ctx, clk, Source{Type: SourceFile, Arg: y4m}, KindVideo, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	if w, h := v.Size(); w != 64 || h != 48 {
		t.Errorf("size %dx%d, want 64x48", w, h)
	}
	var last time.Duration
	for i := 0; i < 7; i++ { // more than the file holds: it loops
		f, err := v.ReadFrame(ctx)
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		if i > 0 && f.MediaTime != last+40*time.Millisecond {
			t.Errorf("frame %d media time %v after %v, want +40 ms", i, f.MediaTime, last)
		}
		last = f.MediaTime
	}
	a, err := Open(ctx, clk, Source{Type: SourceFile, Arg: wav}, KindAudio, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	for i := 0; i < 8; i++ { // 160 ms from a 100 ms file: it loops
		if _, err := a.ReadFrame(ctx); err != nil {
			t.Fatalf("audio packet %d: %v", i, err)
		}
	}

	for name, src := range map[string]Source{
		"missing":       {Type: SourceFile, Arg: filepath.Join(dir, "missing.y4m")},
		"wav for video": {Type: SourceFile, Arg: wav},
	} {
		if _, err := Open(ctx, clk, src, KindVideo, Options{}); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	bad := filepath.Join(dir, "bad.y4m")
	os.WriteFile(bad, []byte("YUV4MPEG2 W0 H0\n"), 0o644)
	if _, err := Open(ctx, clk, Source{Type: SourceFile, Arg: bad}, KindVideo, Options{}); !errors.Is(err, ErrY4MHeader) {
		t.Errorf("bad header: %v", err)
	}
	noread := filepath.Join(dir, "noread.y4m")
	os.WriteFile(noread, nil, 0o000)
	if os.Getuid() != 0 {
		if _, err := Open(ctx, clk, Source{Type: SourceFile, Arg: noread}, KindVideo, Options{}); err == nil {
			t.Error("unreadable file: no error")
		}
	}
}

func TestFileThroughFFmpeg(t *testing.T) {
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		t.Skip("ffmpeg not installed")
	}
	dir := t.TempDir()
	mkv := filepath.Join(dir, "clip.mkv")
	out, err := exec.Command("ffmpeg", "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i", "testsrc=size=160x120:rate=10",
		"-f", "lavfi", "-i", "sine=f=440", "-t", "1", "-c:v", "ffv1", "-c:a", "flac", mkv).CombinedOutput()
	if err != nil {
		t.Fatalf("make fixture: %v\n%s", err, out)
	}
	ctx := context.Background()
	clk := NewClock()
	for _, k := range []Kind{KindVideo, KindAudio} {
		tr, err := Open(ctx, clk, Source{Type: SourceFile, Arg: mkv}, k, Options{Width: 160, Height: 120, FPS: 10})
		if err != nil {
			t.Fatalf("%v: %v", k, err)
		}
		for i := 0; i < 3; i++ {
			if _, err := tr.ReadFrame(ctx); err != nil {
				t.Fatalf("%v frame %d: %v", k, i, err)
			}
		}
		tr.Close()
	}
}

func TestNoDevicesHere(t *testing.T) {
	devs, err := ListDevices()
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range devs {
		if strings.Contains(strings.ToLower(d.Label), "null") {
			t.Errorf("listed %q, which cannot capture", d.Label)
		}
	}
	if len(devs) == 0 {
		_, err := Open(context.Background(), NewClock(), Source{Type: SourceDevice, Arg: "Integrated Camera"}, KindVideo, Options{})
		if err == nil || !strings.Contains(err.Error(), "no camera found") {
			t.Errorf("device on a machine without cameras: %v", err)
		}
	}
}

func FuzzY4M(f *testing.F) {
	var b bytes.Buffer
	b.WriteString("YUV4MPEG2 W4 H2 F30:1 C420\nFRAME\n")
	b.Write(make([]byte, 12))
	f.Add(b.Bytes())
	f.Add([]byte("YUV4MPEG2 W1 H1\nFRAME\n\x00"))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := NewY4MReader(bytes.NewReader(data))
		if err != nil {
			return
		}
		h := r.Header()
		if h.Width <= 0 || h.Height <= 0 || h.Width > maxY4MDim || h.FPSNum <= 0 || h.FPSDen <= 0 {
			t.Fatalf("accepted header %+v", h)
		}
		for {
			img, err := r.ReadFrame()
			if err != nil {
				return
			}
			if img.Rect.Dx() != h.Width || img.Rect.Dy() != h.Height {
				t.Fatalf("frame %v for header %+v", img.Rect, h)
			}
		}
	})
}

func FuzzWAV(f *testing.F) {
	f.Add(wavBytes(48000, 2, []int16{1, 2, 3, 4}))
	f.Add([]byte("RIFF\x00\x00\x00\x00WAVE"))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := NewWAVReader(bytes.NewReader(data))
		if err != nil {
			return
		}
		ff := r.Format()
		if ff.Channels < 1 || ff.Bits != 16 || ff.SampleRate < 8000 {
			t.Fatalf("accepted format %+v", ff)
		}
		buf := make([]float32, 64*ff.Channels)
		for {
			n, err := r.Read(buf)
			if err == io.EOF {
				return
			}
			if err != nil || n <= 0 || n > 64 {
				t.Fatalf("Read = %d, %v", n, err)
			}
		}
	})
}

func BenchmarkTestPicture(b *testing.B) {
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		TestPicture(640, 480, time.Duration(i)*33*time.Millisecond+200*time.Millisecond)
	}
}

func TestPreviewAndLevelTaps(t *testing.T) {
	clk := NewClock()
	var previews int
	var size image.Point
	peak := math.Inf(-1)
	opts := Options{Width: 160, Height: 120, PreviewInterval: 60 * time.Millisecond,
		Preview: func(img image.Image) { previews++; size = img.Bounds().Size() },
		Level:   func(db float64) { peak = math.Max(peak, db) }}
	v, err := Open(context.Background(), clk, Source{Type: SourceTest}, KindVideo, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	a, err := Open(context.Background(), clk, Source{Type: SourceTest}, KindAudio, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	for range 30 { // 1 s at 30 fps: at most ~17 previews at one per 60 ms
		if _, err := v.ReadFrame(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	for range 60 { // 1.2 s of 20 ms chunks: one beep at least
		if _, err := a.ReadFrame(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if previews < 5 || previews > 20 || size != image.Pt(160, 120) {
		t.Errorf("%d previews of %v in 30 frames, want 5..20 of 160x120", previews, size)
	}
	if peak < -12 || peak > 0 {
		t.Errorf("peak %.1f dBFS over a beep", peak)
	}
}

func TestPreviewReader(t *testing.T) {
	p, err := OpenPreview(Source{Type: SourceTest}, Options{Width: 320, Height: 240, FPS: 30})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	for range 3 {
		var size image.Point
		if err := p.Read(func(img image.Image) { size = img.Bounds().Size() }); err != nil || size != image.Pt(320, 240) {
			t.Fatalf("frame of %v: %v", size, err)
		}
	}
	if _, err := OpenPreview(Source{Type: SourceFile, Arg: filepath.Join(t.TempDir(), "none.y4m")}, Options{}); err == nil {
		t.Error("a missing file opened")
	}
}

// A live source never falls behind real time: when the encoder is slower
// than the frame rate, frames are skipped (and counted), not queued. Runs
// in a synctest bubble: the capture clock and the slow encoder's 60 ms are
// the bubble's fake time, whatever the machine is doing.
func TestSlowEncoderSkipsFrames(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		clk := NewClock()
		v, err := Open(context.Background(), clk, Source{Type: SourceTest}, KindVideo, Options{Width: 160, Height: 120, FPS: 50})
		if err != nil {
			t.Fatal(err)
		}
		defer v.Close()
		var lag time.Duration
		for range 25 {
			f, err := v.ReadFrame(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			lag = clk.Now() - f.MediaTime
			time.Sleep(60 * time.Millisecond) // an encoder three frames slow
		}
		skipped := v.(interface{ SkippedFrames() uint64 }).SkippedFrames()
		// Queued, the 25th frame would be 25 × 40 ms = 1 s behind.
		if lag > 500*time.Millisecond || skipped < 25 {
			t.Errorf("after 25 slow reads: %v behind the clock, %d frames skipped", lag, skipped)
		}
	})
}

// opusFrameDuration is the frame duration a TOC byte's configuration
// number says (RFC 6716 §3.1, Table 2).
func opusFrameDuration(toc byte) time.Duration {
	config := int(toc >> 3)
	switch {
	case config < 12: // SILK-only: 10, 20, 40, 60 ms
		return []time.Duration{10, 20, 40, 60}[config%4] * time.Millisecond
	case config < 16: // hybrid: 10, 20 ms
		return []time.Duration{10, 20}[config%2] * time.Millisecond
	default: // CELT-only: 2.5, 5, 10, 20 ms
		return []time.Duration{2500, 5000, 10000, 20000}[config%4] * time.Microsecond
	}
}

// The H.264 test source: keyframes (IDR access units) where asked for,
// each frame an Annex B access unit.
func TestH264TestSource(t *testing.T) {
	clk := NewClock()
	v, err := Open(context.Background(), clk, Source{Type: SourceTest}, KindVideo,
		Options{Width: 320, Height: 240, FPS: 30, VideoCodec: "H264", KeyframeInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	if c := v.Codec(); c.Name != "H264" || c.ClockRate != 90000 {
		t.Fatalf("codec %+v", c)
	}
	var keys []int
	for i := range 12 {
		if i == 6 {
			v.RequestKeyFrame()
		}
		f, err := v.ReadFrame(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.HasPrefix(f.Data, []byte{0, 0, 0, 1}) && !bytes.HasPrefix(f.Data, []byte{0, 0, 1}) {
			t.Fatalf("frame %d is not Annex B: %x", i, f.Data[:min(8, len(f.Data))])
		}
		if f.Keyframe {
			keys = append(keys, i)
		}
	}
	if len(keys) != 2 || keys[0] != 0 || keys[1] < 6 || keys[1] > 8 {
		t.Errorf("keyframes at %v, want the first and one right after the request at 6", keys)
	}
}
