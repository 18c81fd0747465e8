package ui

import (
	"context"
	"errors"
	"image"
	"log/slog"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/quicast/quicast/certs"
	"github.com/quicast/quicast/gio-ui/broadcast"
	"github.com/quicast/quicast/gio-ui/echo"
	"github.com/quicast/quicast/gio-ui/receive"
	"github.com/quicast/quicast/protocol"
	"github.com/quicast/quicast/protocol/watch"
	"github.com/quicast/quicast/sender"
	"github.com/quicast/quicast/viewer-wasm/player"
)

// callConfig is the room to call in, as whom, and how to trust the relay.
type callConfig struct {
	Relay, CAFile, Pin string
	Room               string // quicast-relay room add NAME
	User, Password     string // this side's account on the relay
	// Speaker opens the sound output (default: the system's).
	Speaker func(receive.Sound) (*receive.Speaker, error)
	// Echo cancels the echo of the speaker in the microphone (a real
	// microphone: the window's broadcast takes call.echo.Capture).
	Echo   bool
	Logger *slog.Logger
}

// call is a call in a room on the relay: it logs in and joins the room —
// the join gives this side's stream and publish key, which the window's
// broadcast (the sending half) publishes with — and watches every other
// participant (gio-ui/receive): their pictures kept for the window's
// grid, their sound mixed onto one speaker. It runs until stop.
type call struct {
	cancel  context.CancelFunc
	done    chan struct{}
	changed func()
	room    string
	mix     *receive.Mixer  // every party's sound, to the speaker
	echo    *echo.Canceller // nil: no echo cancellation
	log     *slog.Logger

	direct bool // a direct call (direct.go), not a room on a relay

	// The box, in pixels, the window draws each of the others' pictures
	// in (width<<32 | height; 0: not drawn yet): a grid of four needs a
	// quarter of what one picture does, and each frame the window draws
	// is converted and uploaded at the size it fits that box at.
	drawnBox atomic.Int64
	// The frames the window drew during the call: each shows every
	// participant's latest picture.
	drawn atomic.Uint64

	mu        sync.Mutex
	join      *protocol.RoomJoin // once joined: this side's stream and key
	peer      *sender.Session    // a direct call, once answered: what this side sends with
	wc        *watch.Client      // a room call's login, once made
	inviting  *inviteStatus      // calling someone to the room
	parties   []*party           // the other participants, in the order they came
	listed    bool               // the room was listed at least once
	speaker   *receive.Speaker   // opened with the first session
	err       error              // the call cannot go on (wrong password, no such room)
	speakErr  error              // no sound output: the pictures only
	reconnect int                // >0: the room cannot be reached, this attempt at it is next
	lastErr   error              // why the last attempt failed
	started   time.Time
	them      string // a direct call: who is called, before they answer
}

// party is one other participant of a call and what is shown of them.
// Its fields are the call's, under call.mu.
type party struct {
	user, stream string
	cancel       context.CancelFunc // they left: stop watching
	rc           *receive.Receiver  // their session, while one is open
	picture      *image.RGBA        // their picture as the window draws it
	latest       *image.YCbCr       // their latest frame, until picture is made from it
	latestTS     int64              // its RTP timestamp, unwrapped
	frame        receive.Frame      // the latest, without its image
	frames       int
	lost         int   // >0: their session was lost, this attempt at it is next
	lastErr      error // why

	// How smoothly their picture is shown, this session: the viewer's
	// measure (frames shown against captured, freezes).
	unwrap player.Unwrapper
	cont   player.Continuity

	// Their bitrate, from the receiver's byte count once a second.
	rateBytes uint64
	rateAt    time.Time
	kbps      float64

	// When their session last brought anything (its byte count grew).
	heardBytes uint64
	heardAt    time.Time
}

// silentAfter is how long a party's open session may bring nothing before
// the window says so: their sound alone is 50-100 packets a second, so
// this is the network between (a direct call has no relay to notice a
// network gone; a relay's session notices only after its idle timeout).
const silentAfter = 3 * time.Second

