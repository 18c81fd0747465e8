//go:build js && wasm

package main

import (
	"errors"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall/js"
	"time"

	"github.com/quicast/quicast/protocol"
	"github.com/quicast/quicast/viewer-wasm/player"
)

// A room participant's publishing: the camera's frames and the
// microphone's sound (MediaStreamTrackProcessor readables) encoded with
// WebCodecs (VideoEncoder VP8, AudioEncoder Opus, real-time settings),
// packetized into RTP (player.Outgoing) and published into the room over
// WebTransport (protocol README §4.2): a group stream per keyframe, audio
// in datagrams, sender reports on the control stream.
//
// It runs in a worker of its own (static/publisher.js, this same program)
// where the browser can hand the readables over, and on the page
// otherwise. In a worker none of it waits for the page's main thread,
// which in a four-person call is busy with the others' pictures and sound:
// there, on this 2-core machine, 90 % of a browser's own audio packets were
// older than audioMaxAge by the time the main thread got to send them.

const (
	keyframeInterval  = 2 * time.Second        // a keyframe at least this often: a new watcher starts within it
	maxEncodeQueue    = 2                      // frames waiting in the VideoEncoder before the camera's are skipped
	maxAudioQueue     = 5                      // chunks (10 ms or so each) waiting in the AudioEncoder before the microphone's are dropped
	audioMaxAge       = 150 * time.Millisecond // sound not sent by then after encoding is dropped
	videoMaxAge       = 400 * time.Millisecond // a frame not sent by then ends its group
	audioBitrate      = 32_000                 // bit/s, Opus voice
	syncInterval      = time.Second            // sender reports
	encodedQueue      = 64                     // encoded chunks waiting to be sent
	statsEvery        = 250 * time.Millisecond // the publishing worker's figures to the page
	datagramsInFlight = 16                     // audio datagrams the browser's network process may hold (320 ms)
	// The Opus packets' length (W3C WebCodecs Opus registration,
	// frameDuration). Every packet costs each thread on its way (the
	// page's workers, the browser's network process, the relay, the
	// receiving page) a wake-up: in a two-browser call on a saturated
	// 2-core machine 20 ms packets instead of 10 ms took each browser from
	// 88-89 % to 78-82 % of a core and the relay from 11 % to 8 %, and the
	// shorter queues for a core brought the sound sooner despite the
	// 10 ms more per packet (mouth-to-ear p50 150 → 142 ms; interleaved
	// runs, BenchmarkBrowserCall). The same as WebRTC's default.
	opusFrame = 20 * time.Millisecond
)

// videoBitrate is the VP8 target for a picture of w×h at 30 fps, in bit/s:
// 1 Mbit/s at 720p, scaled by the pixel count, at least 150 kbit/s.
func videoBitrate(w, h int) int {
	return max(150_000, int(int64(w)*int64(h)*1_000_000/(1280*720)))
}

type encoded struct {
	data []byte
	us   int64     // capture timestamp, µs
	at   time.Time // out of the encoder
	key  bool
	// nonRef: a video frame no other is predicted from (temporal layer 1
	// of L1T2), sent with VP8's N bit for receivers behind to leave out.
	nonRef bool
}

// pubStats are what quicastPublishStats returns.
type pubStats struct {
	VideoFrames, Keyframes, Groups, FramesSkipped int
	AudioSkipped                                  int // microphone chunks dropped: the encoder or the datagram queue was behind
	// Of AudioSkipped: the encoder was more than maxAudioQueue behind;
	// the packet was older than audioMaxAge when its turn to be sent
	// came; the datagram queue was full.
	EncoderBehind, AudioLate, DatagramsBehind int
	// Gaps between two microphone chunks reaching the page, two Opus
	// packets out of the encoder (while live), and two audio packets it
	// sent: the receivers' buffers run dry when the page (or the browser
	// under it) stalls that long.
	CaptureStalls, EncodeStalls, SendStalls player.Stalls
	AudioPackets, KeyframeRequests, Viewers int
	VideoBytes, AudioBytes                  int64
	Width, Height, Channels                 int
	// The camera's or the microphone's track ended while publishing
	// (unplugged, taken by another program, turned off in the system).
	CameraEnded, MicrophoneEnded bool
}

