//go:build js && wasm

package main

import (
	"errors"
	"strconv"
	"strings"
	"sync"
	"syscall/js"
	"time"

	"github.com/quicast/quicast/viewer-wasm/player"
)

// The room page: the other participants are watched by players in this
// program (watchTile), one per tile; the participant's own camera and
// microphone (getUserMedia, with the browser's echo cancellation) are
// published by a publisher (publish.go), in a worker of its own where the
// browser allows (static/publisher.js), on the page otherwise.

// participant is the page's side of joining the room: the devices, the
// status shown, and the publisher.
type participant struct {
	room   string
	body   js.Value
	status js.Value
	self   js.Value

	mu       sync.Mutex
	state    string
	message  string
	stream   string
	joined   bool // join clicked and not left since
	join     int  // counts the joins: a publisher's events after its join ended are ignored
	media    js.Value
	pub      *publisher // publishing on the page
	worker   js.Value   // or in static/publisher.js's worker
	inWorker bool       // the last join's publisher is (was) in the worker
	figures  js.Value   // the worker's latest {stats}
	notice   string     // a camera or microphone that stopped during this join
	liveAt   time.Time  // this join first went live: the call's duration is since
}

func runRoom() {
	doc := js.Global().Get("document")
	p := &participant{
		room:   pathUnescape(strings.TrimPrefix(js.Global().Get("location").Get("pathname").String(), "/room/")),
		body:   doc.Get("body"),
		status: doc.Call("getElementById", "call-status"),
		self:   doc.Call("getElementById", "self"),
		state:  "idle",
	}
	js.Global().Set("quicastJoin", js.FuncOf(func(js.Value, []js.Value) any {
		p.mu.Lock()
		busy := p.joined
		p.joined = true
		p.mu.Unlock()
		if !busy {
			go p.start()
		}
		return nil
	}))
	js.Global().Set("quicastLeave", js.FuncOf(func(js.Value, []js.Value) any { go p.leave("You left the room."); return nil }))
	js.Global().Set("quicastMute", js.FuncOf(func(_ js.Value, args []js.Value) any {
		p.setEnabled("getAudioTracks", len(args) == 0 || !args[0].Truthy())
		return nil
	}))
	js.Global().Set("quicastCamera", js.FuncOf(func(_ js.Value, args []js.Value) any {
		p.setEnabled("getVideoTracks", len(args) > 0 && args[0].Truthy())
		return nil
	}))
	js.Global().Set("quicastPublishStats", js.FuncOf(func(js.Value, []js.Value) any { return p.statsObject() }))
	js.Global().Set("quicastWatch", js.FuncOf(func(_ js.Value, args []js.Value) any { return watchTile(args[0]) }))
	select {}
}

// runPlayersWorker is the program in static/players.js's worker: the room
// page's players, each started by quicastWatch (watchTile) with a tile
// that stands for the page's (its root and status, objects whose changes
// players.js passes on to the page; its canvas an OffscreenCanvas; its
// audio output the worklet's port, its ring and the AudioContext's clock
// as the page reports it). In the worker the players' sessions, jitter
// buffers and decoding wait for nothing on the page's main thread, which
// a call's pictures and the page itself keep busy: in a two-browser call
// on a 2-core machine the main thread ran a 10 ms timer more than 50 ms
// late 12-23 times in 20 s (up to 171 ms), with 3-4 long tasks.
func runPlayersWorker() {
	js.Global().Set("quicastWatch", js.FuncOf(func(_ js.Value, args []js.Value) any { return watchTile(args[0]) }))
	js.Global().Call("quicastPlayersReady")
	select {}
}

// watchTile starts a player for one other participant of the room, all of
// them in this one program: each has its own session, jitter buffer,
// decoders and lip-sync, and draws on its tile; their sound goes to one
// AudioContext, a worklet node each. o is {stream, root, canvas, status,
// audio: {ctx, node, playout}, next (the page's path)}; the answer
// {stop(), stats(), resetStats()}.
// Its three functions are never released (a few bytes per participant who
// left): the page may still call them after stop.
func watchTile(o js.Value) any {
	pl := newPlayer(o.Get("stream").String(), view{
		root:   o.Get("root"),
		canvas: o.Get("canvas"),
		status: o.Get("status"),
		audio:  o.Get("audio"),
		next:   o.Get("next").String(),
	})
	pl.start()
	return map[string]any{
		"stop":       js.FuncOf(func(js.Value, []js.Value) any { pl.stop(); return nil }),
		"stats":      js.FuncOf(func(js.Value, []js.Value) any { return pl.statsObject() }),
		"resetStats": js.FuncOf(func(js.Value, []js.Value) any { pl.resetStats(); return nil }),
	}
}

func (p *participant) setState(state, msg string) {
	p.mu.Lock()
	p.state, p.message = state, msg
	if state == "live" && p.liveAt.IsZero() {
		p.liveAt = time.Now()
	}
	msg = p.statusLocked(time.Now())
	p.mu.Unlock()
	p.body.Get("dataset").Set("call", state)
	p.status.Set("textContent", msg)
}

