// Package broadcast runs one broadcast of the desktop window in the
// background: it opens the sources, performs the publish handshake, runs
// the sender engine, and keeps a status, a preview frame and an audio level
// the window reads at its own pace. Nothing here runs on the UI goroutine.
package broadcast

import (
	"context"
	"errors"
	"image"
	"image/color"
	"log/slog"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/quicast/quicast/protocol"
	"github.com/quicast/quicast/sender"
	"github.com/quicast/quicast/sender/media"
)

// Config is one broadcast.
type Config struct {
	sender.PublishConfig
	Video, Audio media.Source
	Options      media.Options // size, frame rate, bitrates
	Logger       *slog.Logger
	// Changed is called (from any goroutine) when the status changed or a
	// new preview frame is ready; the window invalidates itself.
	Changed func()
	// PreviewChanged, when set, is called for a new preview frame instead
	// of Changed: a window that redraws for other pictures anyway (a
	// call) can let its self view wait for the next of those redraws.
	PreviewChanged func()
	// HidePreview starts the broadcast without the self view (no frame
	// copied, no redraw per frame); ShowPreview changes it later.
	HidePreview bool
	// Peer, when set, sends straight to the other side of a direct call
	// (sender/peercall) with this session instead of publishing to a
	// relay (PublishConfig is not used).
	Peer *sender.Session
}

// State is where a broadcast is.
type State int

const (
	Starting State = iota
	Live
	Reconnecting // the relay was lost; Link says which attempt and when
	Stopped      // by Stop
	Failed       // Err says why
)

// Problem sorts the errors a person can act on.
type Problem int

const (
	NoProblem Problem = iota
	BadKey
	NoStream
	Untrusted
	Unreachable
	RelayGone
	DeviceBusy // could not open
	DeviceGone // failed mid-broadcast
	FileError
	StreamLive // another sender is live on the stream; Config.Takeover replaces it
	TakenOver  // another sender took the stream over
	Revoked    // the stream's publish key was changed on the relay
	Other
)

// Status is a snapshot.
type Status struct {
	State    State
	Err      error
	Problem  Problem
	Kind     media.Kind // of the failing source, for DeviceBusy/DeviceGone
	WatchURL string
	Started  time.Time // when the broadcast went live
	Stats    sender.Stats
	Link     sender.LinkStatus // while Reconnecting: the attempt, when, and why
}

// Broadcast is a running broadcast. Stop ends it and waits.
type Broadcast struct {
	cfg    Config
	cancel context.CancelFunc
	done   chan struct{}

	mu     sync.Mutex
	status Status
	eng    *sender.Engine

	preview   atomic.Pointer[image.RGBA]
	previewOn atomic.Bool
	pmu       sync.Mutex    // orders turning the self view off against storing a frame
	level     atomic.Uint64 // math.Float64bits of the last peak, dBFS
	muted     atomic.Bool   // the microphone's sound replaced by silence
	blank     atomic.Bool   // the camera's picture replaced by black
}

// Start begins a broadcast in the background.
func Start(cfg Config) *Broadcast {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Changed == nil {
		cfg.Changed = func() {}
	}
	if cfg.PreviewChanged == nil {
		cfg.PreviewChanged = cfg.Changed
	}
	ctx, cancel := context.WithCancel(context.Background())
	b := &Broadcast{cfg: cfg, cancel: cancel, done: make(chan struct{})}
	b.level.Store(math.Float64bits(math.Inf(-1)))
	b.previewOn.Store(!cfg.HidePreview)
	go b.run(ctx)
	return b
}

// Stop ends the broadcast, releases the camera and microphone, and waits
// for every goroutine of it.
func (b *Broadcast) Stop() {
	b.cancel()
	<-b.done
}

// ShowPreview turns the self view on or off; off, Preview returns nil.
func (b *Broadcast) ShowPreview(on bool) {
	b.pmu.Lock()
	b.previewOn.Store(on)
	if !on {
		b.preview.Store(nil)
	}
	b.pmu.Unlock()
	b.cfg.Changed()
}

// SetMuted mutes or unmutes the microphone: silence is sent meanwhile, so
// the other side's player keeps its timing and needs no new catalog.
func (b *Broadcast) SetMuted(on bool) { b.muted.Store(on); b.cfg.Changed() }

// Muted reports whether the microphone is muted.
func (b *Broadcast) Muted() bool { return b.muted.Load() }

// SetCameraOff turns the picture black (camera off) or back on; the
// camera stays open, so it comes back at once.
func (b *Broadcast) SetCameraOff(on bool) { b.blank.Store(on); b.cfg.Changed() }

// CameraOff reports whether the picture is turned off.
func (b *Broadcast) CameraOff() bool { return b.blank.Load() }

