package media

import (
	"errors"
	"fmt"
	"image"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pion/mediadevices/pkg/frame"
	"github.com/pion/mediadevices/pkg/io/audio"
	"github.com/pion/mediadevices/pkg/io/video"
	"github.com/pion/mediadevices/pkg/prop"
	"github.com/pion/mediadevices/pkg/wave"
)

// ErrNoFFmpeg reports that a file needs ffmpeg, which is not installed.
var ErrNoFFmpeg = errors.New("ffmpeg not found")

// openFile opens a file source: .y4m and .wav natively, anything else
// through ffmpeg. The file is checked now, so a bad path fails at once.
func openFile(clk *Clock, path string, kind Kind, o Options) (rawSource, error) {
	ext := strings.ToLower(filepath.Ext(path))
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("file source: %w", err)
	}
	var open func() (io.ReadCloser, error)
	switch {
	case ext == ".y4m" && kind == KindVideo, ext == ".wav" && kind == KindAudio:
		open = func() (io.ReadCloser, error) { return os.Open(path) }
	case ext == ".y4m" || ext == ".wav":
		return nil, fmt.Errorf("file source %s has no %s", path, kind)
	default:
		ff, err := exec.LookPath("ffmpeg")
		if err != nil {
			return nil, fmt.Errorf("file source %s: %w: install ffmpeg to read %s files, or convert to .y4m/.wav", path, ErrNoFFmpeg, ext)
		}
		open = func() (io.ReadCloser, error) { return ffmpegPipe(ff, path, kind, o) }
	}
	fs := &fileSource{clk: clk, path: path, open: open, loop: !o.NoLoop, video: kind == KindVideo}
	// Read the header now: errors surface at Open, and the format is known.
	if err := fs.reopen(); err != nil {
		return nil, fmt.Errorf("file source %s: %w", path, err)
	}
	if kind == KindVideo {
		return &fileVideo{fs}, nil
	}
	return &fileAudio{fileSource: fs, buf: make([]float32, 0, 4096)}, nil
}

// fileSource paces a file in real time on the Clock, looping by default;
// media time keeps increasing across loops.
type fileSource struct {
	driverBase
	clk   *Clock
	path  string
	open  func() (io.ReadCloser, error)
	loop  bool
	video bool

	mu   sync.Mutex // guards the readers below against Close
	rc   io.ReadCloser
	y4m  *Y4MReader
	wav  *WAVReader
	base time.Duration // media time of the current loop's start
	next time.Duration // media time of the next frame or chunk
}

func (f *fileSource) label() string { return "file " + filepath.Base(f.path) }

func (f *fileSource) reopen() error {
	if f.rc != nil {
		f.rc.Close()
	}
	rc, err := f.open()
	if err != nil {
		return err
	}
	f.rc = rc
	if f.video {
		f.y4m, err = NewY4MReader(rc)
	} else {
		f.wav, err = NewWAVReader(rc)
	}
	if err != nil {
		rc.Close()
	}
	return err
}

func (f *fileSource) Close() error {
	f.driverBase.Close()
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.rc != nil {
		f.rc.Close()
	}
	return nil
}

type fileVideo struct{ *fileSource }

func (v *fileVideo) Properties() []prop.Media {
	h := v.y4m.Header()
	return []prop.Media{{Video: prop.Video{Width: h.Width, Height: h.Height, FrameRate: float32(h.FPS()), FrameFormat: frame.FormatI420}}}
}

func (v *fileVideo) VideoRecord(prop.Media) (video.Reader, error) {
	done := v.doneCh()
	period := time.Duration(float64(time.Second) / v.y4m.Header().FPS())
	read := func() (image.Image, error) {
		img, err := v.y4m.ReadFrame()
		if err == io.EOF && v.loop && v.next > v.base {
			v.base = v.next
			if err = v.reopen(); err == nil {
				img, err = v.y4m.ReadFrame()
			}
		}
		return img, err
	}
	return video.ReaderFunc(func() (image.Image, func(), error) {
		v.mu.Lock()
		// A live source never queues: frames whose time passed while the
		// encoder was busy are skipped, so each frame goes out at its time.
		for v.clk.Now()-v.next > period {
			if _, err := read(); err != nil {
				v.mu.Unlock()
				return nil, func() {}, err
			}
			v.next += period
			v.skipped.Add(1)
		}
		img, err := read()
		t := v.next
		v.next += period
		v.mu.Unlock()
		if err != nil {
			return nil, func() {}, err
		}
		if !v.clk.sleepUntil(done, t) {
			return nil, func() {}, io.EOF
		}
		v.setMediaTime(t)
		return img, func() {}, nil
	}), nil
}

