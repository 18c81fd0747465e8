//go:build js && wasm

package main

import (
	"errors"
	"io"
	"math"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall/js"
	"time"
	"unsafe"

	"github.com/quicast/quicast/protocol"
	"github.com/quicast/quicast/viewer-wasm/player"
)

const (
	tick = 8 * time.Millisecond
	// A frame that comes late is still shown unless the next one has been
	// due this long (half a frame interval at 30 fps): a frame held up by a
	// jittery network is shown and the next ones catch up, a player further
	// behind jumps to the present. Measured with 30 ms of jitter (5 % loss):
	// frames shown 93 → 98 % (83 → 98 %); A/V skew p95 unchanged at 0 %
	// loss. 33 ms showed more frames but doubled the skew p95.
	catchUp    = 16 * time.Millisecond
	maxPending = 30 // decoded video frames waiting for their time
	maxDecodeQ = 16 // frames queued in the VideoDecoder before we skip to a keyframe
	// Frames queued in the VideoDecoder from which a non-reference frame
	// (VP8's N bit: the sender's every other frame) is left out: a player
	// behind shows half the frames rather than overflow the queue and
	// wait for a keyframe.
	thinDecodeQ = 2
	// Chromium's AudioDecoder decodes one packet at a time, each a round
	// trip through the thread that owns it. On a saturated page's main
	// thread (a four-person call on 2 cores) it decoded 11-17 of the 100
	// packets a second of a participant while 5,800-7,300 waited in it:
	// sound a minute late (hence static/decoder.js, a worker, where it
	// can). A packet that would wait behind this many (300 ms of 10 ms
	// packets, the most the playout target holds) is dropped instead (the
	// playout conceals it): sound with gaps, on time. Fewer (10) dropped
	// half the packets of a page that gets to run its loop only now and
	// then, each time with a burst due. (A decoding worker, where there is
	// one, drops the old sound in it instead: static/decoder.js.)
	maxAudioDecodeQ = 30
	maxEarly        = 2048 // video packets held for a catalog that has not come yet
	audioMinDelay   = 10 * time.Millisecond
	audioPacket     = 10 * time.Millisecond // the sender's Opus frames until its first packet says (quicast-send 10 ms, browsers 20 ms)
	audioMaxDelay   = 200 * time.Millisecond
	// What giving up on a lost packet takes to reach the loudspeaker:
	// up to two ticks of this loop and the AudioDecoder. Measured in a
	// two-browser call (2 cores, saturated): with the gap held open for
	// the whole playout buffer less a packet, nearly every lost packet
	// ran the buffer dry (an underrun, 10 ms more target each).
	gapMargin = 30 * time.Millisecond
	// A datagram the page has not read this long after it came is dropped
	// by the browser (W3C WebTransport, incomingMaxAge): later than the
	// playout delay ever holds, so only a starved page loses any.
	datagramMaxAge = 500 * time.Millisecond
	// Datagrams the browser queues for the page while it is not reading
	// (W3C WebTransport, incomingHighWaterMark). Chromium's default is 1:
	// it drops the older of any two that come while the page is busy, and
	// three in one network read are enough. Measured in a two-browser call
	// on a saturated 2-core machine: 2.6 audio packets/s lost with the
	// default, each making the jitter buffer wait out a gap and the
	// playout buffer run dry. At 100 packets/s the max age above bounds
	// the queue first.
	datagramQueue = 256
	datagramRing  = 256 << 10   // bytes of datagrams between two drains (8 ms: ~1 kB of audio)
	gcEvery       = time.Second // see collect
	keyframeEvery = time.Second // at most one keyframe request per this
	// The player reports its figures every heartbeat and the relay answers;
	// a relay that answers nothing for relayGone is gone (killed, or the
	// network dropped) even before QUIC's idle timeout says so.
	heartbeat = 2 * time.Second
	relayGone = 6 * time.Second
)

// helpers are static/player.js's and static/publish.js's functions for
// the per-packet paths, looked up once: a js.Value made per packet (an
// object, a string) costs a finalizer that Go's garbage collector runs in
// one batch with thousands of others, stalling the page (static/player.js
// says by how much).
var helpers struct {
	readRing, decodeAudio, decodeVideo, audioDecoder, audioForget, heardAt, encodedOutput, feed, feedAudio, write, playoutReports, renderAnswers js.Value
}

func loadHelpers() {
	g := js.Global()
	helpers.readRing = g.Get("quicastReadRing")
	helpers.decodeAudio = g.Get("quicastDecodeAudio")
	helpers.decodeVideo = g.Get("quicastDecodeVideo")
	helpers.audioDecoder = g.Get("quicastAudioDecoder")
	helpers.audioForget = g.Get("quicastAudioForget")
	helpers.heardAt = g.Get("quicastHeardAt")
	helpers.encodedOutput = g.Get("quicastEncodedOutput")
	helpers.feed = g.Get("quicastFeed")
	helpers.feedAudio = g.Get("quicastFeedAudio")
	helpers.write = g.Get("quicastWrite")
	helpers.playoutReports = g.Get("quicastPlayoutReports")
	helpers.renderAnswers = g.Get("quicastRenderAnswers")
}

// collect runs the garbage collector every gcEvery. A player's heap is a
// few MB, so left to itself Go collects once in 20 s or more, and then runs
// every js.Value finalizer of those 20 s in one go: one main-thread task of
// 180-290 ms in a two-browser call (W3C Long Tasks), each running the
// playout buffers dry. Collected every second, a batch is a second's
// values.
func collect() {
	for range time.Tick(gcEvery) {
		runtime.GC()
	}
}

type result struct {
	v   js.Value
	err error
}

// await blocks the calling goroutine (never a js.FuncOf callback) until the
// promise settles; JS callbacks run meanwhile.
func await(p js.Value) (js.Value, error) {
	a := newAwaiter()
	defer a.release()
	return a.await(p)
}

// awaiter awaits one promise after another with the same two callbacks: a
// loop reading a stream a hundred times a second would otherwise make and
// release two js.Funcs per read. One promise at a time; release when done.
type awaiter struct {
	then, catch js.Func
	ch          chan result
}

func newAwaiter() *awaiter {
	a := &awaiter{ch: make(chan result, 1)}
	a.then = js.FuncOf(func(_ js.Value, args []js.Value) any {
		v := js.Undefined()
		if len(args) > 0 {
			v = args[0]
		}
		a.ch <- result{v: v}
		return nil
	})
	a.catch = js.FuncOf(func(_ js.Value, args []js.Value) any {
		msg := "promise rejected"
		if len(args) > 0 && args[0].Truthy() {
			if m := args[0].Get("message"); m.Truthy() {
				msg = m.String()
			} else {
				msg = args[0].Call("toString").String()
			}
		}
		a.ch <- result{err: errors.New(msg)}
		return nil
	})
	return a
}

// await blocks the calling goroutine until p settles, as the function
// await does.
func (a *awaiter) await(p js.Value) (js.Value, error) {
	p.Call("then", a.then, a.catch)
	r := <-a.ch
	return r.v, r.err
}

func (a *awaiter) release() {
	a.then.Release()
	a.catch.Release()
}

// jsReader reads a ReadableStream of Uint8Array chunks as an io.Reader.
type jsReader struct {
	r   js.Value
	buf []byte
	p   *Player
	aw  *awaiter // made on the first read, released at the stream's end
}

func (j *jsReader) Read(b []byte) (int, error) {
	if len(j.buf) == 0 {
		if j.aw == nil {
			j.aw = newAwaiter()
		}
		res, err := j.aw.await(j.r.Call("read"))
		if err == nil && res.Get("done").Bool() {
			err = io.EOF
		}
		if err != nil {
			j.aw.release()
			j.aw = nil
			return 0, err
		}
		v := res.Get("value")
		n := v.Get("byteLength").Int()
		if cap(j.buf) < n {
			j.buf = make([]byte, n)
		}
		j.buf = j.buf[:n]
		js.CopyBytesToGo(j.buf, v)
		if j.p != nil {
			j.p.mu.Lock()
			j.p.bytes += int64(n)
			j.p.mu.Unlock()
		}
	}
	n := copy(b, j.buf)
	j.buf = j.buf[n:]
	return n, nil
}

// fatal is an error no reconnection can fix.
type fatal struct{ msg string }

func (f fatal) Error() string { return f.msg }

var errLogin = errors.New("not logged in")

