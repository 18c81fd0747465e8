// Package media captures and encodes the sender's audio and video. Sources
// are pion/mediadevices drivers — the built-in test source, Y4M/WAV files
// (other formats through ffmpeg), real cameras (v4l2) and microphones — and
// frames are encoded with VP8 (libvpx configured for live video, package
// vp8enc, RFC 6386) and Opus (libopus through mediadevices, RFC 6716).
package media

import (
	"context"
	"errors"
	"fmt"
	"image"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	"github.com/pion/mediadevices/pkg/driver"
	"github.com/pion/mediadevices/pkg/io/video"
)

// Kind is a track's media kind.
type Kind int

const (
	KindVideo Kind = iota
	KindAudio
)

func (k Kind) String() string {
	if k == KindAudio {
		return "audio"
	}
	return "video"
}

// Codec describes an encoded track.
type Codec struct {
	Name      string // "VP8", "H264" or "opus"
	ClockRate uint32 // RTP clock rate, Hz
	Channels  uint16 // audio
}

var (
	codecVP8  = Codec{Name: "VP8", ClockRate: 90000}
	codecH264 = Codec{Name: "H264", ClockRate: 90000}
	codecOpus = Codec{Name: "opus", ClockRate: 48000, Channels: 2}
)

// Frame is one encoded frame.
type Frame struct {
	Data []byte // one VP8 frame, one H.264 access unit (Annex B) or one 10 ms Opus packet
	// MediaTime is the capture instant of the frame's first sample on the
	// broadcast's Clock.
	MediaTime time.Duration
	Keyframe  bool
	// NonReference: no later frame is predicted from this one (VP8's
	// every other frame, vp8enc.Config.Layers); it is sent with the N bit
	// (RFC 7741 §4.2) for receivers that fall behind to leave out.
	NonReference bool
}

// CloseTracks closes every track that is not nil.
func CloseTracks(tracks ...Track) {
	for _, t := range tracks {
		if t != nil {
			t.Close()
		}
	}
}

// Track is an encoded source.
type Track interface {
	Kind() Kind
	Codec() Codec
	// ReadFrame blocks until the next frame. It returns io.EOF at the end
	// of a source that does not loop, and the source's error when it fails
	// (a device unplugged).
	ReadFrame(ctx context.Context) (Frame, error)
	// RequestKeyFrame makes the next video frame a keyframe (on PLI).
	RequestKeyFrame()
	// Size returns the video frame size in pixels (0, 0 for audio).
	Size() (width, height int)
	Close() error
}

// Options configure sources and encoders. The zero value means the defaults.
type Options struct {
	Width, Height    int           // pixels; default 1280×720
	FPS              float64       // frames per second; default 30
	VideoBitrate     int           // bit/s; default 1 000 000
	AudioBitrate     int           // bit/s; default 64 000
	KeyframeInterval time.Duration // default 2 s
	// VideoCodec is "VP8" (default; libvpx) or "H264" (OpenH264,
	// constrained baseline, through pion/mediadevices).
	VideoCodec string
	NoLoop     bool // files end instead of looping
	Logger     *slog.Logger

	// Preview, when set, sees the raw video frames before encoding, at
	// most one per PreviewInterval (default 33 ms), in the capture
	// goroutine: it must return quickly and must not keep img (copy it).
	Preview         func(img image.Image)
	PreviewInterval time.Duration
	// Level, when set, gets the peak level of each raw audio chunk in
	// dBFS (-inf..0), in the capture goroutine.
	Level func(dBFS float64)
	// Muted and Blank, when set and true, replace the sound with silence
	// and the picture with black before encoding (mute, camera off in a
	// call): the tracks go on, their timing intact, at a few kbit/s, so a
	// receiver needs no new catalog to take them back.
	Muted, Blank *atomic.Bool
	// Echo, when set, takes the far end of a call out of each raw audio
	// chunk (acoustic echo cancellation) before muting, the level and the
	// encoder: interleaved 16-bit samples at 48 kHz with the given
	// channels, changed in place, in the capture goroutine.
	Echo func(pcm []int16, channels int)
}