// statusLocked is the status line at now: the state's message; in the
// call, how long it has lasted and the link's figures too
// (player.CallStatus); and a device's notice. Callers hold p.mu.
func (p *participant) statusLocked(now time.Time) string {
	msg := p.message
	if p.state == "live" {
		msg = player.CallStatus(msg, now.Sub(p.liveAt), p.linkLocked())
	}
	if p.notice != "" && (p.state == "live" || p.state == "reconnecting") {
		msg += " " + p.notice
	}
	return msg
}

// linkLocked returns the publisher's link figures: its own, or the
// worker's latest. Callers hold p.mu.
func (p *participant) linkLocked() player.LinkMeter {
	if p.pub != nil {
		p.pub.mu.Lock()
		defer p.pub.mu.Unlock()
		return p.pub.link
	}
	m := player.NewLinkMeter()
	if !p.figures.Truthy() {
		return m
	}
	if l := p.figures.Get("link"); l.Truthy() {
		m.Known, m.Kbps, m.LossPct = l.Get("known").Bool(), l.Get("kbps").Float(), l.Get("lossPct").Float()
		m.RTT = time.Duration(l.Get("rttMs").Float() * float64(time.Millisecond))
	}
	return m
}

// showStatus keeps the status line of join up to date once a second while
// it is live: the call's duration and the link's figures move.
func (p *participant) showStatus(join int) {
	t := time.NewTicker(linkEvery)
	defer t.Stop()
	for now := range t.C {
		p.mu.Lock()
		if join != p.join || !p.joined {
			p.mu.Unlock()
			return
		}
		live, msg := p.state == "live", p.statusLocked(now)
		p.mu.Unlock()
		if live {
			p.status.Set("textContent", msg)
		}
	}
}

// setEnabled turns the tracks of one kind on or off: a muted microphone
// sends silence, a camera turned off black frames, so the others' players
// keep their timing.
func (p *participant) setEnabled(getter string, on bool) {
	p.mu.Lock()
	m := p.media
	p.mu.Unlock()
	if !m.Truthy() {
		return
	}
	tracks := m.Call(getter)
	for i := 0; i < tracks.Length(); i++ {
		tracks.Index(i).Set("enabled", on)
	}
}

// start takes the devices and has them published until the participant
// leaves or something no retry can fix happens.
func (p *participant) start() {
	p.setState("joining", "Asking for the camera and microphone…")
	media, err := getUserMedia()
	p.mu.Lock()
	left := !p.joined
	p.mu.Unlock()
	switch {
	case err != nil:
		p.mu.Lock()
		p.joined = false
		p.mu.Unlock()
		p.setState("error", err.Error())
		return
	case left:
		stopTracks(media)
		return
	}
	// The self view shows the camera alone: a muted <video> given the
	// microphone too still plays it, silenced, through an audio output of
	// its own (Chromium: another output thread in the page and a stream in
	// the audio service, running for the whole call).
	p.self.Set("srcObject", js.Global().Get("MediaStream").New(media.Call("getVideoTracks")))
	readable := func(tracks js.Value) js.Value {
		if tracks.Length() == 0 {
			return js.Undefined()
		}
		return js.Global().Get("MediaStreamTrackProcessor").New(map[string]any{"track": tracks.Index(0)}).Get("readable")
	}
	video, audio := readable(media.Call("getVideoTracks")), readable(media.Call("getAudioTracks"))
	p.mu.Lock()
	p.media = media
	p.notice = ""
	p.join++
	join := p.join
	p.figures = js.Undefined()
	p.liveAt = time.Time{}
	p.mu.Unlock()
	go p.showStatus(join)
	onMessage := js.FuncOf(func(_ js.Value, args []js.Value) any {
		// Never released: a few bytes per join.
		d := args[0]
		if st := d.Get("stats"); st.Truthy() {
			p.mu.Lock()
			if join == p.join {
				p.figures = st
			}
			p.mu.Unlock()
		}
		if st := d.Get("state"); st.Truthy() {
			go p.event(join, pubEvent{State: st.String(), Message: d.Get("message").String(), Stream: d.Get("stream").String()})
		}
		return nil
	})
	if w := js.Global().Call("quicastPublisherWorker", p.room, video, audio, onMessage); w.Truthy() {
		p.mu.Lock()
		p.worker, p.inWorker = w, true
		p.mu.Unlock()
		return
	}
	pub := newPublisher(p.room, video, audio, func(e pubEvent) { p.event(join, e) })
	p.mu.Lock()
	p.pub, p.inWorker = pub, false
	p.mu.Unlock()
	pub.run()
}