// Player is the watch page. One goroutine owns each loop; what they share
// is under mu.
type Player struct {
	stream string
	next   string   // the page to come back to after logging in
	root   js.Value // carries data-state, data-muted, data-video for the style sheet
	canvas js.Value
	ctx2d  js.Value // drawing on the main thread, without a render worker
	// The render worker (static/render.js) draws on the canvas, handed
	// over as an OffscreenCanvas; frames it is drawing, by id.
	renderer js.Value
	drawing  map[int]drawn
	drawID   int
	status   js.Value
	stats    js.Value
	viewers  js.Value
	staging  js.Value

	vdec, adec js.Value
	audioDec   js.Value // static/player.js quicastAudioDecoder's state: adec and the plan of its outputs
	audioNode  js.Value
	playout    js.Value // {play(audioData, conceal), reset(epoch)}: static/player.js quicastPlayout
	audioCtx   js.Value
	videoPkts  chan groupPacket
	catalogs   chan struct{} // a new broadcast: the video loop looks at the packets it held
	ring       []byte        // the session's datagrams, written by static/player.js quicastReadRing
	funcs      []js.Func
	ignore     js.Func
	done       chan struct{} // closed by stop
	stopOnce   sync.Once
	wt         js.Value // the open WebTransport session, if any

	mu             sync.Mutex
	m              player.Machine
	bc             *player.Broadcast // the current broadcast; nil before the first catalog
	epoch          int               // of the worklet's buffer: one per broadcast
	s              stats
	bytes          int64
	audioOn        bool
	audioPos       int64     // worklet read position in this epoch, samples
	audioPosAt     time.Time // when the worklet's report arrived
	audioPosCtx    float64   // the AudioContext time of that position, s
	played         int64     // samples played in all, as last reported
	pending        []pendingFrame
	jitter         *protocol.JitterBuffer
	vdecConfigured bool
	vdecCodec      string // what vdec is configured for
	vdecUsed       bool   // it was given a chunk since
	adecConfigured bool
	audioInWorker  bool // the AudioDecoder is static/decoder.js's, which drops its own backlog
	ctrlWriter     js.Value
	lastKeyReq     time.Time
	lastCtrl       time.Time // when the relay last sent a control message
	viewerCount    int
	target         player.PlayoutTarget
	skew           player.SkewMeter
	cont           player.Continuity
	late           player.Lateness     // of video frames against the audio, when decoded
	drawCost       time.Duration       // from choosing a frame to its being on the canvas (smoothed)
	flashing       bool                // the last frame drawn was the test source's white flash
	arrived        map[int64]time.Time // extended RTP timestamp → when the frame went to the decoder
	lat            player.LatencyWindow
	firstFrameMS   float64            // performance.now() at the first frame shown: ms since navigation
	marks          map[string]float64 // first time each start-up step happened, ms since navigation
	targetSent     time.Duration
	packetDur      time.Duration // of the sender's last Opus packet
	merged         []byte        // drainAudio's chunk of merged packets, kept for the next
	reports        []float64     // the worklet's latest figures (takeReports), written by static/player.js until stop takes its port's handler away
	reported       js.Value      // and its last `fixed` report (.fixed): its arrivals played at fixed targets
	reportsTaken   int64         // reports taken in so far
	beeps          int64         // beeps taken in so far
	answers        []float64     // the render worker's answers (takeAnswers), written by static/player.js until the worker is terminated
	answersTaken   int64         // answers taken in so far
	outLatency     time.Duration // AudioContext output + base latency: played samples are heard this much later

	ticks struct { // when tick last did its slower work; only tick touches them
		lastRate, lastOverlay, lastShow time.Time
		lastBytes                       int64
	}
}

type pendingFrame struct {
	frame js.Value
	ts    int64     // RTP timestamp, unwrapped (90 kHz)
	wall  time.Time // the sender's wall clock at capture
	times player.FrameTimes
}

type groupPacket struct {
	ssrc  uint32
	group uint64
	start bool
	pkt   []byte
}

type stats struct {
	VideoCodec, AudioCodec                           string
	Width, Height                                    int
	VideoFramesDecoded, VideoFramesRendered          int
	VideoFramesDropped, AudioFramesDecoded           int
	AudioSamplesPlayed, AudioUnderruns, AudioDropped int
	AudioSamplesMuted, AudioSamplesTrimmed           int
	AudioSamplesStarved                              int // silence played after running dry
	AudioSamplesConcealed                            int // lost packets' time, filled by the worklet
	VideoFramesLost                                  int // complete frames not decoded: packets lost in or before them
	VideoFramesAssembled                             int // complete frames out of reassembly
	VideoFramesAwaitingKey                           int // complete frames not decoded: the gate waits for a keyframe
	VideoDecoderFull                                 int // frames not decoded: the VideoDecoder's queue over maxDecodeQ
	VideoFramesNonReference                          int // complete frames with VP8's N bit: no other frame is predicted from them
	VideoFramesThinned                               int // non-reference frames not decoded: the VideoDecoder's queue at thinDecodeQ
	VideoFramesCopied                                int // frames the render worker put on the canvas converted by copyTo, not drawImage
	VideoGroupsLost                                  int // groups never received (player.VideoGate.LostGroups)
	TargetDelayMS, OutputLatencyMS                   float64
	Latency                                          player.Latency
	BitrateKbps, PlayoutDelayMS, JitterMS            float64
	AVSkewClockMS                                    float64 // from the clocks: audio heard − video shown, sender time
	GroupsReceived, PacketsLost, KeyframeRequests    int
	PacketsLate                                      int // audio packets come after the jitter buffer gave them up
	AudioDecodeQueue                                 int // packets in the AudioDecoder, not decoded yet (W3C WebCodecs decodeQueueSize)
	AudioChunksMerged                                int // packets handed to the decoder merged into the one before (protocol.OpusMerge)
	AudioDecoderBehind                               int // packets dropped for the decoder being maxAudioDecodeQ behind (the decoding worker's: the old ones in it)
	AudioWorkerErrors                                int // errors of the AudioDecoder in the decoding worker (its sound concealed, a new decoder made)
	DecodeErrors                                     int
	BadDatagrams                                     int // audio datagrams that could not be parsed
	BadAudioPackets                                  int // RTP packets of the audio track that are no Opus packet (RFC 6716 §3.4)
	DatagramsDropped                                 int // audio datagrams with no room left between two drains

	// Gaps on the sound's way to the playout ring (player.Stalls, since
	// resetStats): between audio datagrams reaching the players' thread,
	// between its ticks, between packets handed to the decoder; the
	// decoding worker's own (packets in, sound out) as it counts them.
	ArrivalStalls, TickStalls, HandStalls player.Stalls
	// The video's: between frames handed to the VideoDecoder and between
	// its outputs; the most frames its queue held (decodeQueueSize).
	VideoInStalls, VideoOutStalls     player.Stalls
	VideoDecodeQMax                   int
	DecoderInStalls, DecoderOutStalls [2]int // over 50 ms, over 100 ms
}

// view is what a player draws on and reports to: the watch page, or a
// participant's tile in a room page. Any of the js.Values but canvas may be
// undefined.
type view struct {
	root     js.Value // data-state, data-muted and data-video are kept on it
	canvas   js.Value
	status   js.Value // the state in words
	stats    js.Value // the statistics overlay
	viewers  js.Value // "N watching"
	audio    js.Value // {ctx, node, playout}: an AudioWorkletNode running static/worklet.js and static/player.js quicastPlayout(node)
	renderer js.Value // a render worker already holding the canvas
	next     string   // the page to come back to after logging in
}

// newPlayer makes a player of stream for v; start sets it going.
func newPlayer(stream string, v view) *Player {
	p := &Player{
		stream:  stream,
		next:    v.next,
		root:    v.root,
		canvas:  v.canvas,
		status:  v.status,
		stats:   v.stats,
		viewers: v.viewers,
		staging: js.Global().Get("Uint8Array").New(protocol.MaxPacket * 256),
		jitter:  protocol.NewJitterBuffer(protocol.ClockRateOpus, audioMinDelay, audioMaxDelay),
		// The playout buffer holds at least two of the sender's Opus
		// packets (drainAudio follows their length).
		target:    player.PlayoutTarget{Min: 2 * audioPacket},
		packetDur: audioPacket,
		videoPkts: make(chan groupPacket, 2048),
		catalogs:  make(chan struct{}, 1),
		arrived:   map[int64]time.Time{},
		marks:     map[string]float64{},
		done:      make(chan struct{}),
		renderer:  v.renderer,
	}
	p.ignore = p.fn(func([]js.Value) {})
	p.setupRenderer()
	p.setupAudio(v.audio)
	p.setupDecoders()
	// Warm the video decoder up while the session opens: VP8 is what
	// quicast sends; another codec in the catalog reconfigures it.
	p.configureVideo("vp8")
	return p
}

// start runs the player's loops until stop.
func (p *Player) start() {
	go p.run()
	go p.videoLoop()
	clock.add(p)
}

// stop closes the session, ends the loops and lets the decoders, the
// frames held and the render worker go. The player cannot start again.
func (p *Player) stop() {
	p.stopOnce.Do(func() {
		close(p.done)
		clock.remove(p)
		p.mu.Lock()
		wt := p.wt
		for _, f := range p.pending {
			f.frame.Call("close")
		}
		p.pending = nil
		p.mu.Unlock()
		if wt.Truthy() {
			wt.Call("close")
		}
		for _, d := range []js.Value{p.vdec, p.adec} {
			if d.Truthy() && d.Get("state").String() != "closed" {
				d.Call("close")
			}
		}
		if p.renderer.Truthy() {
			p.renderer.Call("terminate")
		}
		if p.audioNode.Truthy() {
			p.audioNode.Get("port").Set("onmessage", js.Null())
			p.audioNode.Call("disconnect")
		}
	})
}

