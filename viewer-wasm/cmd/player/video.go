//go:build js && wasm

package main

import (
	"errors"
	"math"
	"syscall/js"
	"time"

	"github.com/quicast/quicast/protocol"
	"github.com/quicast/quicast/viewer-wasm/player"
)

// The video's way through a player: videoLoop reassembles frames and
// gates them (keyframes after a loss), the decoder decodes them, render
// picks the frame the audio has reached at every tick, and the canvas
// shows it.
//
// Where there is a render worker (static/render.js: an OffscreenCanvas in a
// worker, every browser quicast plays in), the decoder is there too: it
// keeps the frames it decodes and draws the one the player picks, and the
// player keeps only their times. A VideoDecoder on the player's own thread
// dispatches each chunk after the previous one's output has been a task of
// that thread; in a room page's players worker, busy with every
// participant's sound, that held the decoder to ~8 frames a second of 15-20
// on a loaded machine, its queue overflowed and the picture froze until
// the next keyframe. Without a render worker the VideoDecoder is here and
// the player draws on the page's canvas itself.

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

// pendingFrame is a decoded frame waiting for its time.
type pendingFrame struct {
	frame js.Value // the VideoFrame, decoded here; undefined when the render worker keeps it
	tsUS  int64    // its timestamp, µs: what names it to the render worker
	ts    int64    // RTP timestamp, unwrapped (90 kHz)
	wall  time.Time
	times player.FrameTimes
}

// setupRenderer moves drawing and decoding off the player's thread when
// the browser can (OffscreenCanvas in a worker): drawImage of a 720p frame
// costs tens of ms without a GPU, and every one of them would delay the
// audio.
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
	perf := js.Global().Get("performance")
	p.renderer.Set("onmessage", p.fn(func(args []js.Value) {
		d := args[0].Get("data")
		switch {
		case d.Get("decoded").Type() == js.TypeNumber:
			p.mu.Lock()
			stale := d.Get("gen").Int() != p.vgen
			p.mu.Unlock()
			if stale {
				return // decoded before the decoder was reset: the worker let it go
			}
			p.videoDecoded(int64(d.Get("decoded").Float()), d.Get("w").Int(), d.Get("h").Int(), d.Get("q").Int(), js.Undefined())
			return
		case d.Get("full").Type() == js.TypeNumber:
			p.videoDecoderFull()
			return
		case d.Get("error").Truthy():
			p.videoDecodeError()
			return
		}
		now := time.Now()
		id := d.Get("id").Int()
		p.mu.Lock()
		defer p.mu.Unlock()
		f, ok := p.drawing[id]
		if !ok {
			return
		}
		delete(p.drawing, id)
		if d.Get("missing").Truthy() {
			return
		}
		// The worker's clock is absolute (timeOrigin + now); ours is
		// time.Now. Their difference, measured now, maps one to the other.
		mainAbs := perf.Get("timeOrigin").Float() + perf.Call("now").Float()
		shown := now.Add(time.Duration((d.Get("shown").Float() - mainAbs) * float64(time.Millisecond)))
		p.frameShown(f.ts, f.times, shown, f.posted, d.Get("flash").Bool())
	}))
}

// frameShown records a frame on the screen at shown: latency, continuity,
// and the test source's flash for the A/V skew. Called with p.mu held.
func (p *Player) frameShown(ts int64, times player.FrameTimes, shown, posted time.Time, flash bool) {
	times.Shown = shown
	p.drawCost += (shown.Sub(posted) - p.drawCost) / 8
	p.lat.Add(times)
	p.cont.Frame(ts, shown)
	if p.firstFrameMS == 0 {
		p.firstFrameMS = js.Global().Get("performance").Call("now").Float()
	}
	if flash && !p.flashing {
		p.skew.Flash(shown)
	}
	p.flashing = flash
}

// setupVideoDecoder makes the VideoDecoder on this thread when there is no
// render worker to decode (anew after an error closed it).
func (p *Player) setupVideoDecoder() {
	if p.renderer.Truthy() {
		return
	}
	p.vdec = js.Global().Get("VideoDecoder").New(map[string]any{
		"output": p.fn(func(args []js.Value) {
			f := args[0]
			p.videoDecoded(int64(f.Get("timestamp").Float()), f.Get("displayWidth").Int(), f.Get("displayHeight").Int(),
				p.vdec.Get("decodeQueueSize").Int(), f)
		}),
		"error": p.fn(func([]js.Value) { p.videoDecodeError() }),
	})
}