// startCall starts the call in cfg.Room; changed is called when there is
// something new to show.
func startCall(cfg callConfig, changed func()) *call {
	ctx, cancel := context.WithCancel(context.Background())
	c := newCall(cancel, changed, cfg.Logger, cfg.Echo)
	c.room = cfg.Room
	go func() {
		defer close(c.done)
		defer c.closeSpeaker()
		go c.report(ctx)
		c.run(ctx, cfg)
	}()
	return c
}

func newCall(cancel context.CancelFunc, changed func(), log *slog.Logger, cancelEcho bool) *call {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c := &call{cancel: cancel, done: make(chan struct{}), changed: changed, started: time.Now(), mix: receive.NewMixer(), log: log}
	if cancelEcho {
		var err error
		if c.echo, err = echo.New(0); err != nil {
			log.Warn("no echo cancellation", "err", err)
		}
	}
	return c
}

// echoCapture is what the window's broadcast runs the microphone's sound
// through: the call's echo canceller, nil without one.
func (c *call) echoCapture() func(pcm []int16, channels int) {
	if c.echo == nil {
		return nil
	}
	return c.echo.Capture
}

// echoTap hands the echo canceller what the speaker plays, as it takes
// it: the far end the microphone will hear.
type echoTap struct {
	receive.Sound
	c *echo.Canceller
}

func (t echoTap) Read(out []int16) {
	t.Sound.Read(out)
	t.c.Played(out, receive.Channels)
}

// callReport is how often a call logs each party's figures.
const callReport = 10 * time.Second

// report logs what is seen and heard of each other participant every
// callReport until ctx ends: for the log of a long call, and for tools
// that read it.
func (c *call) report(ctx context.Context) {
	t := time.NewTicker(callReport)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		c.log.Info("call window", "framesDrawn", c.drawn.Load())
		if c.echo != nil {
			e := c.echo.Stats()
			c.log.Info("call echo", "frames", e.Frames, "farDropped", e.FarDropped, "farMissing", e.FarMissing)
		}
		for _, p := range c.status().Parties {
			c.log.Info("call party", "user", p.Them, "connected", p.Connected, "framesShown", p.FramesShown,
				"framesExpected", p.FramesExpected, "freezes", p.Freezes, "longestFreezeMs", p.LongestFreeze.Milliseconds(),
				"pictureDelayMs", p.Delay.Milliseconds(), "soundBufferedMs", p.Buffered.Milliseconds(),
				"soundDelayMs", p.SoundDelay.Milliseconds(), "underrunMs", p.Played.Underrun*1000/receive.SampleRate,
				"audioLost", p.AudioLost, "kbps", int(p.Kbps), "silentMs", p.Silent.Milliseconds(),
				"framesDecoded", p.ReceiverStats.FramesDecoded, "framesThinned", p.ReceiverStats.FramesThinned)
		}
	}
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

// roomPoll is how often the room is listed: who came, who left.
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
	var watchers sync.WaitGroup
	defer watchers.Wait()
	loggedIn := false
	attempt := 0
	for {
		err := c.list(ctx, wc, cfg, &loggedIn, &watchers)
		if ctx.Err() != nil {
			return
		}
		var f callFatal
		if errors.As(err, &f) {
			c.fail(f.err)
			return
		}
		wait := roomPoll
		if err != nil {
			// The network or the relay went away: try again, as the
			// sender does, until hung up. The parties' watchers retry
			// on their own meanwhile.
			attempt++
			wait = protocol.Backoff{}.Delay(attempt, rand.Float64())
		} else {
			attempt = 0
		}
		c.mu.Lock()
		changed := c.reconnect != attempt
		c.reconnect, c.lastErr = attempt, err
		c.mu.Unlock()
		if changed {
			c.changed()
		}
		if !sleepCtx(ctx, wait) {
			return
		}
	}
}