// stopped reports whether stop was called.
func (p *Player) stopped() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// resetStats starts the measurement windows over — frames shown and
// freezes, latency, A/V skew — so that a measurement leaves the start-up
// out.
func (p *Player) resetStats() {
	p.mu.Lock()
	p.cont.Reset()
	p.lat.Reset()
	p.skew.Reset()
	p.s.ArrivalStalls.Reset()
	p.s.TickStalls.Reset()
	p.s.HandStalls.Reset()
	p.s.VideoInStalls.Reset()
	p.s.VideoOutStalls.Reset()
	p.s.VideoDecodeQMax = 0
	p.mu.Unlock()
}

func main() {
	loadHelpers()
	go collect()
	if !js.Global().Get("document").Truthy() {
		if js.Global().Get("quicastPublisherInit").Truthy() {
			runPublisherWorker() // static/publisher.js
		} else {
			runPlayersWorker() // static/players.js
		}
		return
	}
	if strings.HasPrefix(js.Global().Get("location").Get("pathname").String(), "/room/") {
		runRoom()
		return
	}
	doc := js.Global().Get("document")
	path := js.Global().Get("location").Get("pathname").String()
	name := pathUnescape(strings.TrimPrefix(path, "/watch/"))
	if el := doc.Call("getElementById", "stream-name"); el.Truthy() {
		el.Set("textContent", name)
	}
	v := view{
		root:     doc.Get("body"),
		canvas:   doc.Call("getElementById", "video"),
		status:   doc.Call("getElementById", "status"),
		stats:    doc.Call("getElementById", "stats"),
		viewers:  doc.Call("getElementById", "viewers"),
		audio:    js.Global().Get("quicastAudio"),    // set up by watch.js
		renderer: js.Global().Get("quicastRenderer"), // started by watch.js before the player was loaded
		next:     path,
	}
	if missing := missingFeatures(); missing != "" {
		// watch.js says so before loading us; this is for pages that did not.
		p := &Player{root: v.root, status: v.status}
		p.m.Fail("this browser lacks "+missing, time.Now())
		p.show(time.Now())
		select {}
	}
	p := newPlayer(name, v)
	js.Global().Set("quicastStats", js.FuncOf(func(js.Value, []js.Value) any { return p.statsObject() }))
	js.Global().Set("quicastResetStats", js.FuncOf(func(js.Value, []js.Value) any { p.resetStats(); return nil }))
	p.start()
	select {}
}

// drawn is a frame handed to the render worker.
type drawn struct {
	ts     int64
	times  player.FrameTimes
	posted time.Time
}

// maxDrawing bounds the frames handed to the render worker and not drawn
// yet: when it falls behind, the player picks among newer frames instead of
// queueing old ones.
const maxDrawing = 2

// setupRenderer moves drawing off the main thread when the browser can
// (OffscreenCanvas in a worker): drawImage of a 720p frame costs tens of
// ms without a GPU, and every one of them would delay the audio.
func (p *Player) setupRenderer() {
	p.drawing = map[int]drawn{}
	g := js.Global()
	// In the players worker the canvas is an OffscreenCanvas already,
	// handed on to a render worker of its own all the same: drawing
	// would hold the sound up there too.
	offscreen := g.Get("OffscreenCanvas").Truthy() && p.canvas.InstanceOf(g.Get("OffscreenCanvas"))
	if (!offscreen && !p.canvas.Get("transferControlToOffscreen").Truthy()) || !g.Get("Worker").Truthy() {
		p.ctx2d = p.canvas.Call("getContext", "2d", map[string]any{"alpha": false})
		return
	}
	if !p.renderer.Truthy() {
		off := p.canvas
		if !offscreen {
			off = p.canvas.Call("transferControlToOffscreen")
		}
		p.renderer = g.Get("Worker").New("/static/render.js")
		p.renderer.Call("postMessage", map[string]any{"canvas": off}, []any{off})
	}
	p.answers, p.answersTaken = make([]float64, 1+4*renderAnswers), 0
	helpers.renderAnswers.Invoke(p.renderer, uintptr(unsafe.Pointer(&p.answers[0])), len(p.answers))
}

// perfNow returns performance.now() (ms) of this realm.
func perfNow() float64 { return js.Global().Get("performance").Call("now").Float() }

// fromPerf maps at, a performance.now() time (ms) of this realm, to Go's
// clock, given both clocks' readings now and pnow at one instant.
func fromPerf(now time.Time, pnow, at float64) time.Time {
	return now.Add(-time.Duration((pnow - at) * float64(time.Millisecond)))
}

// renderAnswers is how many of the render worker's answers its ring
// (Player.answers) holds: more than maxDrawing frames are never out.
const renderAnswers = 16

// takeAnswers takes in the render worker's answers written since the last
// tick (static/player.js quicastRenderAnswers): each frame drawn, when,
// and whether the test source's flash was on it.
func (p *Player) takeAnswers(now time.Time) {
	a := p.answers
	if a == nil || int64(a[0]) == p.answersTaken {
		return
	}
	pnow := perfNow()
	n := int64(a[0])
	p.mu.Lock()
	defer p.mu.Unlock()
	if n-p.answersTaken > renderAnswers {
		p.answersTaken = n - renderAnswers // overwritten: those frames time out (render)
	}
	for ; p.answersTaken < n; p.answersTaken++ {
		k := 1 + 4*int(p.answersTaken%renderAnswers)
		id, shownAt, flash, copied := int(a[k]), a[k+1], a[k+2] == 1, a[k+3] == 1
		if copied {
			p.s.VideoFramesCopied++
		}
		f, ok := p.drawing[id]
		if !ok {
			continue
		}
		delete(p.drawing, id)
		p.frameShown(f.ts, f.times, fromPerf(now, pnow, shownAt), f.posted, flash)
	}
}

// frameShown records a frame on the screen at shown: latency, continuity,
// and the test source's flash for the A/V skew. Called with p.mu held.
func (p *Player) frameShown(ts int64, times player.FrameTimes, shown, posted time.Time, flash bool) {
	times.Shown = shown
	p.drawCost += (shown.Sub(posted) - p.drawCost) / 8
	// The skew as the clocks see it when the frame is on the canvas, not
	// when it was chosen (ahead of its time by what drawing takes), which
	// left out how long the drawing really took.
	if heard := p.audioHeard(shown); !heard.IsZero() && !times.Capture.IsZero() {
		p.s.AVSkewClockMS = float64(heard.Sub(times.Capture)) / 1e6
	}
	p.lat.Add(times)
	p.cont.Frame(ts, shown)
	if p.firstFrameMS == 0 {
		p.firstFrameMS = perfNow()
	}
	if flash && !p.flashing {
		p.skew.Flash(shown)
	}
	p.flashing = flash
}

// goToLogin sends the page to the login page, to come back to next; where
// the page says otherwise (quicastLogin: from a worker, through the page,
// static/players.js; the room page, back into the call, static/room.js),
// its way.
func goToLogin(next string) {
	if f := js.Global().Get("quicastLogin"); f.Truthy() {
		f.Invoke(next)
		return
	}
	js.Global().Get("location").Set("href", "/login?next="+queryEscape(next))
}

// queryEscape escapes s for a URL query, as the browser does
// (encodeURIComponent); net/url would link fmt into the viewer.
func queryEscape(s string) string {
	return js.Global().Call("encodeURIComponent", s).String()
}

// pathUnescape decodes the %XX escapes of a URL path; a malformed escape
// is kept as it is.
func pathUnescape(s string) string {
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+3], 16, 8); err == nil {
				b = append(b, byte(v))
				i += 2
				continue
			}
		}
		b = append(b, s[i])
	}
	return string(b)
}

func missingFeatures() string {
	var missing []string
	for _, f := range []string{"WebTransport", "VideoDecoder", "AudioDecoder", "EncodedVideoChunk"} {
		if !js.Global().Get(f).Truthy() {
			missing = append(missing, f)
		}
	}
	return strings.Join(missing, ", ")
}

func (p *Player) fn(f func(args []js.Value)) js.Func {
	jf := js.FuncOf(func(_ js.Value, args []js.Value) any { f(args); return nil })
	p.funcs = append(p.funcs, jf)
	return jf
}

// setupAudio takes the audio output a ({ctx, node}; none when falsy) and
// its reports.
func (p *Player) setupAudio(a js.Value) {
	if !a.Truthy() {
		return
	}
	p.audioCtx = a.Get("ctx")
	p.audioNode = a.Get("node")
	p.playout = a.Get("playout")
	p.reports = make([]float64, reportValues)
	p.reported = helpers.playoutReports.Invoke(p.audioNode.Get("port"), p.audioCtx, uintptr(unsafe.Pointer(&p.reports[0])), len(p.reports))
}

