package ui

import (
	"context"
	"errors"
	"image"
	"log/slog"
	"math"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/quicast/quicast/certs"
	"github.com/quicast/quicast/gio-ui/broadcast"
	"github.com/quicast/quicast/gio-ui/receive"
	"github.com/quicast/quicast/protocol"
	"github.com/quicast/quicast/protocol/watch"
)

// callConfig is who to watch in a call, and how to trust the relay.
type callConfig struct {
	Relay, CAFile, Pin string
	Stream             string // theirs
	User, Password     string // a viewer account on the relay
	// Speaker opens the sound output (default: the system's).
	Speaker func(*receive.Playout) (*receive.Speaker, error)
	Logger  *slog.Logger
}

// call is the receiving half of a call in progress — the other side's
// stream watched (gio-ui/receive), its picture kept for the window, its
// sound on the speaker; the sending half is the broadcast. It runs until
// stop.
type call struct {
	cancel  context.CancelFunc
	done    chan struct{}
	changed func()

	mu        sync.Mutex
	rc        *receive.Receiver
	picture   *image.RGBA
	frame     receive.Frame // the latest, without its image
	frames    int
	err       error // the call cannot go on (wrong password, no such stream)
	speakErr  error // no sound output: the picture only
	reconnect int   // >0: the session was lost, this attempt at it is next
	lastErr   error // why the last attempt or session ended
	started   time.Time
	stream    string

	// Their bitrate, from the receiver's byte count once a second.
	rateBytes uint64
	rateAt    time.Time
	kbps      float64
}

// startCall starts watching cfg.Stream; changed is called when there is
// something new to show.
func startCall(cfg callConfig, changed func()) *call {
	ctx, cancel := context.WithCancel(context.Background())
	c := &call{cancel: cancel, done: make(chan struct{}), changed: changed, started: time.Now(), stream: cfg.Stream}
	go func() {
		defer close(c.done)
		c.run(ctx, cfg)
	}()
	return c
}

func (c *call) fail(err error) {
	c.mu.Lock()
	c.err = err
	c.mu.Unlock()
	c.changed()
}

func (c *call) run(ctx context.Context, cfg callConfig) {
	tc, err := certs.ClientConfig(cfg.CAFile, cfg.Pin)
	if err != nil {
		c.fail(err)
		return
	}
	wc := watch.NewClient(watch.Config{Relay: cfg.Relay, TLS: tc})
	loggedIn := false
	var lastErr error
	for attempt := 0; ; attempt++ {
		if attempt > 0 {
			// The network, the relay or their stream went away: try again,
			// as the sender does, until hung up.
			c.mu.Lock()
			c.rc, c.reconnect, c.lastErr = nil, attempt, lastErr
			c.mu.Unlock()
			c.changed()
			t := time.NewTimer(protocol.Backoff{}.Delay(attempt, rand.Float64()))
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
		}
		if !loggedIn {
			if err := wc.Login(ctx, cfg.User, cfg.Password); errors.Is(err, watch.ErrLogin) {
				c.fail(err) // a wrong name or password stays wrong
				return
			} else if err != nil {
				lastErr = err
				continue
			}
			loggedIn = true
		}
		rc, err := receive.Start(ctx, wc, cfg.Stream, cfg.Logger)
		switch {
		case errors.Is(err, watch.ErrNoStream):
			c.fail(err)
			return
		case errors.Is(err, watch.ErrLoginNeeded):
			loggedIn, lastErr = false, err
			continue
		case err != nil:
			lastErr = err
			continue
		}
		c.serve(ctx, rc, cfg)
		rc.Close()
		if ctx.Err() != nil {
			return
		}
		lastErr = errCallEnded
		attempt = 0 // the next loop counts from 1
	}
}

// serve shows and plays one session until it ends.
func (c *call) serve(ctx context.Context, rc *receive.Receiver, cfg callConfig) {
	open := cfg.Speaker
	if open == nil {
		open = func(p *receive.Playout) (*receive.Speaker, error) { return receive.OpenSpeaker(p) }
	}
	sp, err := open(rc.Playout())
	if err == nil {
		defer sp.Close()
	}
	c.mu.Lock()
	c.rc, c.speakErr, c.reconnect, c.lastErr = rc, err, 0, nil
	c.mu.Unlock()
	c.changed()
	for {
		select {
		case <-ctx.Done():
			return
		case <-rc.Done():
			return
		case f := <-rc.Frames():
			t := broadcast.Thumbnail(f.Image, 640)
			f.Image = nil
			c.mu.Lock()
			c.picture, c.frame = t, f
			c.frames++
			c.mu.Unlock()
			c.changed()
		}
	}
}

type callError string

func (e callError) Error() string { return string(e) }

// errCallEnded: the relay ended the session (their stream removed, the
// relay stopping, the network gone).
const errCallEnded = callError("the relay ended the session")

// stop hangs up and waits for the call's goroutine.
func (c *call) stop() {
	c.cancel()
	<-c.done
}

// callStatus is what the window shows of a call.
type callStatus struct {
	Stream        string // theirs: their name in the call
	Connected     bool   // the session is open
	Reconnect     int    // >0: the session was lost; this attempt at it is next
	LastErr       error
	Picture       *image.RGBA
	Frames        int
	Delay         time.Duration // their camera → shown here, latest frame; 0 unknown
	Buffered      time.Duration // of their sound
	Level         float64       // of their sound being played, dBFS
	Kbps          float64       // what their stream brings, kbit/s
	VideoErr      error         // their picture cannot be shown (its codec)
	AudioLost     uint64
	Err, SpeakErr error
	Started       time.Time
	ReceiverStats receive.Stats
}

func (c *call) status() callStatus {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := callStatus{Stream: c.stream, Level: math.Inf(-1), Connected: c.rc != nil && c.err == nil, Picture: c.picture, Frames: c.frames,
		Err: c.err, SpeakErr: c.speakErr, Started: c.started, Reconnect: c.reconnect, LastErr: c.lastErr}
	if !c.frame.Capture.IsZero() {
		s.Delay = c.frame.Due.Sub(c.frame.Capture)
	}
	if c.rc != nil {
		s.ReceiverStats = c.rc.Stats()
		s.AudioLost = s.ReceiverStats.AudioLost
		s.Buffered = c.rc.Playout().Stats().Buffered
		s.Level = c.rc.Playout().Level()
		now := time.Now()
		if c.rateAt.IsZero() || s.ReceiverStats.Bytes < c.rateBytes {
			c.rateAt, c.rateBytes = now, s.ReceiverStats.Bytes
		} else if d := now.Sub(c.rateAt); d >= time.Second {
			c.kbps = float64(s.ReceiverStats.Bytes-c.rateBytes) * 8 / d.Seconds() / 1000
			c.rateAt, c.rateBytes = now, s.ReceiverStats.Bytes
		}
		s.Kbps = c.kbps
		s.VideoErr = c.rc.VideoCodecProblem()
	}
	return s
}