// videoDecoded takes a frame out of the decoder: tsUS the timestamp its
// chunk had (µs, W3C WebCodecs), w×h its display size, q the frames left
// in the decoder's queue, frame the VideoFrame when decoded on this thread
// (the render worker keeps it otherwise).
func (p *Player) videoDecoded(tsUS int64, w, h, q int, frame js.Value) {
	extTS := int64(math.Round(float64(tsUS) * 9 / 100))
	decoded := time.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	p.s.VideoFramesDecoded++
	p.s.VideoOutStalls.Mark(decoded)
	p.s.VideoDecodeQMax = max(p.s.VideoDecodeQMax, q)
	p.markLocked("firstDecoded")
	p.s.Width, p.s.Height = w, h
	wall := time.Time{}
	if p.bc != nil && p.bc.VideoClock.Synced() {
		wall = p.bc.VideoClock.WallTime(uint32(extTS))
	}
	if len(p.pending) >= maxPending {
		p.closeFrames(p.pending[:1])
		p.pending = p.pending[1:]
		p.s.VideoFramesDropped++
	}
	if heard := p.audioHeard(decoded); !heard.IsZero() && !wall.IsZero() {
		// > 0: the audio is past this frame already, or will be by the
		// time it is drawn.
		p.late.Add(heard.Sub(wall) + p.drawCost)
	}
	times := player.FrameTimes{Capture: wall, Arrived: p.arrived[tsUS], Decoded: decoded}
	delete(p.arrived, tsUS)
	p.pending = append(p.pending, pendingFrame{frame: frame, tsUS: tsUS, ts: extTS, wall: wall, times: times})
}

// videoDecodeError: the decoder failed and closed. Nothing decodes until a
// new one is configured and given a keyframe, which is asked for.
func (p *Player) videoDecodeError() {
	p.mu.Lock()
	p.s.DecodeErrors++
	if p.bc != nil {
		p.bc.Gate.NeedKeyframe()
	}
	p.vdecConfigured = false
	p.vdecState = "closed"
	p.mu.Unlock()
	go p.requestKeyframe()
}

// videoDecoderFull: the decoder's queue was over maxDecodeQ, a frame was
// not decoded, and the next one that can be is a keyframe, which is asked
// for.
func (p *Player) videoDecoderFull() {
	p.mu.Lock()
	if p.bc != nil {
		p.bc.Gate.NeedKeyframe()
	}
	p.s.VideoDecoderFull++
	p.mu.Unlock()
	go p.requestKeyframe()
}

// closeFrames lets decoded frames go unshown. Called with p.mu held.
func (p *Player) closeFrames(fs []pendingFrame) {
	if len(fs) == 0 {
		return
	}
	if p.renderer.Truthy() {
		ts := make([]any, len(fs))
		for i, f := range fs {
			ts[i] = f.tsUS
		}
		p.renderer.Call("postMessage", map[string]any{"close": ts})
		return
	}
	for _, f := range fs {
		f.frame.Call("close")
	}
}

// videoDecoderState is the decoder's W3C WebCodecs state: "unconfigured",
// "configured" or "closed".
func (p *Player) videoDecoderState() string {
	if p.renderer.Truthy() {
		p.mu.Lock()
		defer p.mu.Unlock()
		return p.vdecState
	}
	return p.vdec.Get("state").String()
}

// resetVideoDecoder drops what the decoder holds: its queue, and the
// frames the render worker keeps.
func (p *Player) resetVideoDecoder() {
	if p.renderer.Truthy() {
		p.mu.Lock()
		p.vgen++
		if p.vdecState == "configured" {
			p.vdecState = "unconfigured"
		}
		p.renderer.Call("postMessage", map[string]any{"reset": true, "gen": p.vgen})
		p.mu.Unlock()
		return
	}
	if p.vdec.Get("state").String() != "closed" {
		p.vdec.Call("reset")
	}
}