// The playout worklet's figures, as static/player.js quicastPlayoutReports
// writes them into Player.reports.
const (
	reportCount = iota
	reportEpoch
	reportPos
	reportAt
	reportPlayed
	reportUnderruns
	reportStarved
	reportDropped
	reportTrimmed
	reportBuffered
	reportBeeps
	reportBeepHeard
	reportValues
)

// fixedTargets returns the worklet's last `fixed` report, or null.
func (p *Player) fixedTargets() js.Value {
	if !p.reported.Truthy() {
		return js.Null()
	}
	return p.reported.Get("fixed")
}

// takeReports takes in the worklet's latest report and beep, if new since
// the last tick: its figures, and the read position heardPosition maps to
// RTP time (exact at its context time, whenever it is taken in).
func (p *Player) takeReports(now time.Time) {
	r := p.reports
	if r == nil {
		return
	}
	if n := int64(r[reportBeeps]); n != p.beeps {
		p.beeps = n
		// When the sample heard at r[reportBeepHeard] left the
		// loudspeaker, on Go's clock.
		at := fromPerf(now, perfNow(), r[reportBeepHeard])
		p.mu.Lock()
		p.skew.Beep(at)
		p.mu.Unlock()
	}
	n := int64(r[reportCount])
	if n == p.reportsTaken {
		return
	}
	p.reportsTaken = n
	p.mu.Lock()
	defer p.mu.Unlock()
	played := int64(r[reportPlayed])
	if played > p.played {
		p.m.Media(now)
	}
	p.played = played
	p.s.AudioSamplesPlayed = int(played)
	p.s.AudioUnderruns = int(r[reportUnderruns])
	p.s.AudioSamplesStarved = int(r[reportStarved])
	p.s.AudioDropped = int(r[reportDropped])
	p.s.AudioSamplesTrimmed = int(r[reportTrimmed])
	p.s.PlayoutDelayMS = r[reportBuffered] / 48
	if int(r[reportEpoch]) == p.epoch {
		p.audioPos, p.audioPosAt, p.audioPosCtx = int64(r[reportPos]), now, r[reportAt]
	}
}

func (p *Player) setupDecoders() {
	p.vdec = js.Global().Get("VideoDecoder").New(map[string]any{
		"output": p.fn(func(args []js.Value) {
			f := args[0]
			tsUS := int64(f.Get("timestamp").Float()) // the chunk's, in µs (W3C WebCodecs)
			extTS := int64(math.Round(float64(tsUS) * 9 / 100))
			p.mu.Lock()
			p.s.VideoFramesDecoded++
			p.s.VideoOutStalls.Mark(time.Now())
			p.markLocked("firstDecoded")
			p.s.Width, p.s.Height = f.Get("displayWidth").Int(), f.Get("displayHeight").Int()
			wall := time.Time{}
			if p.bc != nil && p.bc.VideoClock.Synced() {
				wall = p.bc.VideoClock.WallTime(uint32(extTS))
			}
			if len(p.pending) >= maxPending {
				p.pending[0].frame.Call("close")
				p.pending = p.pending[1:]
				p.s.VideoFramesDropped++
			}
			decoded := time.Now()
			if heard := p.audioHeard(decoded); !heard.IsZero() && !wall.IsZero() {
				// > 0: the audio is past this frame already, or will be
				// by the time it is drawn.
				p.late.Add(heard.Sub(wall) + p.drawCost)
			}
			times := player.FrameTimes{Capture: wall, Arrived: p.arrived[tsUS], Decoded: decoded}
			delete(p.arrived, tsUS)
			p.pending = append(p.pending, pendingFrame{frame: f, ts: extTS, wall: wall, times: times})
			p.mu.Unlock()
		}),
		"error": p.fn(func(args []js.Value) {
			p.mu.Lock()
			p.s.DecodeErrors++
			if p.bc != nil {
				p.bc.Gate.NeedKeyframe()
			}
			p.vdecConfigured = false
			p.mu.Unlock()
			go p.requestKeyframe()
		}),
	})
	p.setupAudioDecoder()
}

// setupAudioDecoder makes the AudioDecoder (static/player.js
// quicastAudioDecoder: its outputs go to the playout as drainAudio planned
// them; in a worker, static/decoder.js, where the playout's ring is in
// shared memory), anew after an error closed it.
func (p *Player) setupAudioDecoder() {
	p.audioDec = helpers.audioDecoder.Invoke(p.playout, p.fn(func(args []js.Value) {
		lost := helpers.audioForget.Invoke(p.audioDec).Int()
		p.mu.Lock()
		p.s.DecodeErrors++
		p.adecConfigured = false
		if p.bc != nil {
			p.bc.Timeline.Cut(lost) // never reaching the playout
		}
		p.mu.Unlock()
	}), p.audioDec)
	p.adec = p.audioDec.Get("dec")
	p.audioInWorker = p.audioDec.Get("worker").Truthy()
}

// configureVideo (re)configures the video decoder for codec, making a new
// one when an error closed it.
func (p *Player) configureVideo(codec string) {
	if p.vdec.Get("state").String() == "closed" {
		p.setupDecoders()
	}
	cfg := map[string]any{"codec": codec, "optimizeForLatency": true}
	if codec == protocol.WebCodecsVP8 {
		// VP8 is BT.601 by definition (RFC 6386 §9.2, color_space 0), as
		// every quicast source gives it; without saying so Chromium tags
		// the frames BT.709 and the canvas draws a camera's picture with
		// the wrong colours (its green 0,135,0 as 0,77,0).
		cfg["colorSpace"] = map[string]any{"primaries": "smpte170m", "transfer": "smpte170m", "matrix": "smpte170m", "fullRange": false}
	}
	p.vdec.Call("configure", cfg)
	p.mu.Lock()
	p.vdecConfigured, p.vdecCodec, p.vdecUsed = true, codec, false
	p.mu.Unlock()
}

// run keeps a session open: after a loss it tries again with backoff
// (protocol.Backoff) until the page is closed or something no retry can
// fix happens.
func (p *Player) run() {
	var b protocol.Backoff
	attempt := 0
	for {
		connected, err := p.session()
		now := time.Now()
		var f fatal
		switch {
		case p.stopped():
			return
		case errors.Is(err, errLogin):
			goToLogin(p.next)
			return
		case errors.As(err, &f):
			p.mu.Lock()
			p.m.Fail(f.msg, now)
			p.mu.Unlock()
			p.show(now)
			return
		}
		if connected {
			attempt = 0
		}
		attempt++
		d := b.Delay(attempt, js.Global().Get("Math").Call("random").Float())
		p.mu.Lock()
		p.m.Lost(err.Error(), attempt, now.Add(d), now)
		p.mu.Unlock()
		p.show(now)
		select {
		case <-time.After(d):
		case <-p.done:
			return
		}
	}
}

// session fetches a ticket, opens a WebTransport session and serves it
// until it closes. connected reports whether it got that far.
func (p *Player) session() (connected bool, err error) {
	p.mu.Lock()
	p.markLocked("ticket")
	p.mu.Unlock()
	tk, err := askRelay("/api/ticket?stream="+queryEscape(p.stream), "GET", "there is no stream named “"+p.stream+"”")
	if err != nil {
		return false, err
	}
	wt, err := newWebTransport(tk.Get("url"), transportOptions(tk))
	if err != nil {
		return false, err
	}
	p.mu.Lock()
	p.wt = wt
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		p.wt = js.Undefined()
		p.mu.Unlock()
	}()
	if p.stopped() {
		wt.Call("close")
		return false, errors.New("stopped")
	}
	if _, err := await(wt.Get("ready")); err != nil {
		return false, errors.New("the relay refused the session or is unreachable (" + err.Error() + ")")
	}
	bidi, err := await(wt.Call("createBidirectionalStream"))
	if err != nil {
		wt.Call("close")
		return false, err
	}
	now := time.Now()
	p.mu.Lock()
	p.ctrlWriter = bidi.Get("writable").Call("getWriter")
	p.lastCtrl = now
	p.m.Connected(now)
	p.markLocked("session")
	p.mu.Unlock()
	p.show(now)
	p.sendControl(&protocol.Message{Type: protocol.MsgHello, Client: "quicast-viewer"})
	go p.controlLoop(&jsReader{r: bidi.Get("readable").Call("getReader"), p: p})
	go p.uniLoop(wt.Get("incomingUnidirectionalStreams").Call("getReader"))
	wt.Get("datagrams").Set("incomingMaxAge", datagramMaxAge.Milliseconds())
	wt.Get("datagrams").Set("incomingHighWaterMark", datagramQueue)
	go p.datagramLoop(wt.Get("datagrams").Get("readable").Call("getReader"))
	done := make(chan struct{})
	var silent atomic.Bool
	go every(heartbeat, done, func(now time.Time) bool {
		p.mu.Lock()
		last := p.lastCtrl
		r := &protocol.StatsReport{FramesDecoded: uint64(p.s.VideoFramesDecoded),
			FramesRendered: uint64(p.s.VideoFramesRendered), FramesDropped: uint64(p.s.VideoFramesDropped),
			PlayoutDelayMS: p.s.PlayoutDelayMS}
		p.mu.Unlock()
		if now.Sub(last) > relayGone {
			silent.Store(true)
			wt.Call("close")
			return false
		}
		p.sendControl(&protocol.Message{Type: protocol.MsgStats, Stats: r})
		return true
	})

	info, err := await(wt.Get("closed"))
	close(done)
	p.mu.Lock()
	p.ctrlWriter = js.Undefined()
	p.mu.Unlock()
	switch {
	case silent.Load():
		return true, errors.New("the relay stopped answering")
	case err != nil:
		return true, errors.New("the connection to the relay was lost")
	case info.Truthy() && info.Get("reason").Truthy() && info.Get("reason").String() != "":
		return true, errors.New(info.Get("reason").String())
	}
	return true, errors.New("the relay closed the session")
}