// list logs in and joins when needed, lists the room, and starts
// watching who came and stops watching who left. It returns a callFatal
// for what no retry can fix, or the error to retry after.
func (c *call) list(ctx context.Context, wc *watch.Client, cfg callConfig, loggedIn *bool, watchers *sync.WaitGroup) error {
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
	here := map[string]protocol.Participant{}
	for _, p := range info.Participants {
		if p.Stream != j.Stream {
			here[p.Stream] = p
		}
	}
	c.mu.Lock()
	changed := !c.listed
	c.listed = true
	c.parties = slices.DeleteFunc(c.parties, func(p *party) bool {
		if _, ok := here[p.stream]; ok {
			delete(here, p.stream) // watched already
			return false
		}
		p.cancel() // they left
		changed = true
		return true
	})
	for _, pp := range info.Participants { // in the relay's order
		if _, ok := here[pp.Stream]; !ok {
			continue
		}
		pctx, cancel := context.WithCancel(ctx)
		p := &party{user: pp.User, stream: pp.Stream, cancel: cancel}
		c.parties = append(c.parties, p)
		changed = true
		watchers.Add(1)
		go func() {
			defer watchers.Done()
			c.watch(pctx, wc, p, cfg)
		}()
	}
	c.mu.Unlock()
	if changed {
		c.changed()
	}
	return nil
}

// watch keeps a session to one party's stream open until they leave or
// the call ends, reconnecting with backoff when it is lost.
func (c *call) watch(ctx context.Context, wc *watch.Client, p *party, cfg callConfig) {
	attempt := 0
	for {
		rc, err := receive.Start(ctx, wc, p.stream, cfg.Logger)
		if ctx.Err() != nil {
			if err == nil {
				rc.Close()
			}
			return
		}
		if err == nil {
			c.serve(ctx, p, rc, cfg.Speaker)
			rc.Close()
			if ctx.Err() != nil {
				return
			}
			attempt, err = 0, errCallEnded // a session was served: count again from 1
		}
		// They are reconnecting, or the relay or the network went:
		// again until the listing says they left.
		attempt++
		c.mu.Lock()
		p.lost, p.lastErr = attempt, err
		c.mu.Unlock()
		c.changed()
		if !sleepCtx(ctx, protocol.Backoff{}.Delay(attempt, rand.Float64())) {
			return
		}
	}
}

// serve shows and plays one session of p until it ends.
func (c *call) serve(ctx context.Context, p *party, rc *receive.Receiver, open func(receive.Sound) (*receive.Speaker, error)) {
	c.openSpeaker(open)
	c.mix.Add(rc.Playout())
	defer c.mix.Remove(rc.Playout())
	c.mu.Lock()
	p.rc, p.lost, p.lastErr = rc, 0, nil
	p.rateAt, p.heardAt = time.Time{}, time.Time{}
	p.unwrap, p.cont = player.Unwrapper{}, player.Continuity{} // a new session: new RTP timestamps
	c.mu.Unlock()
	c.changed()
	defer func() {
		c.mu.Lock()
		p.rc = nil
		c.mu.Unlock()
	}()
	for {
		select {
		case <-ctx.Done():
			return
		case <-rc.Done():
			return
		case f := <-rc.Frames():
			// Converted, and counted as shown, when the window draws it
			// (call.drawStatus): a window behind draws some frames only,
			// and converting the others would take from its drawing.
			c.mu.Lock()
			p.latest, p.latestTS = f.Image, p.unwrap.Unwrap(f.RTPTime)
			f.Image = nil
			p.frame = f
			p.frames++
			p.cont.Received(p.latestTS) // the frames decoded: all this side gets to see
			c.mu.Unlock()
			c.changed()
		}
	}
}

// Pictures are converted at most maxPictureWidth pixels wide (the picture
// box of a large window), at least minPictureWidth (a tile of a crowded
// grid, or a window not drawn yet).
const (
	maxPictureWidth = 640
	minPictureWidth = 160
)

// setDrawnBox records the box (pixels) the window draws each of the
// others' pictures in now, scaled to fit (widget.Contain).
func (c *call) setDrawnBox(box image.Point) {
	c.drawnBox.Store(int64(max(box.X, 0))<<32 | int64(max(box.Y, 0)))
}