// configureVideo (re)configures the video decoder for codec, making a new
// one when an error closed it.
func (p *Player) configureVideo(codec string) {
	cfg := map[string]any{"codec": codec, "optimizeForLatency": true}
	if codec == protocol.WebCodecsVP8 {
		// VP8 is BT.601 by definition (RFC 6386 §9.2, color_space 0), as
		// every quicast source gives it; without saying so Chromium tags
		// the frames BT.709 and the canvas draws a camera's picture with
		// the wrong colours (its green 0,135,0 as 0,77,0).
		cfg["colorSpace"] = map[string]any{"primaries": "smpte170m", "transfer": "smpte170m", "matrix": "smpte170m", "fullRange": false}
	}
	if p.renderer.Truthy() {
		p.mu.Lock()
		p.vgen++
		p.renderer.Call("postMessage", map[string]any{"configure": cfg, "gen": p.vgen, "maxQueue": maxDecodeQ})
		p.vdecState = "configured"
		p.mu.Unlock()
	} else {
		if p.vdec.Get("state").String() == "closed" {
			p.setupVideoDecoder()
		}
		p.vdec.Call("configure", cfg)
	}
	p.mu.Lock()
	p.vdecConfigured, p.vdecCodec, p.vdecUsed = true, codec, false
	p.mu.Unlock()
}

// decodeVideo hands a frame (tsUS its timestamp, µs) to the decoder.
func (p *Player) decodeVideo(key bool, tsUS int64, data []byte) {
	if p.renderer.Truthy() {
		// A buffer of its own, handed over (transferred) to the worker.
		buf := js.Global().Get("Uint8Array").New(len(data))
		js.CopyBytesToJS(buf, data)
		ab := buf.Get("buffer")
		p.renderer.Call("postMessage", map[string]any{"chunk": ab, "key": key, "ts": tsUS}, []any{ab})
		return
	}
	// Here the queue is this thread's to watch: a delta frame behind more
	// than maxDecodeQ waits for the next keyframe instead.
	if q := p.vdec.Get("decodeQueueSize").Int(); q > maxDecodeQ && !key {
		p.videoDecoderFull()
		return
	}
	if len(data) > p.staging.Length() {
		p.staging = js.Global().Get("Uint8Array").New(2 * len(data))
	}
	js.CopyBytesToJS(p.staging, data)
	helpers.decodeVideo.Invoke(p.vdec, key, tsUS, p.staging, len(data))
}

// videoLoop reassembles frames of the current broadcast and feeds the
// decoder, from a keyframe on and again from the next one after any loss.
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
	if ok {
		p.s.VideoFramesAssembled++
	}
	gated := ok && err == nil && !bc.Gate.Frame(f.Keyframe)
	if gated {
		p.s.VideoFramesAwaitingKey++
	}
	p.s.VideoGroupsLost = int(bc.Gate.LostGroups)
	if err != nil || !ok || gated {
		p.mu.Unlock()
		return
	}
	configured := p.vdecConfigured
	p.vdecUsed = true
	ext := bc.VideoUnwrap.Unwrap(f.Timestamp)
	codec := bc.Video.Codec
	tsUS := int64(math.Round(float64(ext) * 100 / 9)) // 90 kHz → µs, the key the decoder gives back
	if len(p.arrived) > 256 {                         // frames the decoder never gave back
		clear(p.arrived)
	}
	now := time.Now()
	p.arrived[tsUS] = now
	p.s.VideoInStalls.Mark(now)
	p.mu.Unlock()
	if !configured {
		p.configureVideo(codec) // after a decode error
	}
	p.decodeVideo(f.Keyframe, tsUS, f.Data)
	p.mu.Lock()
	p.markLocked("firstDecode")
	p.mu.Unlock()
}

// render shows the frame the audio has reached (player.Pick), letting the
// ones it passed go: at every tick.
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
	p.closeFrames(p.pending[:drop])
	show := p.pending[idx]
	p.pending = append(p.pending[:0], p.pending[idx+1:]...)
	p.s.VideoFramesDropped += drop
	p.s.VideoFramesRendered++
	p.m.Media(now)
	if !audioNow.IsZero() && !show.wall.IsZero() {
		p.s.AVSkewClockMS = float64(audioNow.Sub(show.wall)) / 1e6
	}
	if p.renderer.Truthy() {
		p.drawID++
		p.drawing[p.drawID] = drawn{ts: show.ts, times: show.times, posted: now}
		p.renderer.Call("postMessage", map[string]any{"show": show.tsUS, "id": p.drawID})
		p.mu.Unlock()
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