func (o Options) withDefaults() Options {
	if o.Width <= 0 || o.Height <= 0 {
		o.Width, o.Height = 1280, 720
	}
	o.Width, o.Height = o.Width&^1, o.Height&^1
	if o.FPS <= 0 {
		o.FPS = 30
	}
	if o.VideoBitrate <= 0 {
		o.VideoBitrate = 1_000_000
	}
	if o.AudioBitrate <= 0 {
		o.AudioBitrate = 64_000
	}
	if o.KeyframeInterval <= 0 || o.KeyframeInterval > 2*time.Second {
		o.KeyframeInterval = 2 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.PreviewInterval <= 0 {
		o.PreviewInterval = 33 * time.Millisecond
	}
	return o
}

// SourceType is what a Source reads from.
type SourceType int

const (
	SourceNone SourceType = iota
	SourceTest
	SourceFile
	SourceDevice
)

// Source names a source: "test", "file:PATH", "device:ID-or-label" or "none".
type Source struct {
	Type SourceType
	Arg  string // the path or device ID/label
}

func (s Source) String() string {
	switch s.Type {
	case SourceTest:
		return "test"
	case SourceFile:
		return "file:" + s.Arg
	case SourceDevice:
		return "device:" + s.Arg
	}
	return "none"
}

// ErrBadSource reports a source string ParseSource does not know.
var ErrBadSource = errors.New("bad source")

// ParseSource parses a source string.
func ParseSource(s string) (Source, error) {
	switch {
	case s == "test":
		return Source{Type: SourceTest}, nil
	case s == "none" || s == "":
		return Source{Type: SourceNone}, nil
	case strings.HasPrefix(s, "file:") && len(s) > len("file:"):
		return Source{Type: SourceFile, Arg: s[len("file:"):]}, nil
	case strings.HasPrefix(s, "device:") && len(s) > len("device:"):
		return Source{Type: SourceDevice, Arg: s[len("device:"):]}, nil
	}
	return Source{}, fmt.Errorf("%w %q: want test, file:PATH, device:ID-or-label or none", ErrBadSource, s)
}

// Clock is the capture clock of one broadcast: audio and video media times
// are measured from the same instant, so the receiver can line them up.
type Clock struct {
	start time.Time
}

// NewClock starts a capture clock now.
func NewClock() *Clock { return &Clock{start: time.Now()} }

// Start returns the wall-clock instant of media time 0.
func (c *Clock) Start() time.Time { return c.start }

// Now returns the current media time.
func (c *Clock) Now() time.Duration { return time.Since(c.start) }

// sleepUntil waits until media time t; it returns ctx's error if ctx ends
// first.
func (c *Clock) sleepUntil(done <-chan struct{}, t time.Duration) bool {
	d := time.Until(c.start.Add(t))
	if d <= 0 {
		return true
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return true
	case <-done:
		return false
	}
}

// Open opens src for kind and returns its encoded track; nil and no error
// for SourceNone.
func Open(ctx context.Context, clk *Clock, src Source, kind Kind, opts Options) (Track, error) {
	opts = opts.withDefaults()
	raw, err := openRaw(clk, src, kind, opts)
	if err != nil || raw == nil {
		return nil, err
	}
	return newEncodedTrack(raw, kind, opts)
}

func openRaw(clk *Clock, src Source, kind Kind, opts Options) (rawSource, error) {
	switch src.Type {
	case SourceNone:
		return nil, nil
	case SourceTest:
		if kind == KindVideo {
			return newTestVideo(clk, opts), nil
		}
		return newTestAudio(clk), nil
	case SourceFile:
		return openFile(clk, src.Arg, kind, opts)
	case SourceDevice:
		return openDevice(clk, src.Arg, kind, opts)
	}
	return nil, fmt.Errorf("%w: %v", ErrBadSource, src)
}

// PreviewReader is raw video for a self view, without an encoder.
type PreviewReader struct {
	src rawSource
	r   video.Reader
}

// OpenPreview opens src's raw video, paced as a broadcast would be. A
// camera is opened for real: close the preview before broadcasting from the
// same camera.
func OpenPreview(src Source, opts Options) (*PreviewReader, error) {
	opts = opts.withDefaults()
	raw, err := openRaw(NewClock(), src, KindVideo, opts)
	if err != nil {
		return nil, err
	}
	if raw == nil {
		return nil, errors.New("no video source")
	}
	if err := raw.Open(); err != nil {
		return nil, fmt.Errorf("open %s: %w", raw.label(), err)
	}
	rec, ok := raw.(driver.VideoRecorder)
	props := raw.Properties()
	if !ok || len(props) == 0 {
		raw.Close()
		return nil, fmt.Errorf("%s is not a video source", raw.label())
	}
	r, err := rec.VideoRecord(props[0])
	if err != nil {
		raw.Close()
		return nil, fmt.Errorf("%s: %w", raw.label(), err)
	}
	return &PreviewReader{src: raw, r: r}, nil
}

// Read waits for the next frame and hands it to use, which must not keep
// it (copy it).
func (p *PreviewReader) Read(use func(image.Image)) error {
	img, release, err := p.r.Read()
	if release != nil {
		defer release()
	}
	if err == nil && img != nil {
		use(img)
	}
	return err
}

// Close releases the source.
func (p *PreviewReader) Close() error { return p.src.Close() }
