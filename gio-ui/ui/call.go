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
	"github.com/quicast/quicast/sender"
)

// callConfig is the room to call in, as whom, and how to trust the relay.
type callConfig struct {
	Relay, CAFile, Pin string
	Room               string // quicast-relay room add NAME
	User, Password     string // this side's account on the relay
	// Speaker opens the sound output (default: the system's).
	Speaker func(*receive.Playout) (*receive.Speaker, error)
	Logger  *slog.Logger
}

// call is a call in a room on the relay: it logs in and joins the room —
// the join gives this side's stream and publish key, which the window's
// broadcast (the sending half) publishes with — and watches the other
// participant (gio-ui/receive), its picture kept for the window, its
// sound on the speaker. It runs until stop.
type call struct {
	cancel  context.CancelFunc
	done    chan struct{}
	changed func()
	room    string

	direct bool // a direct call (direct.go), not a room on a relay

	mu        sync.Mutex
	join      *protocol.RoomJoin // once joined: this side's stream and key
	peer      *sender.Session    // a direct call, once answered: what this side sends with
	wc        *watch.Client      // a room call's login, once made
	inviting  *inviteStatus      // calling someone to the room
	others    []string           // the other participants, as last listed
	alone     bool               // the room, last listed, had nobody else in it
	rc        *receive.Receiver
	picture   *image.RGBA
	frame     receive.Frame // the latest, without its image
	frames    int
	err       error // the call cannot go on (wrong password, no such room)
	speakErr  error // no sound output: the picture only
	reconnect int   // >0: the session was lost, this attempt at it is next
	lastErr   error // why the last attempt or session ended
	started   time.Time
	them      string // the participant watched

	// Their bitrate, from the receiver's byte count once a second.
	rateBytes uint64
	rateAt    time.Time
	kbps      float64
}

// startCall starts the call in cfg.Room; changed is called when there is
// something new to show.
func startCall(cfg callConfig, changed func()) *call {
	ctx, cancel := context.WithCancel(context.Background())
	c := &call{cancel: cancel, done: make(chan struct{}), changed: changed, started: time.Now(), room: cfg.Room}
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

// joined returns this side's stream and publish key in the room, once
// the call has joined it.
func (c *call) joined() (protocol.RoomJoin, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.join == nil {
		return protocol.RoomJoin{}, false
	}
	return *c.join, true
}

// failed returns the error that ended the call, if one did.
func (c *call) failed() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// roomPoll is how often the room is looked at while nobody else is in it.
const roomPoll = time.Second

func (c *call) run(ctx context.Context, cfg callConfig) {
	tc, err := certs.ClientConfig(cfg.CAFile, cfg.Pin)
	if err != nil {
		c.fail(err)
		return
	}
	wc := watch.NewClient(watch.Config{Relay: cfg.Relay, TLS: tc})
	c.mu.Lock()
	c.wc = wc
	c.mu.Unlock()
	sleep := func(d time.Duration) bool { return sleepCtx(ctx, d) }
	loggedIn := false
	attempt := 0
	for {
		err := c.once(ctx, wc, cfg, &loggedIn)
		if ctx.Err() != nil {
			return
		}
		var f callFatal
		switch {
		case errors.As(err, &f):
			c.fail(f.err)
			return
		case errors.Is(err, errAlone):
			attempt = 0
			if !sleep(roomPoll) {
				return
			}
			continue
		case errors.Is(err, errCallEnded):
			attempt = 0 // a session was served: count again from 1
		}
		// The network, the relay or their session went away: try again,
		// as the sender does, until hung up.
		attempt++
		c.mu.Lock()
		c.rc, c.reconnect, c.lastErr = nil, attempt, err
		c.mu.Unlock()
		c.changed()
		if !sleep(protocol.Backoff{}.Delay(attempt, rand.Float64())) {
			return
		}
	}
}

// once logs in and joins when needed, finds the other participant and
// watches them until their session ends. It returns errCallEnded after a
// session, errAlone when nobody else is in the room, a callFatal for what
// no retry can fix, or the error to retry after.
func (c *call) once(ctx context.Context, wc *watch.Client, cfg callConfig, loggedIn *bool) error {
	if !*loggedIn {
		if err := wc.Login(ctx, cfg.User, cfg.Password); errors.Is(err, watch.ErrLogin) {
			return callFatal{err} // a wrong name or password stays wrong
		} else if err != nil {
			return err
		}
		*loggedIn = true
	}
	retry := func(err error) error {
		switch {
		case errors.Is(err, watch.ErrNoRoom):
			return callFatal{err}
		case errors.Is(err, watch.ErrLoginNeeded):
			*loggedIn = false
		}
		return err
	}
	j, ok := c.joined()
	if !ok {
		var err error
		if j, err = wc.Join(ctx, cfg.Room); err != nil {
			return retry(err)
		}
		c.mu.Lock()
		c.join = &j
		c.mu.Unlock()
		c.changed()
	}
	info, err := wc.Room(ctx, cfg.Room)
	if err != nil {
		return retry(err)
	}
	var them *protocol.Participant
	var others []string
	for _, p := range info.Participants {
		if p.Stream == j.Stream {
			continue
		}
		others = append(others, p.User)
		if them == nil {
			them = &p
		}
	}
	c.mu.Lock()
	c.others, c.alone = others, them == nil
	if them != nil {
		c.them = them.User
	}
	c.mu.Unlock()
	if them == nil {
		c.mu.Lock()
		c.reconnect, c.lastErr = 0, nil
		c.mu.Unlock()
		c.changed()
		return errAlone
	}
	rc, err := receive.Start(ctx, wc, them.Stream, cfg.Logger)
	if errors.Is(err, watch.ErrNoStream) {
		return err // they left between the list and the session
	}
	if err != nil {
		return retry(err)
	}
	c.serve(ctx, rc, cfg)
	rc.Close()
	return errCallEnded
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

// errCallEnded: the session ended (they left, the relay stopped, the
// network went).
const errCallEnded = callError("the relay ended the session")

// errAlone: nobody else is in the room.
const errAlone = callError("nobody else is in the room")

// callFatal is an error no retry can fix.
type callFatal struct{ err error }

func (f callFatal) Error() string { return f.err.Error() }

// stop hangs up and waits for the call's goroutine.
func (c *call) stop() {
	c.cancel()
	<-c.done
}

// callStatus is what the window shows of a call.
type callStatus struct {
	Them          string   // the participant shown
	Others        []string // every other participant
	Alone         bool     // nobody else is in the room
	Room          string
	Inviting      *inviteStatus // calling someone to the room
	Connected     bool          // the session is open
	Reconnect     int           // >0: the session was lost; this attempt at it is next
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
	s := callStatus{Them: c.them, Others: c.others, Alone: c.alone && c.rc == nil, Room: c.room, Inviting: c.inviting, Level: math.Inf(-1), Connected: c.rc != nil && c.err == nil, Picture: c.picture, Frames: c.frames,
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