type fileAudio struct {
	*fileSource
	buf []float32
	pos float64 // resampler position in source frames
}

func (a *fileAudio) Properties() []prop.Media {
	return []prop.Media{{Audio: prop.Audio{SampleRate: audioRate, ChannelCount: audioChannels, Latency: audioChunk,
		IsFloat: true, IsInterleaved: true}}}
}

// AudioRecord resamples the file to 48 kHz stereo (linear interpolation)
// and returns it in 20 ms chunks.
func (a *fileAudio) AudioRecord(prop.Media) (audio.Reader, error) {
	done := a.doneCh()
	return audio.ReaderFunc(func() (wave.Audio, func(), error) {
		chunk := wave.NewFloat32Interleaved(wave.ChunkInfo{Channels: audioChannels, Len: chunkSamples, SamplingRate: audioRate})
		a.mu.Lock()
		err := a.fill(chunk.Data)
		t := a.next
		a.next += audioChunk
		a.mu.Unlock()
		if err != nil {
			return nil, func() {}, err
		}
		if !a.clk.sleepUntil(done, t) {
			return nil, func() {}, io.EOF
		}
		a.setMediaTime(t)
		return chunk, func() {}, nil
	}), nil
}

// fill writes one chunk of 48 kHz stereo into dst.
func (a *fileAudio) fill(dst []float32) error {
	f := a.wav.Format()
	step := float64(f.SampleRate) / audioRate
	for i := 0; i < len(dst)/audioChannels; i++ {
		for int(a.pos)+1 >= len(a.buf)/f.Channels {
			if err := a.more(); err != nil {
				return err
			}
		}
		i0 := int(a.pos)
		frac := float32(a.pos - float64(i0))
		for c := 0; c < audioChannels; c++ {
			sc := min(c, f.Channels-1)
			s0, s1 := a.buf[i0*f.Channels+sc], a.buf[(i0+1)*f.Channels+sc]
			dst[i*audioChannels+c] = s0 + (s1-s0)*frac
		}
		a.pos += step
	}
	return nil
}

// more appends source samples to buf, dropping those already consumed.
func (a *fileAudio) more() error {
	ch := a.wav.Format().Channels
	if used := int(a.pos); used > 0 {
		a.buf = append(a.buf[:0], a.buf[used*ch:]...)
		a.pos -= float64(used)
	}
	tmp := make([]float32, 1024*ch)
	n, err := a.wav.Read(tmp)
	if err == io.EOF {
		if !a.loop || a.next == a.base {
			return io.EOF
		}
		a.base = a.next
		if err := a.reopen(); err != nil {
			return err
		}
		n, err = a.wav.Read(tmp)
	}
	if err != nil {
		return err
	}
	a.buf = append(a.buf, tmp[:n*ch]...)
	return nil
}

// ffmpegPipe decodes any file ffmpeg reads into Y4M (video, scaled to the
// requested size and frame rate) or 48 kHz stereo WAV (audio) on a pipe.
func ffmpegPipe(ff, path string, kind Kind, o Options) (io.ReadCloser, error) {
	args := []string{"-hide_banner", "-loglevel", "error", "-nostdin", "-i", path}
	if kind == KindVideo {
		args = append(args, "-an", "-f", "yuv4mpegpipe", "-pix_fmt", "yuv420p",
			"-vf", fmt.Sprintf("scale=%d:%d", o.Width, o.Height), "-r", strconv.FormatFloat(o.FPS, 'f', -1, 64), "-")
	} else {
		args = append(args, "-vn", "-f", "wav", "-acodec", "pcm_s16le", "-ar", "48000", "-ac", "2", "-")
	}
	cmd := exec.Command(ff, args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("ffmpeg: %w", err)
	}
	return &cmdReader{ReadCloser: out, cmd: cmd, stderr: &stderr}, nil
}

type cmdReader struct {
	io.ReadCloser
	cmd    *exec.Cmd
	stderr *strings.Builder
}

func (c *cmdReader) Read(p []byte) (int, error) {
	n, err := c.ReadCloser.Read(p)
	if err == io.EOF && n == 0 {
		if werr := c.cmd.Wait(); werr != nil && c.stderr.Len() > 0 {
			return 0, fmt.Errorf("ffmpeg: %s", strings.TrimSpace(c.stderr.String()))
		}
	}
	return n, err
}

func (c *cmdReader) Close() error {
	c.ReadCloser.Close()
	if c.cmd.ProcessState == nil {
		_ = c.cmd.Process.Kill()
		_ = c.cmd.Wait()
	}
	return nil
}