// every calls f every d until done is closed or f returns false.
func every(d time.Duration, done <-chan struct{}, f func(now time.Time) bool) {
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-done:
			return
		case now := <-t.C:
			if !f(now) {
				return
			}
		}
	}
}

// askRelay fetches path from the relay (method GET or POST, with the
// login's cookie) and returns its JSON answer: errLogin on 401, a fatal
// error saying notFound on 404, another error otherwise.
func askRelay(path, method, notFound string) (js.Value, error) {
	resp, err := await(js.Global().Call("fetch", path,
		map[string]any{"method": method, "credentials": "same-origin", "cache": "no-store"}))
	if err != nil {
		return js.Value{}, errors.New("the relay is unreachable")
	}
	switch st := resp.Get("status").Int(); st {
	case 200:
	case 401:
		// Said on the console: the page then leaves for the login page.
		js.Global().Get("console").Call("log", "quicast: "+method+" "+path+": the relay wants a login (401)")
		return js.Value{}, errLogin
	case 404:
		return js.Value{}, fatal{notFound}
	default:
		return js.Value{}, errors.New("the relay answered " + strconv.Itoa(st))
	}
	return await(resp.Call("json"))
}

// transportOptions returns the WebTransport options for a session the
// ticket tk opens: the relay's certificate hashes it names (W3C
// WebTransport serverCertificateHashes, SHA-256), for a certificate no
// authority the browser trusts signed.
func transportOptions(tk js.Value) map[string]any {
	opts := map[string]any{}
	if hs := tk.Get("certHashes"); hs.Truthy() && hs.Length() > 0 {
		arr := js.Global().Get("Array").New()
		for i := 0; i < hs.Length(); i++ {
			// Decoded by the browser (static/player.js): encoding/base64
			// would only add to the WebAssembly.
			if u8 := js.Global().Call("quicastFromBase64", hs.Index(i)); u8.Truthy() {
				arr.Call("push", map[string]any{"algorithm": "sha-256", "value": u8})
			}
		}
		opts["serverCertificateHashes"] = arr
	}
	return opts
}

// newWebTransport constructs a WebTransport, turning a thrown exception
// (a malformed URL, a bad hash) into an error.
func newWebTransport(u js.Value, opts map[string]any) (wt js.Value, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = errors.New("cannot open WebTransport")
			if e, ok := r.(js.Error); ok {
				err = errors.New("cannot open WebTransport: " + e.Error())
			}
		}
	}()
	return js.Global().Get("WebTransport").New(u, opts), nil
}

func (p *Player) sendControl(m *protocol.Message) {
	b, err := protocol.AppendMessage(nil, m)
	p.mu.Lock()
	w := p.ctrlWriter
	p.mu.Unlock()
	if err != nil || !w.Truthy() {
		return
	}
	u8 := js.Global().Get("Uint8Array").New(len(b))
	js.CopyBytesToJS(u8, b)
	// Not awaited: the session may close meanwhile, and the rejection is
	// expected then.
	w.Call("write", u8).Call("catch", p.ignore)
}

// requestKeyframe asks the relay for a keyframe (it sends PLI upstream),
// at most once per keyframeEvery.
func (p *Player) requestKeyframe() {
	p.mu.Lock()
	now := time.Now()
	if now.Sub(p.lastKeyReq) < keyframeEvery {
		p.mu.Unlock()
		return
	}
	p.lastKeyReq = now
	p.s.KeyframeRequests++
	p.mu.Unlock()
	p.sendControl(&protocol.Message{Type: protocol.MsgKeyframe})
}

func (p *Player) controlLoop(r *jsReader) {
	cr := protocol.NewControlReader(r)
	for {
		m, err := cr.Read()
		if err != nil {
			return
		}
		now := time.Now()
		p.mu.Lock()
		p.lastCtrl = now
		p.mu.Unlock()
		switch m.Type {
		case protocol.MsgCatalog:
			p.mu.Lock()
			p.markLocked("catalog")
			p.mu.Unlock()
			p.newBroadcast(m.Tracks, now)
		case protocol.MsgSync:
			if m.Sync != nil {
				p.mu.Lock()
				if p.bc != nil {
					p.bc.Sync(*m.Sync)
				}
				p.mu.Unlock()
			}
		case protocol.MsgStats:
			if m.Stats != nil && m.Stats.Viewers > 0 {
				p.mu.Lock()
				p.viewerCount = int(m.Stats.Viewers)
				p.mu.Unlock()
			}
		case protocol.MsgEnded:
			p.mu.Lock()
			p.m.Ended(m.Reason, now)
			p.mu.Unlock()
		}
		p.show(now)
	}
}

// newBroadcast starts over for a new broadcast: new SSRCs, sequence
// numbers and timestamps, so every piece of per-broadcast state goes — the
// clocks, unwrappers, gate, assembler, jitter buffer, the decoders' queues,
// the frames waiting to be shown and the audio in the worklet.
func (p *Player) newBroadcast(tracks []protocol.TrackInfo, now time.Time) {
	bc := player.NewBroadcast(tracks)
	p.mu.Lock()
	p.bc = bc
	p.epoch++
	epoch := p.epoch
	for _, f := range p.pending {
		f.frame.Call("close")
	}
	p.pending = p.pending[:0]
	p.jitter = protocol.NewJitterBuffer(protocol.ClockRateOpus, audioMinDelay, audioMaxDelay)
	p.jitter.SetWait(gapWait(p.target.Min, p.packetDur))
	p.audioPos, p.audioPosAt, p.audioPosCtx = 0, time.Time{}, 0
	p.s.VideoCodec, p.s.AudioCodec = "", ""
	if bc.Video != nil {
		p.s.VideoCodec = bc.Video.Codec
	}
	if bc.Audio != nil {
		p.s.AudioCodec = bc.Audio.Codec
	}
	p.m.Catalog(bc.Video != nil, bc.Audio != nil, now)
	p.target.Start(now)
	p.late.Reset()
	p.cont.Reset()
	p.adecConfigured = false
	// A decoder configured for this codec that never decoded anything
	// (warmed up at start) is kept: creating one costs Chromium a few
	// hundred ms before its first frame.
	keep := !p.vdecUsed && bc.Video != nil && p.vdecCodec == bc.Video.Codec && p.vdec.Get("state").String() == "configured"
	p.mu.Unlock()
	if !keep && p.vdec.Get("state").String() != "closed" {
		p.vdec.Call("reset")
	}
	if p.adec.Get("state").String() != "closed" {
		p.adec.Call("reset")
	}
	helpers.audioForget.Invoke(p.audioDec) // the new broadcast has a timeline of its own
	if bc.Video != nil && !keep {
		p.configureVideo(bc.Video.Codec)
	}
	if p.playout.Truthy() {
		p.playout.Call("reset", epoch)
	}
	select {
	case p.catalogs <- struct{}{}:
	default:
	}
}

func (p *Player) uniLoop(r js.Value) {
	aw := newAwaiter()
	defer aw.release()
	for {
		res, err := aw.await(r.Call("read"))
		if err != nil || res.Get("done").Bool() {
			return
		}
		go p.groupLoop(res.Get("value"))
	}
}

func (p *Player) groupLoop(stream js.Value) {
	jr := &jsReader{r: stream.Call("getReader"), p: p}
	g, err := protocol.NewGroupReader(jr)
	if err != nil {
		return
	}
	p.mu.Lock()
	p.s.GroupsReceived++
	p.markLocked("firstGroup")
	p.mu.Unlock()
	h := g.Header()
	first := true
	for {
		pkt, err := g.ReadPacket(nil)
		if err != nil {
			return
		}
		p.videoPkts <- groupPacket{ssrc: h.SSRC, group: h.Group, start: first, pkt: pkt}
		first = false
	}
}