// pictureWidth is the width (pixels) a received frame of size src is
// converted at: as wide as it is drawn, fitted into the drawn box, within
// [minPictureWidth, maxPictureWidth]; the largest before the window said.
// Drawn at its own size, the picture needs no scaling filter (grid.go
// pictureFilter).
func (c *call) pictureWidth(src image.Rectangle) int {
	b := c.drawnBox.Load()
	w, h := int(b>>32), int(b&0xffffffff)
	if w == 0 || h == 0 {
		return maxPictureWidth
	}
	if src.Dx() > 0 && src.Dy() > 0 {
		w = min(w, h*src.Dx()/src.Dy())
	}
	return min(max(w, minPictureWidth), maxPictureWidth)
}

// openSpeaker opens the sound output for the mixer once, with the first
// session. Without one the call goes on with pictures only, its sound
// still played out on miniaudio's null device: the playout keeps its
// delay and the pictures their lip-sync, as with a speaker.
func (c *call) openSpeaker(open func(receive.Sound) (*receive.Speaker, error)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.speaker != nil || c.speakErr != nil {
		return
	}
	if open == nil {
		open = func(s receive.Sound) (*receive.Speaker, error) { return receive.OpenSpeaker(s) }
	}
	var sound receive.Sound = c.mix
	if c.echo != nil {
		sound = echoTap{c.mix, c.echo}
	}
	c.speaker, c.speakErr = open(sound)
	if c.speakErr != nil {
		c.speaker, _ = receive.OpenSpeaker(sound, receive.BackendNull)
	}
}

// closeSpeaker closes the sound output and the echo canceller (the
// broadcast's capture passes the sound through from then on).
func (c *call) closeSpeaker() {
	c.mu.Lock()
	sp := c.speaker
	c.speaker = nil
	c.mu.Unlock()
	if sp != nil {
		sp.Close()
	}
	if c.echo != nil {
		c.echo.Close()
	}
}

type callError string

func (e callError) Error() string { return string(e) }

// errCallEnded: the session ended (they left, the relay stopped, the
// network went).
const errCallEnded = callError("the relay ended the session")

// callFatal is an error no retry can fix.
type callFatal struct{ err error }

func (f callFatal) Error() string { return f.err.Error() }

// stop hangs up and waits for the call's goroutine.
func (c *call) stop() {
	c.cancel()
	<-c.done
}

// callStatus is what the window shows of a call. Its embedded
// partyStatus is the first other participant's (a two-person call's
// other side), but Connected: whether any session is open; Parties has
// each of them.
type callStatus struct {
	partyStatus
	Parties       []partyStatus
	Others        []string // every other participant's name
	Alone         bool     // nobody else is in the room
	Room          string
	Inviting      *inviteStatus // calling someone to the room
	Reconnect     int           // >0: the room, or a two-person call's other side, was lost; this attempt is next
	LastErr       error
	Err, SpeakErr error
	Started       time.Time
}

// partyStatus is what the window shows of one other participant.
type partyStatus struct {
	Them       string
	Connected  bool // their session is open
	Lost       int  // >0: their session was lost; this attempt at it is next
	LastErr    error
	Picture    *image.RGBA
	Frames     int
	Delay      time.Duration // their camera → shown here, latest frame; 0 unknown
	Buffered   time.Duration // of their sound
	SoundDelay time.Duration // their microphone → this side's speaker, as last played; 0 unknown
	// This session's continuity (viewer-wasm/player.Continuity): frames
	// shown against those their camera captured meanwhile, and the gaps
	// between frames shown over player.FreezeThreshold.
	FramesShown, FramesExpected, Freezes int
	LongestFreeze                        time.Duration
	Level                                float64       // of their sound being played, dBFS
	Kbps                                 float64       // what their stream brings, kbit/s
	Silent                               time.Duration // their open session has brought nothing for this long (≥ silentAfter); 0 otherwise
	VideoErr                             error         // their picture cannot be shown (its codec)
	AudioLost                            uint64
	ReceiverStats                        receive.Stats
	Played                               receive.PlayoutStats // their sound, as the speaker took it
}