// event shows what the publisher of the join'th join says.
func (p *participant) event(join int, e pubEvent) {
	p.mu.Lock()
	current := join == p.join && p.joined
	if current && e.State == "live" {
		p.stream = e.Stream
	}
	p.mu.Unlock()
	if !current {
		return
	}
	switch e.State {
	case "login":
		goToLogin("/room/" + p.room)
	case "error":
		p.leave(e.Message)
		p.setState("error", e.Message)
	case "device":
		p.mu.Lock()
		p.notice = strings.TrimSpace(p.notice + " " + e.Message)
		state, msg := p.state, p.message
		p.mu.Unlock()
		p.setState(state, msg)
	case "live":
		p.body.Get("dataset").Set("self", e.Stream)
		p.setState(e.State, e.Message)
	default:
		p.setState(e.State, e.Message)
	}
}

// getUserMedia asks for the camera and the microphone, then for either
// alone when the machine lacks one.
func getUserMedia() (js.Value, error) {
	md := js.Global().Get("navigator").Get("mediaDevices")
	if !md.Truthy() {
		return js.Value{}, errors.New("this page cannot use a camera: open it over HTTPS")
	}
	q := js.Global().Get("URLSearchParams").New(js.Global().Get("location").Get("search"))
	w, h := 1280, 720
	// ?size=640x360, remembered for the next calls from this browser.
	s := q.Call("get", "size")
	store := js.Global().Get("localStorage")
	if s.Truthy() && store.Truthy() {
		store.Call("setItem", "quicast.size", s)
	} else if store.Truthy() {
		s = store.Call("getItem", "quicast.size")
	}
	if s.Truthy() {
		if a, b, ok := strings.Cut(s.String(), "x"); ok {
			if x, err := strconv.Atoi(a); err == nil && x >= 160 && x <= 1920 {
				w = x
			}
			if y, err := strconv.Atoi(b); err == nil && y >= 120 && y <= 1080 {
				h = y
			}
		}
	}
	video := map[string]any{"width": map[string]any{"ideal": w}, "height": map[string]any{"ideal": h},
		"frameRate": map[string]any{"ideal": 30}}
	audio := map[string]any{"echoCancellation": true, "noiseSuppression": true, "autoGainControl": true,
		"channelCount": map[string]any{"ideal": 1}}
	var firstErr error
	for _, c := range []map[string]any{{"video": video, "audio": audio}, {"audio": audio}, {"video": video}} {
		m, err := await(md.Call("getUserMedia", c))
		if err == nil {
			return m, nil
		}
		if firstErr == nil {
			firstErr = err
		}
		if !strings.Contains(err.Error(), "not found") && !strings.Contains(err.Error(), "NotFound") {
			break
		}
	}
	msg := firstErr.Error()
	switch {
	case strings.Contains(msg, "ermission") || strings.Contains(msg, "NotAllowed"):
		return js.Value{}, errors.New("the browser was not allowed to use the camera and microphone: allow them for this site and join again")
	case strings.Contains(msg, "not found") || strings.Contains(msg, "NotFound"):
		return js.Value{}, errors.New("this computer has no camera or microphone the browser can use")
	}
	return js.Value{}, errors.New("cannot open the camera and microphone: " + msg)
}

// leave ends the publishing and releases the camera and microphone.
func (p *participant) leave(msg string) {
	p.mu.Lock()
	p.joined = false
	media, pub, w := p.media, p.pub, p.worker
	p.media, p.pub, p.worker, p.stream = js.Undefined(), nil, js.Undefined(), ""
	p.mu.Unlock()
	if pub != nil {
		pub.stop()
		figures := js.ValueOf(pub.statsObject())
		p.mu.Lock()
		p.figures = figures
		p.mu.Unlock()
	}
	if w.Truthy() {
		// The worker closes its session and ends itself; it is
		// terminated if it has not within a second.
		w.Call("postMessage", map[string]any{"stop": true})
		js.Global().Call("setTimeout", js.Global().Get("quicastTerminate"), 1000, w)
	}
	stopTracks(media)
	p.self.Set("srcObject", js.Null())
	p.body.Get("dataset").Set("self", "")
	p.setState("left", msg)
}

func stopTracks(media js.Value) {
	if !media.Truthy() {
		return
	}
	tracks := media.Call("getTracks")
	for i := 0; i < tracks.Length(); i++ {
		tracks.Index(i).Call("stop")
	}
}

// statsObject is quicastPublishStats's answer: the publisher's figures
// (publisher.statsObject), the state shown, and whether the publishing
// is in a worker (worker).
func (p *participant) statsObject() any {
	p.mu.Lock()
	state, msg, stream, pub, figures, inWorker := p.state, p.message, p.stream, p.pub, p.figures, p.inWorker
	p.mu.Unlock()
	var o js.Value
	switch {
	case pub != nil:
		o = js.ValueOf(pub.statsObject())
	case figures.Truthy():
		o = js.Global().Get("Object").Call("assign", js.Global().Get("Object").New(), figures)
	default:
		o = js.Global().Get("Object").New()
	}
	o.Set("state", state)
	o.Set("message", msg)
	o.Set("stream", stream)
	o.Set("worker", inWorker)
	return o
}