// datagramLoop reads the session's datagrams until it ends, through
// static/player.js quicastReadRing: into a buffer in this program's memory,
// drained by drainAudio at every tick, with no call into Go per datagram
// (each costs the runtime an event and js.Values to finalize).
func (p *Player) datagramLoop(r js.Value) {
	ring := make([]byte, datagramRing) // player.DatagramBuffer
	p.mu.Lock()
	p.ring = ring
	p.mu.Unlock()
	await(helpers.readRing.Invoke(r, uintptr(unsafe.Pointer(&ring[0])), len(ring)))
	p.mu.Lock()
	p.drainRing()
	if len(p.ring) > 0 && &p.ring[0] == &ring[0] { // not a newer session's
		p.ring = nil
	}
	p.mu.Unlock()
	runtime.KeepAlive(ring)
}

// drainRing takes the datagrams quicastReadRing wrote since the last
// drain (player.DrainDatagrams): each one RTP packet or several the relay
// bundled (protocol §3.4), for the jitter buffer. Called with p.mu held.
func (p *Player) drainRing() {
	if p.ring == nil {
		return
	}
	ssrc := p.bc.AudioSSRC()
	dropped, err := player.DrainDatagrams(p.ring, func(b []byte, at time.Time) {
		p.bytes += int64(len(b))
		if err := protocol.SplitDatagram(b, func(pkt []byte) {
			h, payload, err := protocol.ParseRTP(pkt)
			if err != nil || h.SSRC != ssrc || ssrc == 0 {
				return // another broadcast's, or not RTP
			}
			p.s.ArrivalStalls.Mark(at)
			p.jitter.Push(h.SequenceNumber, h.Timestamp, at, payload)
		}); err != nil {
			p.s.BadDatagrams++
		}
	})
	p.s.DatagramsDropped = dropped
	if err != nil {
		p.s.BadDatagrams++
	}
}

// videoLoop reassembles frames of the current broadcast and feeds the
// VideoDecoder, from a keyframe on and again from the next one after any
// loss.
func (p *Player) videoLoop() {
	// Packets of an SSRC no catalog has named yet: the relay sends a new
	// viewer the catalog on the control stream and the group cache on a
	// stream of its own, and the two may arrive in either order. Held
	// until the next catalog, at most maxEarly.
	var early []groupPacket
	for {
		select {
		case gp := <-p.videoPkts:
			p.mu.Lock()
			known := p.bc != nil && gp.ssrc == p.bc.VideoSSRC()
			p.mu.Unlock()
			if !known {
				if len(early) < maxEarly {
					early = append(early, gp)
				}
				continue
			}
			p.video(gp)
		case <-p.done:
			return
		case <-p.catalogs:
			for _, gp := range early {
				p.video(gp)
			}
			early = early[:0]
		}
	}
}

// video takes one packet of a group: reassembly, the group and keyframe
// gate, the decoder.
func (p *Player) video(gp groupPacket) {
	p.mu.Lock()
	bc := p.bc
	if bc == nil || gp.ssrc != bc.VideoSSRC() || !bc.Gate.Packet(gp.group, gp.start) {
		p.mu.Unlock()
		return // another broadcast's, or the rest of a group we left
	}
	if gp.start {
		bc.Assembler.Reset()
	}
	f, ok, err := bc.Assembler.Push(gp.pkt)
	if errors.Is(err, protocol.ErrVideoLoss) {
		// Packets the relay could not get back: nothing decodes until
		// the next keyframe.
		bc.Gate.NeedKeyframe()
		p.s.VideoFramesLost++
		p.mu.Unlock()
		go p.requestKeyframe()
		return
	}
	p.s.VideoGroupsLost = int(bc.Gate.LostGroups)
	if err != nil || !ok {
		p.mu.Unlock()
		return
	}
	p.s.VideoFramesAssembled++
	if f.NonReference {
		p.s.VideoFramesNonReference++
	}
	ext := bc.VideoUnwrap.Unwrap(f.Timestamp)
	p.cont.Received(ext)
	if !bc.Gate.Frame(f.Keyframe) {
		p.s.VideoFramesAwaitingKey++
		p.mu.Unlock()
		return
	}
	if len(f.Data) > p.staging.Length() {
		p.staging = js.Global().Get("Uint8Array").New(2 * len(f.Data))
	}
	configured := p.vdecConfigured
	p.vdecUsed = true
	codec := bc.Video.Codec
	tsUS := int64(math.Round(float64(ext) * 100 / 9)) // 90 kHz → µs, the key the decoder gives back
	if len(p.arrived) > 256 {                         // frames the decoder never gave back
		clear(p.arrived)
	}
	p.arrived[tsUS] = time.Now()
	p.mu.Unlock()
	if !configured {
		p.configureVideo(codec) // after a decode error
	}
	q := p.vdec.Get("decodeQueueSize").Int()
	thin := f.NonReference && q >= thinDecodeQ
	full := q > maxDecodeQ && !f.Keyframe && !thin
	p.mu.Lock()
	p.s.VideoDecodeQMax = max(p.s.VideoDecodeQMax, q)
	switch {
	case thin:
		p.s.VideoFramesThinned++
	case full:
		bc.Gate.NeedKeyframe()
		p.s.VideoDecoderFull++
	default:
		p.s.VideoInStalls.Mark(time.Now())
	}
	p.mu.Unlock()
	if full {
		go p.requestKeyframe()
	}
	if thin || full {
		return
	}
	js.CopyBytesToJS(p.staging, f.Data)
	helpers.decodeVideo.Invoke(p.vdec, f.Keyframe, tsUS, p.staging, len(f.Data))
	p.mu.Lock()
	p.markLocked("firstDecode")
	p.mu.Unlock()
}

// gapWait returns how long the jitter buffer may hold a gap open for a
// playout target: the target less the lost packet (packet long) and
// gapMargin, at least audioMinDelay.
func gapWait(target, packet time.Duration) time.Duration {
	return max(target-packet-gapMargin, audioMinDelay)
}

// tick drives audio out of the jitter buffer, shows the video frame the
// audio has reached, and keeps the state and the page up to date: every
// tick of the page's clock.
func (p *Player) tick(now time.Time) {
	t := &p.ticks
	if t.lastRate.IsZero() {
		t.lastRate, t.lastOverlay, t.lastShow = now, now, now
	}
	p.takeReports(now)
	p.takeAnswers(now)
	p.drainAudio(now)
	p.render(now)
	if now.Sub(t.lastShow) >= 250*time.Millisecond {
		running := p.audioCtx.Truthy() && p.audioCtx.Get("state").String() == "running"
		var outLat time.Duration
		if p.audioCtx.Truthy() {
			for _, k := range []string{"outputLatency", "baseLatency"} {
				if v := p.audioCtx.Get(k); v.Type() == js.TypeNumber {
					outLat += time.Duration(v.Float() * float64(time.Second))
				}
			}
		}
		decoded := p.audioDec.Get("decoded").Int()
		queued := p.adec.Get("decodeQueueSize").Int()
		workerErrs, behind := 0, 0
		var in, out [2]int
		if p.audioInWorker { // static/decoder.js: errors it mended, packets it gave up being behind, its gaps
			workerErrs, behind = p.audioDec.Get("errors").Int(), p.audioDec.Get("behind").Int()
			st := p.audioDec.Get("stalls")
			in = [2]int{st.Index(0).Int(), st.Index(1).Int()}
			out = [2]int{st.Index(2).Int(), st.Index(3).Int()}
		}
		p.mu.Lock()
		p.s.AudioFramesDecoded, p.s.AudioDecodeQueue, p.s.AudioWorkerErrors = decoded, queued, workerErrs
		if p.audioInWorker {
			p.s.AudioDecoderBehind = behind
			p.s.DecoderInStalls, p.s.DecoderOutStalls = in, out
		}
		p.audioOn = running
		p.outLatency = outLat
		p.s.OutputLatencyMS = float64(outLat) / 1e6
		p.m.Audio(running)
		p.m.Tick(now)
		target := p.target.Update(now, p.jitter.Jitter(), p.s.AudioUnderruns, p.late.P95())
		p.s.TargetDelayMS = float64(target) / 1e6
		// A gap may stay open while the playout buffer still
		// lasts: time for the relay to get it resent. Less the
		// packet itself and gapMargin, or the buffer runs dry
		// before the packets behind the gap reach it.
		p.jitter.SetWait(gapWait(target, p.packetDur))
		send := (target - p.targetSent).Abs() >= 2*time.Millisecond
		if send {
			p.targetSent = target
		}
		p.mu.Unlock()
		if send && p.audioNode.Truthy() {
			p.audioNode.Get("port").Call("postMessage", map[string]any{"target": int(target.Seconds() * 48000)})
		}
		p.show(now)
		t.lastShow = now
	}
	if now.Sub(t.lastRate) >= time.Second {
		p.mu.Lock()
		p.s.Latency = p.lat.Summary()
		p.s.BitrateKbps = float64(p.bytes-t.lastBytes) * 8 / now.Sub(t.lastRate).Seconds() / 1000
		t.lastBytes, t.lastRate = p.bytes, now
		p.s.JitterMS = float64(p.jitter.Jitter()) / 1e6
		p.mu.Unlock()
	}
	if now.Sub(t.lastOverlay) >= 500*time.Millisecond && p.stats.Truthy() && !p.stats.Get("hidden").Bool() {
		p.stats.Set("textContent", p.overlayText())
		t.lastOverlay = now
	}
}