// pubEvent is what the publisher tells the page: State is "live" (Stream
// is then its stream in the room), "reconnecting", "login" (the relay
// wants a login first), "error" (nothing a retry can fix; Message says
// what) or "device" (a camera or microphone stopped, Message says which;
// the publishing goes on with what is left).
type pubEvent struct {
	State, Message, Stream string
}

// publisher publishes one join of the room, from run until stop.
type publisher struct {
	room         string
	video, audio js.Value // the tracks' MediaStreamTrackProcessor readables; undefined for none
	report       func(pubEvent)
	ignore       js.Func

	needKey atomic.Bool
	videoQ  chan encoded
	audioQ  chan encoded

	mu      sync.Mutex
	stopped bool
	stream  string
	out     player.Outgoing
	gen     int // the session the packets are for; counts up
	live    bool
	ctrlW   js.Value
	dgramW  js.Value
	wt      js.Value
	lastKey time.Time
	st      pubStats
	link    player.LinkMeter
	// The sender reports sent lately, by LSR (the middle 32 bits of their
	// NTP time): when, for the round-trip time of the reports answering
	// them (RFC 3550 §6.4.1). Their NTP time is the capture clock's, not
	// the instant sent, so the RTT is taken from the instant.
	srSent [8]sentSR
	srNext int
	// static/publish.js quicastFeedAudio's counts: {behind, stalls}.
	audioGate js.Value
}

func newPublisher(room string, video, audio js.Value, report func(pubEvent)) *publisher {
	return &publisher{
		room: room, video: video, audio: audio, report: report,
		ignore: js.FuncOf(func(js.Value, []js.Value) any { return nil }),
		videoQ: make(chan encoded, encodedQueue),
		audioQ: make(chan encoded, encodedQueue),
		link:   player.NewLinkMeter(),
	}
}

// sentSR is a sender report sent: its LSR, and when.
type sentSR struct {
	lsr uint32
	at  time.Time
}