// drawStatus is status for a frame of the window: each party's latest
// frame becomes their picture, converted at the size the window draws it
// (pictureWidth) outside the call's lock, and counts as shown now
// (player.Continuity: the window's freezes are gaps in what it draws, not
// in what it receives).
func (c *call) drawStatus() callStatus {
	type latest struct {
		p   *party
		rc  *receive.Receiver // the session it came in
		img *image.YCbCr
		ts  int64
		pic *image.RGBA
	}
	var todo []latest
	c.mu.Lock()
	for _, p := range c.parties {
		if p.latest != nil {
			todo = append(todo, latest{p: p, rc: p.rc, img: p.latest, ts: p.latestTS})
			p.latest = nil
		}
	}
	c.mu.Unlock()
	if len(todo) > 0 {
		for i, l := range todo {
			todo[i].pic = broadcast.Thumbnail(l.img, c.pictureWidth(l.img.Bounds()))
		}
		now := time.Now()
		c.mu.Lock()
		for _, l := range todo {
			l.p.picture = l.pic
			if l.p.rc == l.rc { // a new session counts afresh
				l.p.cont.Frame(l.ts, now)
			}
		}
		c.mu.Unlock()
	}
	return c.status()
}

// status is the call's state now.
func (c *call) status() callStatus {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := callStatus{Room: c.room, Inviting: c.inviting, Alone: c.listed && len(c.parties) == 0,
		Err: c.err, SpeakErr: c.speakErr, Started: c.started, Reconnect: c.reconnect, LastErr: c.lastErr}
	s.Them, s.Level = c.them, math.Inf(-1)
	now := time.Now()
	for _, p := range c.parties {
		s.Parties = append(s.Parties, p.status(now))
		s.Others = append(s.Others, p.user)
	}
	if len(s.Parties) > 0 {
		s.partyStatus = s.Parties[0]
	}
	if len(s.Parties) == 1 && s.Reconnect == 0 && s.Lost > 0 {
		// The other side of a two-person call was lost: the call is.
		s.Reconnect, s.LastErr = s.Lost, s.partyStatus.LastErr
	}
	s.Connected = s.Err == nil && slices.ContainsFunc(s.Parties, func(p partyStatus) bool { return p.Connected })
	return s
}

// status is p's, its bitrate measured over the second up to now; under
// call.mu.
func (p *party) status(now time.Time) partyStatus {
	s := partyStatus{Them: p.user, Connected: p.rc != nil, Lost: p.lost, LastErr: p.lastErr,
		Picture: p.picture, Frames: p.frames, Level: math.Inf(-1),
		FramesShown: p.cont.Shown, FramesExpected: p.cont.Expected(), Freezes: p.cont.Freezes, LongestFreeze: p.cont.LongestFreeze}
	if !p.frame.Capture.IsZero() {
		s.Delay = p.frame.Due.Sub(p.frame.Capture)
	}
	if p.rc == nil {
		return s
	}
	s.ReceiverStats = p.rc.Stats()
	s.AudioLost = s.ReceiverStats.AudioLost
	s.Played = p.rc.Playout().Stats()
	s.Buffered = s.Played.Buffered
	s.Level = p.rc.Playout().Level()
	s.SoundDelay = p.rc.Playout().Delay()
	if p.rateAt.IsZero() || s.ReceiverStats.Bytes < p.rateBytes {
		p.rateAt, p.rateBytes = now, s.ReceiverStats.Bytes
	} else if d := now.Sub(p.rateAt); d >= time.Second {
		p.kbps = float64(s.ReceiverStats.Bytes-p.rateBytes) * 8 / d.Seconds() / 1000
		p.rateAt, p.rateBytes = now, s.ReceiverStats.Bytes
	}
	s.Kbps = p.kbps
	s.Silent = p.silence(s.ReceiverStats.Bytes, now)
	s.VideoErr = p.rc.VideoCodecProblem()
	return s
}

// silence returns how long their session has brought nothing at now, given
// its byte count — when that is silentAfter or more; 0 otherwise, and
// before it brought anything (a session that has not begun is "waiting").
// Under call.mu.
func (p *party) silence(bytes uint64, now time.Time) time.Duration {
	if bytes == 0 || p.heardAt.IsZero() || bytes != p.heardBytes {
		p.heardBytes, p.heardAt = bytes, now
		return 0
	}
	if d := now.Sub(p.heardAt); d >= silentAfter {
		return d
	}
	return 0
}