// show puts the state on the page: the status line, body data attributes
// the style sheet keys on (state, muted), and the viewer count.
func (p *Player) show(now time.Time) {
	p.mu.Lock()
	st := p.m.Status()
	viewers := p.viewerCount
	hasVideo := p.bc == nil || p.bc.Video != nil
	p.mu.Unlock()
	if text := st.Text(now); p.status.Truthy() && p.status.Get("textContent").String() != text {
		p.status.Set("textContent", text)
	}
	ds := p.root.Get("dataset")
	if s := st.State.String(); ds.Get("state").String() != s {
		ds.Set("state", s)
	}
	muted := strconv.FormatBool(st.Muted)
	if ds.Get("muted").String() != muted {
		ds.Set("muted", muted)
	}
	if video := strconv.FormatBool(hasVideo); ds.Get("video").String() != video {
		ds.Set("video", video)
	}
	if p.viewers.Truthy() && viewers > 0 {
		v := strconv.Itoa(viewers) + " watching"
		if p.viewers.Get("textContent").String() != v {
			p.viewers.Set("textContent", v)
		}
	}
}

func (p *Player) drainAudio(now time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.s.TickStalls.Mark(now)
	p.drainRing()
	queued := -1 // packets in the AudioDecoder: asked once, then counted
	// Packets that come out together and follow each other on the
	// timeline go to the decoder as one chunk (protocol.OpusMerge): one
	// round trip through the decoder's thread instead of several, which
	// a starved page cannot make a hundred times a second.
	var group [][]byte
	var gExt int64
	var gN, gConceal int
	flush := func() {
		if len(group) == 0 {
			return
		}
		chunk, _ := protocol.OpusMerge(p.merged[:0], group...) // grouped only if they merge
		p.merged = chunk[:0]
		p.s.HandStalls.Mark(now)
		js.CopyBytesToJS(p.staging, chunk)
		helpers.decodeAudio.Invoke(p.audioDec, float64(gExt)*125/6, p.staging, len(chunk), gConceal, gN) // 48 kHz → µs
		p.s.AudioChunksMerged += len(group) - 1
		group = group[:0]
	}
	defer flush()
	for {
		_, ts, payload, ok := p.jitter.Pop(now)
		if !ok {
			break
		}
		n, err := protocol.OpusSamples(payload)
		if err != nil {
			p.s.BadAudioPackets++ // lost: the next packet's gap conceals it
			continue
		}
		if d := time.Duration(n) * time.Second / 48000; d != p.packetDur && d > 0 {
			p.packetDur = d // the sender's packet length: the least the playout holds is two
			p.target.Min = 2 * d
		}
		if !p.adecConfigured {
			if p.adec.Get("state").String() == "closed" {
				p.setupAudioDecoder()
			}
			ch := 2
			if p.bc.Audio.Channels > 0 {
				ch = int(p.bc.Audio.Channels)
			}
			p.adec.Call("configure", map[string]any{"codec": p.bc.Audio.Codec, "sampleRate": int(p.bc.Audio.ClockRate), "numberOfChannels": ch})
			p.adecConfigured = true
		}
		ext := p.bc.AudioUnwrap.Unwrap(ts)
		if !p.audioInWorker { // a decoding worker drops its own backlog
			if queued < 0 {
				queued = p.adec.Get("decodeQueueSize").Int()
			}
			if queued >= maxAudioDecodeQ {
				p.s.AudioDecoderBehind++ // concealed: the next packet's gap
				continue
			}
			queued++
		}
		// What becomes of its output, decided now: no call back into
		// Go per decoded packet. While the browser does not play audio
		// (autoplay rules) it is counted and let go, so that nothing
		// piles up before the unmute.
		conceal := -1
		if p.audioOn && p.playout.Truthy() {
			conceal = p.bc.Timeline.Next(ext, n)
			p.s.AudioSamplesConcealed += conceal
		} else {
			p.s.AudioSamplesMuted += n
		}
		if len(group) > 0 && conceal == 0 && gConceal >= 0 && gN+n <= protocol.MaxOpusMerge &&
			protocol.OpusMergeable(group[0], payload) {
			group = append(group, payload)
			gN += n
			continue
		}
		flush()
		group = append(group, payload)
		gExt, gN, gConceal = ext, n, conceal
	}
	p.s.PacketsLost, p.s.PacketsLate = int(p.jitter.Lost), int(p.jitter.Late)
}

// heardPosition returns the worklet read position (samples in this epoch)
// of the sample leaving the loudspeaker at now. The context's own
// (contextTime, performanceTime) pair (W3C Web Audio getOutputTimestamp)
// says which context time is heard now, output latency included; the
// worklet's report says which position it read at a context time. Without
// the pair it falls back to the report's arrival and the reported output
// latency, which message delays on a busy main thread make noisier.
// Called with p.mu held.
func (p *Player) heardPosition(now time.Time) int64 {
	if heardCtx := clock.heardAt(p.audioCtx, now); heardCtx > 0 && p.audioPosCtx > 0 {
		return p.audioPos + int64((heardCtx-p.audioPosCtx)*48000)
	}
	return p.audioPos + min(int64(now.Sub(p.audioPosAt).Seconds()*48000), 4800) - int64(p.outLatency.Seconds()*48000)
}

// audioHeard returns the sender's wall time of the sample heard now, zero
// while unknown. Called with p.mu held.
func (p *Player) audioHeard(now time.Time) time.Time {
	bc := p.bc
	if bc == nil || !p.audioOn || !bc.AudioClock.Synced() || p.audioPosAt.IsZero() {
		return time.Time{}
	}
	pos := p.heardPosition(now)
	ts, ok := bc.Timeline.At(pos)
	if !ok {
		return time.Time{}
	}
	return bc.AudioClock.WallTime(uint32(ts))
}

func (p *Player) render(now time.Time) {
	p.mu.Lock()
	audioNow := p.audioHeard(now)
	for id, d := range p.drawing {
		if now.Sub(d.posted) > time.Second {
			delete(p.drawing, id) // never answered: do not wait for it forever
		}
	}
	if p.renderer.Truthy() && len(p.drawing) >= maxDrawing {
		p.mu.Unlock()
		return // the worker is still drawing: choose when it is done
	}
	q := make([]player.Pending, len(p.pending))
	for i, f := range p.pending {
		q[i] = player.Pending{Wall: f.wall}
	}
	// Chosen ahead by what drawing takes and half a tick of this loop, so
	// that it is on the canvas when its sound is heard.
	idx, drop := player.Pick(q, audioNow, p.drawCost+tick/2, catchUp, 3*time.Second)
	if idx < 0 {
		p.mu.Unlock()
		return
	}
	for _, f := range p.pending[:drop] {
		f.frame.Call("close")
	}
	show := p.pending[idx]
	p.pending = append(p.pending[:0], p.pending[idx+1:]...)
	p.s.VideoFramesDropped += drop
	p.s.VideoFramesRendered++
	p.m.Media(now)
	if p.renderer.Truthy() {
		p.drawID++
		p.drawing[p.drawID] = drawn{ts: show.ts, times: show.times, posted: now}
		id := p.drawID
		p.mu.Unlock()
		p.renderer.Call("postMessage", map[string]any{"frame": show.frame, "id": id}, []any{show.frame})
		return
	}
	w, h := p.s.Width, p.s.Height
	p.mu.Unlock()
	if p.canvas.Get("width").Int() != w || p.canvas.Get("height").Int() != h {
		p.canvas.Set("width", w)
		p.canvas.Set("height", h)
	}
	p.ctx2d.Call("drawImage", show.frame, 0, 0, w, h)
	show.frame.Call("close")
	// The test source's flash: the picture all white (bars never are).
	px := p.ctx2d.Call("getImageData", w/2, h/10, 1, 1).Get("data")
	flash := px.Index(0).Int() > 225 && px.Index(1).Int() > 225 && px.Index(2).Int() > 225
	p.mu.Lock()
	p.frameShown(show.ts, show.times, time.Now(), now, flash)
	p.mu.Unlock()
}