// run encodes and publishes, reconnecting with backoff, until stop or
// something no retry can fix (reported).
func (p *publisher) run() {
	go p.sendVideo()
	go p.sendAudio()
	if p.video.Truthy() {
		go func() {
			p.captureVideo(p.video)
			p.deviceEnded(&p.st.CameraEnded, "Your camera stopped (unplugged, or taken by another program): the others no longer see you.")
		}()
	}
	if p.audio.Truthy() {
		go func() {
			p.captureAudio(p.audio)
			p.deviceEnded(&p.st.MicrophoneEnded, "Your microphone stopped (unplugged, or taken by another program): the others no longer hear you.")
		}()
	}
	// The catalog names the picture size and the channels: wait (briefly)
	// for the first of each to know them.
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		p.mu.Lock()
		ready := (p.st.Width > 0 || !p.video.Truthy()) && (p.st.Channels > 0 || !p.audio.Truthy())
		p.mu.Unlock()
		if ready {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	var b protocol.Backoff
	attempt := 0
	for {
		connected, err := p.session()
		p.mu.Lock()
		stopped := p.stopped
		p.mu.Unlock()
		var f fatal
		switch {
		case stopped:
			return
		case errors.Is(err, errLogin):
			p.report(pubEvent{State: "login"})
			return
		case errors.As(err, &f):
			p.report(pubEvent{State: "error", Message: f.msg})
			return
		}
		if connected {
			attempt = 0
		}
		attempt++
		d := b.Delay(attempt, js.Global().Get("Math").Call("random").Float())
		p.report(pubEvent{State: "reconnecting", Message: "Reconnecting in " + strconv.Itoa(int(d.Round(time.Second)/time.Second)) +
			" s (attempt " + strconv.Itoa(attempt) + "): " + err.Error()})
		time.Sleep(d)
	}
}

// deviceEnded records that a track's capture ended (flag, a pubStats
// field) and tells the page, unless the publishing was stopped (leaving
// ends the tracks too).
func (p *publisher) deviceEnded(flag *bool, msg string) {
	p.mu.Lock()
	stopped := p.stopped
	if !stopped {
		*flag = true
	}
	p.mu.Unlock()
	if !stopped {
		p.report(pubEvent{State: "device", Message: msg})
	}
}

// stop ends the publishing: the session closes, run returns.
func (p *publisher) stop() {
	p.mu.Lock()
	p.stopped, p.live = true, false
	wt := p.wt
	p.mu.Unlock()
	if wt.Truthy() {
		wt.Call("close")
	}
}

// runPublisherWorker is the program in static/publisher.js's worker: it
// publishes what quicastPublisherInit ({room, video, audio}) names, tells
// the page how it goes ({state, message, stream}) and its figures
// ({stats}, every statsEvery), until the page asks it to stop
// (quicastStop) or nothing a retry can fix happens; then {done: true}.
func runPublisherWorker() {
	g := js.Global()
	init := g.Get("quicastPublisherInit")
	post := func(m map[string]any) { g.Call("postMessage", m) }
	p := newPublisher(init.Get("room").String(), init.Get("video"), init.Get("audio"), func(e pubEvent) {
		post(map[string]any{"state": e.State, "message": e.Message, "stream": e.Stream})
	})
	g.Set("quicastStop", js.FuncOf(func(js.Value, []js.Value) any { go p.stop(); return nil }))
	if g.Get("quicastStopped").Truthy() {
		p.stop()
	}
	done := make(chan struct{})
	go every(statsEvery, done, func(time.Time) bool {
		post(map[string]any{"stats": p.statsObject()})
		return true
	})
	p.run()
	close(done)
	g.Set("quicastDone", true)
	post(map[string]any{"stats": p.statsObject(), "done": true})
}

// captureVideo feeds the camera's frames (a MediaStreamTrackProcessor's
// readable) to the VP8 encoder, configured (again) whenever the picture
// size changes. A frame is skipped while the encoder is behind.
func (p *publisher) captureVideo(readable js.Value) {
	reader := readable.Call("getReader")
	output, outputFn := newEncodedStaging(256 << 10).output(func(b []byte, us int64, key, nonRef bool) {
		p.mu.Lock()
		p.out.Video.Captured(us, time.Now())
		p.mu.Unlock()
		select {
		case p.videoQ <- encoded{data: b, us: us, at: time.Now(), key: key, nonRef: nonRef}:
		default:
			p.needKey.Store(true) // the sender is behind: start over at a keyframe
		}
	})
	defer outputFn.Release()
	enc, done := newEncoder("VideoEncoder", output)
	defer done()
	layers := temporalLayers()
	w, h := 0, 0
	feed(reader, enc, func(queue, fw, fh int) int {
		now := time.Now()
		if fw != w || fh != h {
			w, h = fw, fh
			if queue >= 0 {
				enc.Call("reset")
			}
			cfg := map[string]any{"codec": protocol.WebCodecsVP8, "width": w, "height": h,
				"bitrate": videoBitrate(w, h), "framerate": 30, "latencyMode": "realtime"}
			if layers {
				cfg["scalabilityMode"] = "L1T2"
			}
			enc.Call("configure", cfg)
			p.needKey.Store(true)
			queue = 0
		}
		p.mu.Lock()
		defer p.mu.Unlock()
		p.st.Width, p.st.Height = w, h
		skip := !p.live || queue < 0 || queue > maxEncodeQueue
		if skip {
			if p.live {
				p.st.FramesSkipped++
			}
			return 0
		}
		if p.needKey.Swap(false) || now.Sub(p.lastKey) >= keyframeInterval {
			p.lastKey = now
			return 2
		}
		return 1
	})
}

// temporalLayers reports whether the browser's VP8 encoder makes two
// temporal layers (W3C WebCodecs scalabilityMode "L1T2", W3C WebRTC-SVC):
// every other frame one no other is predicted from, which the others'
// players leave out when they fall behind instead of waiting for a
// keyframe.
func temporalLayers() bool {
	r, err := await(js.Global().Get("VideoEncoder").Call("isConfigSupported", map[string]any{"codec": protocol.WebCodecsVP8,
		"width": 640, "height": 480, "bitrate": videoBitrate(640, 480), "framerate": 30, "latencyMode": "realtime", "scalabilityMode": "L1T2"}))
	return err == nil && r.Get("supported").Truthy()
}

// newEncoder makes a WebCodecs encoder, kind "VideoEncoder" or
// "AudioEncoder", whose chunks go to output; its errors are logged. done
// closes it and lets its error callback go.
func newEncoder(kind string, output js.Value) (enc js.Value, done func()) {
	onError := js.FuncOf(func(_ js.Value, args []js.Value) any {
		js.Global().Get("console").Call("warn", "quicast: "+kind+":", args[0])
		return nil
	})
	enc = js.Global().Get(kind).New(map[string]any{"output": output, "error": onError})
	return enc, func() {
		if enc.Get("state").String() != "closed" {
			enc.Call("close")
		}
		onError.Release()
	}
}

// feed runs static/publish.js quicastFeed: the track's frames into enc, each
// as decide(encodeQueueSize or −1 while unconfigured, width or channels,
// height or sample rate) says (0 drop, 1 encode, 2 as a keyframe), until
// the track ends. decide runs in a JavaScript callback: it must not block.
func feed(reader, enc js.Value, decide func(queue, a, b int) int) {
	ended := make(chan struct{})
	d := js.FuncOf(func(_ js.Value, args []js.Value) any {
		return decide(args[0].Int(), args[1].Int(), args[2].Int())
	})
	defer d.Release()
	onEnd := js.FuncOf(func(js.Value, []js.Value) any { close(ended); return nil })
	defer onEnd.Release()
	helpers.feed.Invoke(reader, enc, d, onEnd)
	<-ended
}

// encodedStaging is where static/publish.js quicastEncodedOutput copies an
// encoder's chunks for Go to take: holder.buf, replaced by a larger array
// when a chunk does not fit.
type encodedStaging struct {
	holder, buf js.Value
	size        int // bytes in buf
}

func newEncodedStaging(size int) *encodedStaging {
	s := &encodedStaging{holder: js.Global().Get("Object").New(), buf: js.Global().Get("Uint8Array").New(size), size: size}
	s.holder.Set("buf", s.buf)
	return s
}

// output returns the encoder's output function; encoded gets each chunk's
// bytes (its own copy), timestamp (µs), whether it is a keyframe and
// whether a non-reference frame (an L1T2 encoder's temporal layer 1).
func (s *encodedStaging) output(encoded func(b []byte, us int64, key, nonRef bool)) (js.Value, js.Func) {
	f := js.FuncOf(func(_ js.Value, args []js.Value) any {
		n := args[0].Int()
		if n > s.size {
			s.buf = s.holder.Get("buf")
			s.size = s.buf.Length()
		}
		b := make([]byte, n)
		js.CopyBytesToGo(b, s.buf)
		kind := args[2].Int()
		encoded(b, int64(args[1].Float()), kind == 1, kind == 2)
		return nil
	})
	return helpers.encodedOutput.Invoke(s.holder, f), f
}

// captureAudio feeds the microphone (a MediaStreamTrackProcessor's
// readable) to the Opus encoder in 20 ms packets (opusFrame).
func (p *publisher) captureAudio(readable js.Value) {
	reader := readable.Call("getReader")
	output, outputFn := newEncodedStaging(4096).output(func(b []byte, us int64, _, _ bool) {
		p.mu.Lock()
		p.out.Audio.Captured(us, time.Now())
		if p.live {
			p.st.EncodeStalls.Mark(time.Now())
		}
		p.mu.Unlock()
		select {
		case p.audioQ <- encoded{data: b, us: us, at: time.Now()}:
		default:
			// The sending is encodedQueue packets behind: by far
			// too old to send.
			p.mu.Lock()
			p.st.AudioSkipped++
			p.st.AudioLate++
			p.mu.Unlock()
		}
	})
	defer outputFn.Release()
	enc, done := newEncoder("AudioEncoder", output)
	defer done()
	// static/publish.js quicastFeedAudio feeds the encoder without waking
	// the program per microphone chunk; what it drops and the gaps it
	// sees are in gate, read with the figures (statsObject).
	gate := js.Global().Get("Object").New()
	gate.Set("maxQueue", maxAudioQueue)
	gate.Set("behind", 0)
	gate.Set("stalls", []any{0, 0, 0})
	p.mu.Lock()
	p.audioGate = gate
	p.mu.Unlock()
	first := js.FuncOf(func(_ js.Value, args []js.Value) any {
		ch, rate := args[0].Int(), args[1].Int()
		go func() {
			cfg := map[string]any{"codec": "opus", "sampleRate": rate, "numberOfChannels": ch,
				"bitrate": audioBitrate, "opus": map[string]any{"frameDuration": opusFrame.Microseconds()}}
			if r, err := await(js.Global().Get("AudioEncoder").Call("isConfigSupported", cfg)); err != nil || !r.Get("supported").Bool() {
				delete(cfg, "opus")
			}
			enc.Call("configure", cfg)
			p.mu.Lock()
			p.st.Channels = ch
			p.mu.Unlock()
		}()
		return nil
	})
	defer first.Release()
	ended := make(chan struct{})
	onEnd := js.FuncOf(func(js.Value, []js.Value) any { close(ended); return nil })
	defer onEnd.Release()
	helpers.feedAudio.Invoke(reader, enc, gate, first, onEnd)
	<-ended
}

// sendVideo writes the encoded frames of the current session: a keyframe
// opens a new group stream and ends the one before; frames that have no
// group to go in (the session's first keyframe is not out yet, a write
// failed) are dropped and a keyframe asked for.
func (p *publisher) sendVideo() {
	aw := newAwaiter()
	defer aw.release()
	var group js.Value
	gen := -1
	var buf []byte
	for e := range p.videoQ {
		p.mu.Lock()
		live, wt, cur := p.live, p.wt, p.gen
		p.mu.Unlock()
		if !live || cur != gen {
			group, gen = js.Undefined(), cur
			if !live {
				continue
			}
		}
		if !e.key && time.Since(e.at) > videoMaxAge {
			// The page was too busy to send it in time: end the group
			// here and start over at a fresh keyframe.
			if group.Truthy() {
				group.Call("close").Call("catch", p.ignore)
			}
			group = js.Undefined()
			p.needKey.Store(true)
			p.mu.Lock()
			p.st.FramesSkipped++
			p.mu.Unlock()
			continue
		}
		if e.key {
			if group.Truthy() {
				group.Call("close").Call("catch", p.ignore)
			}
			group = js.Undefined()
			st, err := await(wt.Call("createUnidirectionalStream"))
			if err != nil {
				p.needKey.Store(true)
				continue
			}
			group = st.Call("getWriter")
			p.mu.Lock()
			ssrc := p.out.Video.SSRC
			p.st.Groups++
			p.st.Keyframes++
			n := uint64(p.st.Groups)
			p.mu.Unlock()
			buf = protocol.AppendGroupHeader(buf[:0], protocol.GroupHeader{SSRC: ssrc, Group: n})
		} else {
			buf = buf[:0]
		}
		if !group.Truthy() {
			p.needKey.Store(true)
			continue
		}
		p.mu.Lock()
		pkts := p.out.Video.VP8(e.data, e.us, protocol.MTU, e.nonRef)
		p.st.VideoFrames++
		p.st.VideoBytes += int64(len(e.data))
		p.mu.Unlock()
		for _, pkt := range pkts {
			buf = protocol.AppendPacket(buf, pkt)
		}
		u8 := js.Global().Get("Uint8Array").New(len(buf))
		js.CopyBytesToJS(u8, buf)
		if _, err := aw.await(group.Call("write", u8)); err != nil {
			group = js.Undefined()
			p.needKey.Store(true)
		}
	}
}

// sendAudio sends each Opus packet in a datagram of its own.
func (p *publisher) sendAudio() {
	var a audioSender
	for e := range p.audioQ {
		a.send(p, e)
	}
}

// audioSender puts Opus packets into datagrams through a staging array.
type audioSender struct {
	staging js.Value
	size    int
}

// send sends e in a datagram of its own, unless the page is not live or
// was too busy to send it in time.
func (a *audioSender) send(p *publisher, e encoded) {
	if a.size == 0 {
		a.size = protocol.MaxPacket
		a.staging = js.Global().Get("Uint8Array").New(a.size)
	}
	p.mu.Lock()
	if !p.live {
		p.mu.Unlock()
		return
	}
	if time.Since(e.at) > audioMaxAge {
		// Too busy to send it in time: late sound is worse than a
		// gap the receivers conceal.
		p.st.AudioSkipped++
		p.st.AudioLate++
		p.mu.Unlock()
		return
	}
	w := p.dgramW
	if ds := w.Get("desiredSize"); ds.Type() == js.TypeNumber && ds.Float() <= -float64(maxAudioQueue) {
		// The datagram queue is that far past its high-water mark:
		// drop, as the encoder's queue does, before the packet takes
		// a sequence number: the receivers see the sound jump
		// ahead, not a loss they would wait for.
		p.st.AudioSkipped++
		p.st.DatagramsBehind++
		p.mu.Unlock()
		return
	}
	pkt := p.out.Audio.Opus(e.data, e.us)
	p.st.SendStalls.Mark(time.Now())
	p.st.AudioPackets++
	p.st.AudioBytes += int64(len(e.data))
	p.mu.Unlock()
	if len(pkt) > a.size {
		a.size = 2 * len(pkt)
		a.staging = js.Global().Get("Uint8Array").New(a.size)
	}
	js.CopyBytesToJS(a.staging, pkt)
	helpers.write.Invoke(w, a.staging, len(pkt))
}

// session joins the room (a fresh ticket), opens the publish session,
// offers the tracks and publishes until the session closes. connected
// reports whether it got as far as the catalog.
func (p *publisher) session() (connected bool, err error) {
	j, err := askRelay("/api/rooms/"+queryEscape(p.room)+"/join", "POST", "there is no room named “"+p.room+"” on this relay")
	if err != nil {
		return false, err
	}
	wt, err := newWebTransport(j.Get("url"), transportOptions(j))
	if err != nil {
		return false, err
	}
	if _, err := await(wt.Get("ready")); err != nil {
		return false, errors.New("the relay refused the session or is unreachable (" + err.Error() + ")")
	}
	defer wt.Call("close")
	bidi, err := await(wt.Call("createBidirectionalStream"))
	if err != nil {
		return false, err
	}
	ctrlW := bidi.Get("writable").Call("getWriter")
	p.mu.Lock()
	var tracks []protocol.TrackInfo
	if p.video.Truthy() {
		tracks = append(tracks, protocol.TrackInfo{Kind: "video", Codec: protocol.CodecVP8, Width: p.st.Width, Height: p.st.Height})
	}
	if p.audio.Truthy() {
		tracks = append(tracks, protocol.TrackInfo{Kind: "audio", Codec: "opus", Channels: uint16(max(p.st.Channels, 1))})
	}
	p.mu.Unlock()
	write := func(m *protocol.Message) error {
		b, err := protocol.AppendMessage(nil, m)
		if err != nil {
			return err
		}
		u8 := js.Global().Get("Uint8Array").New(len(b))
		js.CopyBytesToJS(u8, b)
		_, err = await(ctrlW.Call("write", u8))
		return err
	}
	if err := write(&protocol.Message{Type: protocol.MsgPublish, Client: "quicast-browser", Tracks: tracks}); err != nil {
		return false, err
	}
	cr := protocol.NewControlReader(&jsReader{r: bidi.Get("readable").Call("getReader")})
	m, err := cr.Read()
	switch {
	case err != nil:
		return false, errors.New("the relay closed the session before it began")
	case m.Type == protocol.MsgError:
		return false, fatal{"the relay refused to publish: " + m.Reason}
	case m.Type != protocol.MsgCatalog:
		return false, errors.New("the relay sent " + m.Type + " before its catalog")
	}
	stream := j.Get("stream").String()
	dw := wt.Get("datagrams")
	// Sound the browser could not send within audioMaxAge is dropped
	// rather than sent late (W3C WebTransport, outgoingMaxAge): a starved
	// page or network process must not turn into seconds of delay.
	dw.Set("outgoingMaxAge", audioMaxAge.Milliseconds())
	// Up to datagramsInFlight handed to the network process before a
	// write waits (W3C WebTransport, outgoingHighWaterMark). With
	// Chromium's default the writes waited behind the ones not sent yet,
	// and in a four-person call on a 2-core machine half the sound was
	// dropped here for that queue (51-53 of ~105 packets a second; 1-3
	// with 16 in flight, and the receivers lost none of them).
	dw.Set("outgoingHighWaterMark", datagramsInFlight)
	var dgramW js.Value
	if dw.Get("createWritable").Truthy() {
		dgramW = dw.Call("createWritable").Call("getWriter")
	} else {
		dgramW = dw.Get("writable").Call("getWriter")
	}
	rnd := func() uint32 { return uint32(js.Global().Get("Math").Call("random").Float() * (1 << 32)) }
	p.mu.Lock()
	p.out = player.Outgoing{Video: p.out.Video, Audio: p.out.Audio} // keeps the capture clocks
	for _, t := range m.Tracks {
		tr := &p.out.Audio
		if t.Kind == "video" {
			tr = &p.out.Video
		}
		tr.SSRC, tr.PayloadType, tr.ClockRate, tr.Base = t.SSRC, t.PayloadType, t.ClockRate, rnd()
		tr.SetSequence(uint16(rnd()))
		tr.Packets, tr.Octets = 0, 0
	}
	if p.stopped {
		p.mu.Unlock()
		return true, errors.New("stopped")
	}
	p.wt, p.ctrlW, p.dgramW, p.live, p.stream = wt, ctrlW, dgramW, true, stream
	p.gen++
	p.mu.Unlock()
	p.needKey.Store(true)
	p.report(pubEvent{State: "live", Message: "In the room as " + j.Get("user").String() + ".", Stream: stream})

	var ended atomic.Value
	done := make(chan struct{})
	go func() {
		for {
			m, err := cr.Read()
			if err != nil {
				return
			}
			switch m.Type {
			case protocol.MsgKeyframe:
				p.needKey.Store(true)
				p.mu.Lock()
				p.st.KeyframeRequests++
				p.mu.Unlock()
			case protocol.MsgStats:
				if m.Stats != nil {
					p.mu.Lock()
					p.st.Viewers = int(m.Stats.Viewers)
					p.mu.Unlock()
				}
			case protocol.MsgReport:
				p.receptionReport(m.Reports, time.Now())
			case protocol.MsgEnded:
				ended.Store(m.Reason)
			}
		}
	}()
	go every(syncInterval, done, func(time.Time) bool {
		var reports []protocol.SyncReport
		p.mu.Lock()
		for _, tr := range []*player.OutTrack{&p.out.Video, &p.out.Audio} {
			if r, ok := tr.Sync(); ok {
				reports = append(reports, r)
			}
		}
		p.mu.Unlock()
		for _, r := range reports {
			if write(&protocol.Message{Type: protocol.MsgSync, Sync: &r}) != nil {
				return false
			}
			p.mu.Lock()
			p.srSent[p.srNext%len(p.srSent)] = sentSR{lsr: protocol.LSR(r.NTPTime), at: time.Now()}
			p.srNext++
			p.mu.Unlock()
		}
		return true
	})
	go every(linkEvery, done, func(now time.Time) bool {
		p.sampleLink(now)
		return true
	})
	info, cerr := await(wt.Get("closed"))
	close(done)
	p.mu.Lock()
	p.live = false
	p.mu.Unlock()
	reason, _ := ended.Load().(string)
	switch {
	case reason == protocol.EndTakenOver.String():
		return true, fatal{"you joined this room from another tab or device: this one has stopped sending"}
	case reason == protocol.EndRemoved.String() || reason == protocol.EndRevoked.String():
		return true, fatal{"the room or your account was removed"}
	case reason != "":
		return true, errors.New(reason)
	case cerr != nil:
		return true, errors.New("the connection to the relay was lost")
	case info.Truthy() && info.Get("reason").Truthy() && info.Get("reason").String() != "":
		return true, errors.New(info.Get("reason").String())
	}
	return true, errors.New("the relay closed the session")
}

// linkEvery is how often the link's figures are taken (the call's status
// line says them).
const linkEvery = time.Second

// sampleLink takes the bitrate sent, at now.
func (p *publisher) sampleLink(now time.Time) {
	p.mu.Lock()
	p.link.Sample(now, p.st.VideoBytes+p.st.AudioBytes)
	p.mu.Unlock()
}

// receptionReport takes the relay's reception report blocks (MsgReport)
// of this participant's tracks, come at now: the loss (the larger
// fraction of the two tracks') and the round-trip time (RFC 3550 §6.4.1:
// now, less when the sender report the block answers (LSR) was sent, less
// how long the relay held it (DLSR, 1/65536 s)).
func (p *publisher) receptionReport(blocks []protocol.ReportBlock, now time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	loss, seen := 0.0, false
	for _, b := range blocks {
		if b.SSRC != p.out.Video.SSRC && b.SSRC != p.out.Audio.SSRC || b.SSRC == 0 {
			continue
		}
		loss, seen = max(loss, float64(b.FractionLost)*100/256), true
		if b.LastSenderReport == 0 {
			continue
		}
		for _, sr := range p.srSent {
			if sr.lsr == b.LastSenderReport && !sr.at.IsZero() {
				if rtt := now.Sub(sr.at) - protocol.ShortDuration(int64(b.Delay)); rtt > 0 {
					p.link.RTT = rtt
				}
			}
		}
	}
	if seen {
		p.link.LossPct = loss
	}
}

// statsObject returns the figures (pubStats) for quicastPublishStats.
func (p *publisher) statsObject() map[string]any {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.st
	if g := p.audioGate; g.Truthy() { // static/publish.js quicastFeedAudio's
		behind := g.Get("behind").Int()
		s.EncoderBehind += behind
		s.AudioSkipped += behind
		st := g.Get("stalls")
		s.CaptureStalls = player.Stalls{Over50: st.Index(0).Int(), Over100: st.Index(1).Int(),
			Longest: time.Duration(st.Index(2).Float() * float64(time.Millisecond))}
	}
	return map[string]any{
		"audioSkippedEncoder": s.EncoderBehind, "audioSkippedLate": s.AudioLate, "audioSkippedQueue": s.DatagramsBehind,
		"stream":      p.stream,
		"videoFrames": s.VideoFrames, "keyframes": s.Keyframes, "groups": s.Groups, "framesSkipped": s.FramesSkipped,
		"audioSkipped": s.AudioSkipped, "captureStalls": stallsObject(s.CaptureStalls), "encodeStalls": stallsObject(s.EncodeStalls), "sendStalls": stallsObject(s.SendStalls),
		"videoBytes": s.VideoBytes, "audioPackets": s.AudioPackets, "audioBytes": s.AudioBytes,
		"keyframeRequests": s.KeyframeRequests, "viewers": s.Viewers,
		"width": s.Width, "height": s.Height, "channels": s.Channels,
		"cameraEnded": s.CameraEnded, "microphoneEnded": s.MicrophoneEnded,
		"link": map[string]any{"known": p.link.Known, "kbps": p.link.Kbps, "lossPct": p.link.LossPct, "rttMs": ms(p.link.RTT)},
	}
}