// Done is closed when the broadcast has ended.
func (b *Broadcast) Done() <-chan struct{} { return b.done }

// Status returns a snapshot with fresh engine counters.
func (b *Broadcast) Status() Status {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := b.status
	if b.eng != nil {
		s.Stats = b.eng.Stats()
		s.Link = s.Stats.Link
		if s.State == Live && s.Link.State == sender.LinkReconnecting {
			s.State = Reconnecting
		}
	}
	return s
}

// Preview returns the latest self-view frame (a new image each time), or nil.
func (b *Broadcast) Preview() *image.RGBA { return b.preview.Load() }

// Level returns the latest audio peak in dBFS (-inf when silent or none).
func (b *Broadcast) Level() float64 { return math.Float64frombits(b.level.Load()) }

func (b *Broadcast) set(f func(*Status)) {
	b.mu.Lock()
	f(&b.status)
	b.mu.Unlock()
	b.cfg.Changed()
}

func (b *Broadcast) fail(err error, p Problem, k media.Kind) {
	b.set(func(s *Status) { s.State, s.Err, s.Problem, s.Kind = Failed, err, p, k })
}

func (b *Broadcast) run(ctx context.Context) {
	defer close(b.done)
	opts := b.cfg.Options
	opts.Logger = b.cfg.Logger
	opts.Preview = func(img image.Image) {
		if !b.previewOn.Load() {
			return
		}
		t := Thumbnail(img, 480)
		// Stored only if the self view is still on: hiding it while the
		// thumbnail was made must not leave a frame behind.
		b.pmu.Lock()
		if b.previewOn.Load() {
			b.preview.Store(t)
		}
		b.pmu.Unlock()
		b.cfg.PreviewChanged()
	}
	// The preview's frames redraw the level meter too; without them the
	// level asks for a redraw itself, at most every 66 ms (15 Hz).
	var lastLevelRedraw time.Time
	opts.Muted, opts.Blank = &b.muted, &b.blank
	opts.Level = func(db float64) {
		b.level.Store(math.Float64bits(db))
		if b.previewOn.Load() && b.cfg.Video.Type != media.SourceNone {
			return
		}
		if now := time.Now(); now.Sub(lastLevelRedraw) >= 66*time.Millisecond {
			lastLevelRedraw = now
			b.cfg.Changed()
		}
	}
	clk := media.NewClock()
	open := func(src media.Source, k media.Kind) (media.Track, bool) {
		t, err := media.Open(ctx, clk, src, k, opts)
		if err != nil {
			p := DeviceBusy
			if src.Type == media.SourceFile {
				p = FileError
			}
			b.fail(err, p, k)
			return nil, false
		}
		return t, true
	}
	video, ok := open(b.cfg.Video, media.KindVideo)
	if !ok {
		return
	}
	audio, ok := open(b.cfg.Audio, media.KindAudio)
	if !ok {
		if video != nil {
			video.Close()
		}
		return
	}
	closeAll := func() { media.CloseTracks(video, audio) }
	if video == nil && audio == nil {
		b.fail(sender.ErrNoTracks, Other, 0)
		return
	}
	vo, ao := sender.Offers(video, audio)
	var sess sender.Session
	var pr protocol.PublishResponse
	var err error
	if b.cfg.Peer != nil {
		sess = *b.cfg.Peer
	} else {
		sess, pr, err = sender.Publish(ctx, b.cfg.PublishConfig, vo, ao)
	}
	if err != nil {
		closeAll()
		if ctx.Err() != nil {
			b.set(func(s *Status) { s.State = Stopped })
			return
		}
		b.fail(err, problemOf(err, Unreachable), 0)
		return
	}
	// Publishing again after a loss takes over only from ourselves.
	renew := b.cfg.PublishConfig
	renew.Takeover = false
	ecfg := sender.Config{Session: sess, Clock: clk, Video: video, Audio: audio,
		Logger: b.cfg.Logger, Renew: sender.Renewer(renew, vo, ao),
		OnLink: func(sender.LinkStatus) { b.cfg.Changed() }}
	if b.cfg.Peer != nil {
		ecfg.Renew = nil // the other side is there or the call is over
	}
	eng, err := sender.New(ctx, ecfg)
	if err != nil {
		closeAll()
		b.fail(err, Other, 0)
		return
	}
	b.mu.Lock()
	b.eng = eng
	b.status.State, b.status.WatchURL, b.status.Started = Live, pr.WatchURL, time.Now()
	b.mu.Unlock()
	b.cfg.Changed()

	// Refresh the window once a second for the counters.
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
			b.cfg.Changed()
			continue
		case <-eng.Done():
		}
		break
	}
	eng.Close() // says BYE, closes the tracks, waits for the engine's goroutines
	err = eng.Err()
	var se *sender.SourceError
	switch {
	case err == nil || ctx.Err() != nil:
		b.set(func(s *Status) { s.State, s.Stats = Stopped, eng.Stats() })
	case errors.As(err, &se):
		p := DeviceGone
		if b.sourceOf(se.Kind).Type == media.SourceFile {
			p = FileError
		}
		b.fail(err, p, se.Kind)
	default:
		b.fail(err, problemOf(err, Other), 0)
	}
}