func (p *Player) statsObject() any {
	p.mu.Lock()
	defer p.mu.Unlock()
	s, st := p.s, p.m.Status()
	drawing := "here" // where the frames are drawn: the render worker, or this thread
	if p.renderer.Truthy() {
		drawing = "worker"
	}
	skewLast, skewP95, skewPairs := p.skew.Skew()
	margin, sync := p.target.Margin()
	// Mouth to ear: the sender's wall clock of the sample leaving the
	// loudspeaker now, against now (meaningful when both clocks agree:
	// the same machine, or NTP-synced ones).
	mouthToEar := 0.0
	if now := time.Now(); !p.audioHeard(now).IsZero() {
		mouthToEar = ms(now.Sub(p.audioHeard(now)))
	}
	return map[string]any{
		"state": st.State.String(), "muted": st.Muted, "reason": st.Reason,
		"sessions": st.Sessions, "broadcasts": st.Broadcasts, "reconnectAttempt": st.Attempt,
		"viewers":    p.viewerCount,
		"videoCodec": s.VideoCodec, "audioCodec": s.AudioCodec,
		"width": s.Width, "height": s.Height,
		"videoFramesDecoded": s.VideoFramesDecoded, "videoFramesRendered": s.VideoFramesRendered, "videoFramesCopied": s.VideoFramesCopied,
		"videoFramesDropped": s.VideoFramesDropped, "videoFramesLost": s.VideoFramesLost,
		"videoFramesAssembled": s.VideoFramesAssembled, "videoFramesAwaitingKey": s.VideoFramesAwaitingKey, "videoDecoderFull": s.VideoDecoderFull, "videoFramesThinned": s.VideoFramesThinned, "videoFramesNonReference": s.VideoFramesNonReference, "videoGroupsLost": s.VideoGroupsLost, "videoDecodeQueueMax": s.VideoDecodeQMax,
		"audioFramesDecoded": s.AudioFramesDecoded,
		"videoFramesShown":   p.cont.Shown, "videoFramesExpected": p.cont.Expected(),
		"longestFreezeMs": ms(p.cont.LongestFreeze), "freezes": p.cont.Freezes, "audioSamplesStarved": s.AudioSamplesStarved, "audioSamplesConcealed": s.AudioSamplesConcealed,
		"audioSamplesPlayed": s.AudioSamplesPlayed, "audioUnderruns": s.AudioUnderruns,
		"audioSamplesDropped": s.AudioDropped, "audioSamplesMuted": s.AudioSamplesMuted,
		"audioSamplesTrimmed": s.AudioSamplesTrimmed, "targetDelayMs": s.TargetDelayMS, "videoLateMs": ms(p.late.P95()), "drawMs": ms(p.drawCost), "outputLatencyMs": s.OutputLatencyMS,
		"bitrateKbps": s.BitrateKbps, "playoutDelayMs": s.PlayoutDelayMS, "jitterMs": s.JitterMS, "targetMarginMs": ms(margin), "targetSyncMs": ms(sync),
		"avSkewMs": ms(skewLast), "avSkewP95Ms": ms(skewP95), "avSkewPairs": skewPairs, "avSkewFlashes": p.skew.Flashes, "avSkewBeeps": p.skew.Beeps, "avSkewClockMs": s.AVSkewClockMS, "mouthToEarMs": mouthToEar,
		"groupsReceived": s.GroupsReceived, "packetsLost": s.PacketsLost, "packetsLate": s.PacketsLate, "audioDecodeQueue": s.AudioDecodeQueue, "audioDecoderBehind": s.AudioDecoderBehind, "audioChunksMerged": s.AudioChunksMerged, "audioWorkerErrors": s.AudioWorkerErrors, "datagramsDropped": s.DatagramsDropped, "badDatagrams": s.BadDatagrams, "badAudioPackets": s.BadAudioPackets, "decodeErrors": s.DecodeErrors,
		"keyframeRequests": s.KeyframeRequests, "fixedTargets": p.fixedTargets(),
		"goRuntime": goRuntime(), "drawing": drawing,
		"stalls": map[string]any{"arrival": stallsObject(s.ArrivalStalls), "tick": stallsObject(s.TickStalls), "hand": stallsObject(s.HandStalls),
			"videoIn": stallsObject(s.VideoInStalls), "videoOut": stallsObject(s.VideoOutStalls),
			"decoderIn": []any{s.DecoderInStalls[0], s.DecoderInStalls[1]}, "decoderOut": []any{s.DecoderOutStalls[0], s.DecoderOutStalls[1]}},
		"latencyMs": ms(s.Latency.Last), "latencyP50Ms": ms(s.Latency.P50), "latencyP95Ms": ms(s.Latency.P95),
		"latencyNetworkMs": ms(s.Latency.Network), "latencyDecodeMs": ms(s.Latency.Decode),
		"latencyPlayoutMs": ms(s.Latency.Playout), "timeToFirstFrameMs": p.firstFrameMS,
		"startup": p.startupObject(), "audioShared": p.playout.Truthy() && p.playout.Get("shared").Truthy(),
	}
}

func ms(d time.Duration) float64 { return float64(d) / 1e6 }

// stallsObject is a player.Stalls for the page: [over 50 ms, over 100 ms,
// longest ms].
func stallsObject(s player.Stalls) []any { return []any{s.Over50, s.Over100, ms(s.Longest)} }

// mark records when a start-up step first happened (performance.now(): ms
// since the page's navigation), for the time-to-first-frame breakdown.
// Callers hold p.mu.
func (p *Player) markLocked(step string) {
	if _, ok := p.marks[step]; !ok {
		p.marks[step] = perfNow()
	}
}

// startupObject is the start-up breakdown: ms since navigation at which
// the player got to each step (p.mu held).
func (p *Player) startupObject() map[string]any {
	o := map[string]any{}
	for k, v := range p.marks {
		o[k] = v
	}
	if js.Global().Get("quicastMarks").Truthy() { // set by watch.js
		m := js.Global().Get("quicastMarks")
		keys := js.Global().Get("Object").Call("keys", m)
		for i := 0; i < keys.Length(); i++ {
			k := keys.Index(i).String()
			o[k] = m.Get(k).Float()
		}
	}
	return o
}

func (p *Player) overlayText() string {
	p.mu.Lock()
	s, st, first := p.s, p.m.Status(), p.firstFrameMS
	skewLast, skewP95, skewPairs := p.skew.Skew()
	p.mu.Unlock()
	var b strings.Builder
	line := func(k, v string) { b.WriteString(k + strings.Repeat(" ", 16-len(k)) + v + "\n") }
	state := st.State.String()
	if st.Muted {
		state += " (muted)"
	}
	line("state", state)
	line("video", s.VideoCodec+" "+strconv.Itoa(s.Width)+"x"+strconv.Itoa(s.Height))
	line("decoded", strconv.Itoa(s.VideoFramesDecoded))
	line("rendered", strconv.Itoa(s.VideoFramesRendered))
	line("dropped", strconv.Itoa(s.VideoFramesDropped))
	line("audio", s.AudioCodec+" "+strconv.Itoa(s.AudioFramesDecoded)+" frames")
	line("played", strconv.Itoa(s.AudioSamplesPlayed/48)+" ms")
	line("underruns", strconv.Itoa(s.AudioUnderruns))
	line("bitrate", strconv.Itoa(int(s.BitrateKbps))+" kbit/s")
	line("playout delay", strconv.Itoa(int(s.PlayoutDelayMS))+" ms (target "+strconv.Itoa(int(s.TargetDelayMS))+")")
	line("output latency", strconv.Itoa(int(s.OutputLatencyMS))+" ms")
	line("jitter", strconv.Itoa(int(s.JitterMS))+" ms")
	line("A/V skew", strconv.Itoa(int(ms(skewLast)))+" ms, p95 "+strconv.Itoa(int(ms(skewP95)))+" ("+strconv.Itoa(skewPairs)+
		" flash/beep), clocks "+strconv.Itoa(int(s.AVSkewClockMS)))
	line("latency", strconv.Itoa(int(ms(s.Latency.P50)))+" ms p50, "+strconv.Itoa(int(ms(s.Latency.P95)))+" p95")
	line("  of which", "net "+strconv.Itoa(int(ms(s.Latency.Network)))+", decode "+strconv.Itoa(int(ms(s.Latency.Decode)))+
		", wait "+strconv.Itoa(int(ms(s.Latency.Playout))))
	line("first frame", strconv.Itoa(int(first))+" ms")
	line("groups", strconv.Itoa(s.GroupsReceived))
	line("lost", strconv.Itoa(s.PacketsLost))
	line("sessions", strconv.Itoa(st.Sessions)+" ("+strconv.Itoa(st.Broadcasts)+" broadcasts)")
	return b.String()
}

// goRuntime reports the Go runtime of this thread (every player on it
// shares it): its collections so far, their stop-the-world pauses in all
// (ms), the heap in use (bytes) and the share of the thread's time the
// collector took (runtime.MemStats.GCCPUFraction), read at most once a
// second.
func goRuntime() map[string]any {
	rt := &goRuntimeStats
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if now := time.Now(); now.Sub(rt.at) >= time.Second {
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		rt.at = now
		rt.v = map[string]any{"gcs": m.NumGC, "pauseMs": float64(m.PauseTotalNs) / 1e6, "heapBytes": m.HeapAlloc, "gcFraction": m.GCCPUFraction}
	}
	return rt.v
}

var goRuntimeStats struct {
	mu sync.Mutex
	at time.Time
	v  map[string]any
}