func (b *Broadcast) sourceOf(k media.Kind) media.Source {
	if k == media.KindAudio {
		return b.cfg.Audio
	}
	return b.cfg.Video
}

// problemOf sorts an error of the publish handshake or of the engine;
// fallback is for the rest.
func problemOf(err error, fallback Problem) Problem {
	for _, c := range []struct {
		err error
		p   Problem
	}{
		{sender.ErrBadKey, BadKey}, {sender.ErrNoStream, NoStream}, {sender.ErrUntrusted, Untrusted},
		{sender.ErrLive, StreamLive}, {sender.ErrTakenOver, TakenOver}, {sender.ErrRevoked, Revoked},
		{sender.ErrRelayGone, RelayGone},
	} {
		if errors.Is(err, c.err) {
			return c.p
		}
	}
	return fallback
}

// Thumbnail scales img down to at most maxW pixels wide (nearest
// neighbour) into a new RGBA image: Gio uploads an image once per
// paint.ImageOp, so every frame needs its own. Video frames (YCbCr, any
// subsampling) are taken as what cameras, VP8 (RFC 6386 §9.2) and H.264
// give: ITU-R BT.601 in studio range (Y 16–235, Cb and Cr 16–240), as
// browsers draw them; image/color's conversion is JFIF's full range and
// would show black as dark grey and white as light grey. Offsets per
// column are computed once and the conversion is written out in the loop.
func Thumbnail(img image.Image, maxW int) *image.RGBA {
	r := img.Bounds()
	w, h := r.Dx(), r.Dy()
	if w == 0 || h == 0 || maxW <= 0 {
		return nil
	}
	tw, th := w, h
	if tw > maxW {
		tw, th = maxW, max(1, h*maxW/w)
	}
	out := image.NewRGBA(image.Rect(0, 0, tw, th))
	yc, ok := img.(*image.YCbCr)
	if !ok {
		for y := range th {
			sy := r.Min.Y + y*h/th
			row := out.Pix[y*out.Stride:]
			for x := range tw {
				c := color.NRGBAModel.Convert(img.At(r.Min.X+x*w/tw, sy)).(color.NRGBA)
				row[4*x], row[4*x+1], row[4*x+2], row[4*x+3] = c.R, c.G, c.B, 0xff
			}
		}
		return out
	}
	// Column offsets from the row's first sample, the same on every row.
	xy := make([]int, tw)
	xc := make([]int, tw)
	c0 := yc.COffset(r.Min.X, r.Min.Y)
	for x := range tw {
		sx := r.Min.X + x*w/tw
		xy[x] = sx - r.Min.X
		xc[x] = yc.COffset(sx, r.Min.Y) - c0
	}
	for y := range th {
		sy := r.Min.Y + y*h/th
		yRow := yc.Y[yc.YOffset(r.Min.X, sy):]
		ci := yc.COffset(r.Min.X, sy)
		cbRow, crRow := yc.Cb[ci:], yc.Cr[ci:]
		row := out.Pix[y*out.Stride : y*out.Stride+4*tw]
		for x := range tw {
			p := row[4*x : 4*x+4 : 4*x+4]
			p[0], p[1], p[2] = studioToRGB(yRow[xy[x]], cbRow[xc[x]], crRow[xc[x]])
			p[3] = 0xff
		}
	}
	return out
}

// studioToRGB converts one BT.601 studio-range sample to RGB (16.16 fixed
// point, rounded): R = 1.164(Y−16) + 1.596(Cr−128), G = 1.164(Y−16) −
// 0.392(Cb−128) − 0.813(Cr−128), B = 1.164(Y−16) + 2.017(Cb−128).
func studioToRGB(y, cb, cr uint8) (r, g, b uint8) {
	yy := (int32(y)-16)*76309 + 1<<15
	u, v := int32(cb)-128, int32(cr)-128
	return clamp16(yy + 104597*v), clamp16(yy - 25675*u - 53279*v), clamp16(yy + 132201*u)
}

// clamp16 takes the integer part of a 16.16 value, clamped to 0..255.
func clamp16(v int32) uint8 {
	if uint32(v)&0xff000000 == 0 {
		return uint8(v >> 16)
	}
	return uint8(^(v >> 31))
}
