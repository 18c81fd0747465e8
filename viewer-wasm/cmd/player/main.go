//go:build js && wasm

package main

import (
	"encoding/base64"
	"errors"
	"io"
	"net/url"
	"strings"
	"sync"
	"syscall/js"
	"time"

	"github.com/pion/rtp"

	"github.com/quicast/quicast/protocol"
	"github.com/quicast/quicast/viewer-wasm/player"
)

const (
	tick          = 8 * time.Millisecond
	maxPending    = 30 // decoded video frames waiting for their time
	maxDecodeQ    = 16 // frames queued in the VideoDecoder before we skip to a keyframe
	audioMinDelay = 20 * time.Millisecond
	audioMaxDelay = 200 * time.Millisecond
)

type result struct {
	v   js.Value
	err error
}

// await blocks the calling goroutine (never a js.FuncOf callback) until the
// promise settles; JS callbacks run meanwhile.
func await(p js.Value) (js.Value, error) {
	ch := make(chan result, 1)
	then := js.FuncOf(func(_ js.Value, args []js.Value) any {
		v := js.Undefined()
		if len(args) > 0 {
			v = args[0]
		}
		ch <- result{v: v}
		return nil
	})
	catch := js.FuncOf(func(_ js.Value, args []js.Value) any {
		msg := "promise rejected"
		if len(args) > 0 && args[0].Truthy() {
			if m := args[0].Get("message"); m.Truthy() {
				msg = m.String()
			} else {
				msg = args[0].Call("toString").String()
			}
		}
		ch <- result{err: errors.New(msg)}
		return nil
	})
	p.Call("then", then, catch)
	r := <-ch
	then.Release()
	catch.Release()
	return r.v, r.err
}

// jsReader reads a ReadableStream of Uint8Array chunks as an io.Reader.
type jsReader struct {
	r    js.Value
	buf  []byte
	n    *int64 // bytes counter
	mu   *sync.Mutex
	stag js.Value
}

func (j *jsReader) Read(p []byte) (int, error) {
	if len(j.buf) == 0 {
		res, err := await(j.r.Call("read"))
		if err != nil {
			return 0, err
		}
		if res.Get("done").Bool() {
			return 0, errEOF
		}
		v := res.Get("value")
		n := v.Get("byteLength").Int()
		if cap(j.buf) < n {
			j.buf = make([]byte, n)
		}
		j.buf = j.buf[:n]
		js.CopyBytesToGo(j.buf, v)
		j.mu.Lock()
		*j.n += int64(n)
		j.mu.Unlock()
	}
	n := copy(p, j.buf)
	j.buf = j.buf[n:]
	return n, nil
}

var errEOF = io.EOF

// Player is one watch session.
type Player struct {
	stream string
	doc    js.Value
	canvas js.Value
	ctx2d  js.Value
	status js.Value
	stats  js.Value

	mu          sync.Mutex
	s           stats
	bytes       int64
	ended       bool
	videoSSRC   uint32
	audioSSRC   uint32
	videoClock  protocol.RTPClock
	audioClock  protocol.RTPClock
	timeline    player.AudioTimeline
	played      int64
	playedAt    time.Time
	pending     []pendingFrame
	needKey     bool
	audioUnwrap player.Unwrapper
	videoUnwrap player.Unwrapper

	vdec, adec     js.Value
	vdecConfigured bool
	adecConfigured bool
	staging        js.Value
	ctrlWriter     js.Value
	audioNode      js.Value
	jitter         *protocol.JitterBuffer
	videoPkts      chan groupPacket
	audioPkts      chan []byte
	funcs          []js.Func
}

type pendingFrame struct {
	frame js.Value
	wall  time.Time
}

type groupPacket struct {
	group uint64
	start bool
	pkt   []byte
}

type stats struct {
	State, VideoCodec, AudioCodec                    string
	Width, Height                                    int
	VideoFramesDecoded, VideoFramesRendered          int
	VideoFramesDropped, AudioFramesDecoded           int
	AudioSamplesPlayed, AudioUnderruns, AudioDropped int
	BitrateKbps, PlayoutDelayMS, JitterMS, AVSkewMS  float64
	GroupsReceived, PacketsLost, KeyframeRequests    int
	DecodeErrors                                     int
}

func main() {
	doc := js.Global().Get("document")
	p := &Player{
		doc:       doc,
		canvas:    doc.Call("getElementById", "video"),
		status:    doc.Call("getElementById", "status"),
		stats:     doc.Call("getElementById", "stats"),
		staging:   js.Global().Get("Uint8Array").New(protocol.MaxPacket * 256),
		needKey:   true,
		jitter:    protocol.NewJitterBuffer(protocol.ClockRateOpus, audioMinDelay, audioMaxDelay),
		videoPkts: make(chan groupPacket, 2048),
		audioPkts: make(chan []byte, 256),
	}
	p.ctx2d = p.canvas.Call("getContext", "2d", map[string]any{"alpha": false})
	path := js.Global().Get("location").Get("pathname").String()
	name, _ := url.PathUnescape(strings.TrimPrefix(path, "/watch/"))
	p.stream = name
	if el := doc.Call("getElementById", "stream-name"); el.Truthy() {
		el.Set("textContent", name)
	}
	p.s.State = "connecting"
	js.Global().Set("quicastStats", js.FuncOf(func(js.Value, []js.Value) any { return p.statsObject() }))
	p.setupAudio()
	p.setupDecoders()
	go p.run()
	select {}
}

func (p *Player) setState(s string) {
	p.mu.Lock()
	if p.ended && !strings.HasPrefix(s, "ended") {
		p.mu.Unlock()
		return
	}
	p.s.State = s
	if strings.HasPrefix(s, "ended") {
		p.ended = true
	}
	p.mu.Unlock()
	msg := s
	switch {
	case s == "connecting":
		msg = "Connecting…"
	case s == "waiting":
		msg = "Waiting for the broadcast to start…"
	case s == "playing":
		msg = "Live"
	case strings.HasPrefix(s, "ended"):
		msg = "Broadcast ended" + strings.TrimPrefix(s, "ended")
	case strings.HasPrefix(s, "error"):
		msg = "Error" + strings.TrimPrefix(s, "error")
	}
	p.status.Set("textContent", msg)
}

func (p *Player) fn(f func(args []js.Value)) js.Func {
	jf := js.FuncOf(func(_ js.Value, args []js.Value) any { f(args); return nil })
	p.funcs = append(p.funcs, jf)
	return jf
}

func (p *Player) setupAudio() {
	a := js.Global().Get("quicastAudio")
	if !a.Truthy() {
		return
	}
	p.audioNode = a.Get("node")
	p.audioNode.Get("port").Set("onmessage", p.fn(func(args []js.Value) {
		d := args[0].Get("data")
		p.mu.Lock()
		p.played = int64(d.Get("played").Float())
		p.playedAt = time.Now()
		p.s.AudioSamplesPlayed = int(p.played)
		p.s.AudioUnderruns = d.Get("underruns").Int()
		p.s.AudioDropped = d.Get("dropped").Int()
		p.s.PlayoutDelayMS = d.Get("buffered").Float() / 48
		p.mu.Unlock()
	}))
}

func (p *Player) setupDecoders() {
	p.vdec = js.Global().Get("VideoDecoder").New(map[string]any{
		"output": p.fn(func(args []js.Value) {
			f := args[0]
			extTS := int64(f.Get("timestamp").Float() * 9 / 100)
			p.mu.Lock()
			p.s.VideoFramesDecoded++
			p.s.Width, p.s.Height = f.Get("displayWidth").Int(), f.Get("displayHeight").Int()
			wall := time.Time{}
			if p.videoClock.Synced() {
				wall = p.videoClock.WallTime(uint32(extTS))
			}
			if len(p.pending) >= maxPending {
				p.pending[0].frame.Call("close")
				p.pending = p.pending[1:]
				p.s.VideoFramesDropped++
			}
			p.pending = append(p.pending, pendingFrame{frame: f, wall: wall})
			p.mu.Unlock()
		}),
		"error": p.fn(func(args []js.Value) {
			p.mu.Lock()
			p.s.DecodeErrors++
			p.needKey = true
			p.vdecConfigured = false
			p.mu.Unlock()
		}),
	})
	p.adec = js.Global().Get("AudioDecoder").New(map[string]any{
		"output": p.fn(func(args []js.Value) { p.audioOut(args[0]) }),
		"error": p.fn(func(args []js.Value) {
			p.mu.Lock()
			p.s.DecodeErrors++
			p.adecConfigured = false
			p.mu.Unlock()
		}),
	})
}

// audioOut hands decoded audio to the worklet and records its media time.
func (p *Player) audioOut(d js.Value) {
	defer d.Call("close")
	n := d.Get("numberOfFrames").Int()
	chs := d.Get("numberOfChannels").Int()
	f32 := js.Global().Get("Float32Array")
	l := f32.New(n)
	d.Call("copyTo", l, map[string]any{"planeIndex": 0, "format": "f32-planar"})
	r := l
	if chs > 1 {
		r = f32.New(n)
		d.Call("copyTo", r, map[string]any{"planeIndex": 1, "format": "f32-planar"})
	}
	extTS := int64(d.Get("timestamp").Float() * 6 / 125)
	p.mu.Lock()
	p.s.AudioFramesDecoded++
	p.timeline.Add(extTS, n)
	p.mu.Unlock()
	if p.audioNode.Truthy() {
		msg := map[string]any{"l": l, "r": r}
		p.audioNode.Get("port").Call("postMessage", msg)
	}
}

func (p *Player) run() {
	p.setState("connecting")
	resp, err := await(js.Global().Call("fetch", "/api/ticket?stream="+url.QueryEscape(p.stream), map[string]any{"credentials": "same-origin"}))
	if err != nil {
		p.setState("error: " + err.Error())
		return
	}
	if st := resp.Get("status").Int(); st == 401 {
		js.Global().Get("location").Set("href", "/login?next="+url.QueryEscape("/watch/"+p.stream))
		return
	} else if st != 200 {
		p.setState("error: no such stream")
		return
	}
	tk, err := await(resp.Call("json"))
	if err != nil {
		p.setState("error: " + err.Error())
		return
	}
	opts := map[string]any{}
	if hs := tk.Get("certHashes"); hs.Truthy() && hs.Length() > 0 {
		arr := js.Global().Get("Array").New()
		for i := 0; i < hs.Length(); i++ {
			raw, err := base64.StdEncoding.DecodeString(hs.Index(i).String())
			if err != nil {
				continue
			}
			u8 := js.Global().Get("Uint8Array").New(len(raw))
			js.CopyBytesToJS(u8, raw)
			arr.Call("push", map[string]any{"algorithm": "sha-256", "value": u8})
		}
		opts["serverCertificateHashes"] = arr
	}
	wt := js.Global().Get("WebTransport").New(tk.Get("url"), opts)
	if _, err := await(wt.Get("ready")); err != nil {
		p.setState("error: access refused or relay unreachable (" + err.Error() + ")")
		return
	}
	p.setState("waiting")
	go func() {
		_, err := await(wt.Get("closed"))
		reason := ": the connection closed"
		if err != nil {
			reason = ": the relay went away"
		}
		p.setState("ended" + reason)
	}()

	bidi, err := await(wt.Call("createBidirectionalStream"))
	if err != nil {
		p.setState("error: " + err.Error())
		return
	}
	p.ctrlWriter = bidi.Get("writable").Call("getWriter")
	p.sendControl(&protocol.Message{Type: protocol.MsgHello, Client: "quicast-viewer"})
	go p.controlLoop(&jsReader{r: bidi.Get("readable").Call("getReader"), n: &p.bytes, mu: &p.mu})
	go p.uniLoop(wt.Get("incomingUnidirectionalStreams").Call("getReader"))
	go p.datagramLoop(wt.Get("datagrams").Get("readable").Call("getReader"))
	go p.videoLoop()
	p.renderLoop()
}

func (p *Player) sendControl(m *protocol.Message) {
	b, err := protocol.AppendMessage(nil, m)
	if err != nil || !p.ctrlWriter.Truthy() {
		return
	}
	u8 := js.Global().Get("Uint8Array").New(len(b))
	js.CopyBytesToJS(u8, b)
	p.ctrlWriter.Call("write", u8) // not awaited: a JS promise we don't block on
}

func (p *Player) controlLoop(r *jsReader) {
	cr := protocol.NewControlReader(r)
	for {
		m, err := cr.Read()
		if err != nil {
			return
		}
		switch m.Type {
		case protocol.MsgCatalog:
			p.mu.Lock()
			for _, t := range m.Tracks {
				if t.Kind == "video" {
					p.videoSSRC, p.s.VideoCodec = t.SSRC, t.Codec
					p.videoClock = protocol.RTPClock{ClockRate: t.ClockRate}
				} else {
					p.audioSSRC, p.s.AudioCodec = t.SSRC, t.Codec
					p.audioClock = protocol.RTPClock{ClockRate: t.ClockRate}
				}
			}
			p.needKey = true
			p.ended = false
			p.mu.Unlock()
			p.setState("waiting")
		case protocol.MsgSync:
			p.mu.Lock()
			switch m.Sync.SSRC {
			case p.videoSSRC:
				p.videoClock.Update(m.Sync.NTPTime, m.Sync.RTPTime)
			case p.audioSSRC:
				p.audioClock.Update(m.Sync.NTPTime, m.Sync.RTPTime)
			}
			p.mu.Unlock()
		case protocol.MsgEnded:
			p.setState("ended: " + m.Reason)
		}
	}
}

func (p *Player) uniLoop(r js.Value) {
	for {
		res, err := await(r.Call("read"))
		if err != nil || res.Get("done").Bool() {
			return
		}
		go p.groupLoop(res.Get("value"))
	}
}

func (p *Player) groupLoop(stream js.Value) {
	jr := &jsReader{r: stream.Call("getReader"), n: &p.bytes, mu: &p.mu}
	g, err := protocol.NewGroupReader(jr)
	if err != nil {
		return
	}
	p.mu.Lock()
	p.s.GroupsReceived++
	p.mu.Unlock()
	id := g.Header().Group
	first := true
	for {
		pkt, err := g.ReadPacket(nil)
		if err != nil {
			return
		}
		p.videoPkts <- groupPacket{group: id, start: first, pkt: pkt}
		first = false
	}
}

func (p *Player) datagramLoop(r js.Value) {
	for {
		res, err := await(r.Call("read"))
		if err != nil || res.Get("done").Bool() {
			return
		}
		v := res.Get("value")
		b := make([]byte, v.Get("byteLength").Int())
		js.CopyBytesToGo(b, v)
		p.mu.Lock()
		p.bytes += int64(len(b))
		p.mu.Unlock()
		select {
		case p.audioPkts <- b:
		default:
		}
	}
}

// videoLoop reassembles frames and feeds the VideoDecoder, starting at a
// keyframe and skipping to the next one after any loss.
func (p *Player) videoLoop() {
	var asm player.Assembler
	var curGroup uint64
	haveGroup := false
	for gp := range p.videoPkts {
		if gp.start {
			if haveGroup && gp.group < curGroup {
				continue // a late packet of an older group
			}
			if haveGroup && gp.group != curGroup+1 && gp.group != curGroup {
				p.mu.Lock()
				p.s.PacketsLost++
				p.mu.Unlock()
			}
			curGroup, haveGroup = gp.group, true
			asm.Reset()
		} else if !haveGroup || gp.group != curGroup {
			continue
		}
		f, ok, err := asm.Push(gp.pkt)
		if err != nil || !ok {
			continue
		}
		p.mu.Lock()
		need := p.needKey
		configured := p.vdecConfigured
		p.mu.Unlock()
		if need && !f.Keyframe {
			continue
		}
		if !configured {
			if p.vdec.Get("state").String() == "closed" {
				p.setupDecoders()
			}
			p.vdec.Call("configure", map[string]any{"codec": "vp8", "optimizeForLatency": true})
			p.mu.Lock()
			p.vdecConfigured = true
			p.mu.Unlock()
		}
		if q := p.vdec.Get("decodeQueueSize").Int(); q > maxDecodeQ && !f.Keyframe {
			p.mu.Lock()
			p.needKey = true
			p.s.VideoFramesDropped++
			p.mu.Unlock()
			continue
		}
		ext := p.videoUnwrap.Unwrap(f.Timestamp)
		typ := "delta"
		if f.Keyframe {
			typ = "key"
		}
		js.CopyBytesToJS(p.staging, f.Data)
		chunk := js.Global().Get("EncodedVideoChunk").New(map[string]any{
			"type": typ, "timestamp": float64(ext) * 100 / 9,
			"data": p.staging.Call("subarray", 0, len(f.Data)),
		})
		p.vdec.Call("decode", chunk)
		p.mu.Lock()
		p.needKey = false
		p.mu.Unlock()
	}
}

// renderLoop drives audio out of the jitter buffer and shows the video
// frame the audio has reached.
func (p *Player) renderLoop() {
	lastRate := time.Now()
	var lastBytes int64
	lastOverlay := time.Now()
	for {
		time.Sleep(tick)
		now := time.Now()
		p.drainAudio(now)
		p.render(now)
		if now.Sub(lastRate) >= time.Second {
			p.mu.Lock()
			p.s.BitrateKbps = float64(p.bytes-lastBytes) * 8 / now.Sub(lastRate).Seconds() / 1000
			lastBytes, lastRate = p.bytes, now
			p.s.JitterMS = float64(p.jitter.Jitter()) / 1e6
			p.s.PacketsLost = int(p.jitter.Lost)
			playing := p.s.VideoFramesRendered > 0 && p.s.AudioSamplesPlayed > 0 && !p.ended
			p.mu.Unlock()
			if playing {
				p.setState("playing")
			}
		}
		if now.Sub(lastOverlay) >= 500*time.Millisecond && p.stats.Truthy() && !p.stats.Get("hidden").Bool() {
			p.stats.Set("textContent", p.overlayText())
			lastOverlay = now
		}
	}
}

func (p *Player) drainAudio(now time.Time) {
	for {
		select {
		case b := <-p.audioPkts:
			var h rtp.Header
			n, err := h.Unmarshal(b)
			if err != nil || h.SSRC != p.audioSSRC {
				continue
			}
			p.jitter.Push(h.SequenceNumber, h.Timestamp, now, b[n:])
			continue
		default:
		}
		break
	}
	for {
		_, ts, payload, ok := p.jitter.Pop(now)
		if !ok {
			return
		}
		if !p.adecConfigured {
			p.adec.Call("configure", map[string]any{"codec": "opus", "sampleRate": 48000, "numberOfChannels": 2})
			p.adecConfigured = true
		}
		ext := p.audioUnwrap.Unwrap(ts)
		js.CopyBytesToJS(p.staging, payload)
		chunk := js.Global().Get("EncodedAudioChunk").New(map[string]any{
			"type": "key", "timestamp": float64(ext) * 125 / 6, "data": p.staging.Call("subarray", 0, len(payload)),
		})
		p.adec.Call("decode", chunk)
	}
}

func (p *Player) render(now time.Time) {
	p.mu.Lock()
	var audioNow time.Time
	if p.audioClock.Synced() && !p.playedAt.IsZero() {
		played := p.played + int64(now.Sub(p.playedAt).Seconds()*48000)
		if played > int64(p.s.AudioSamplesPlayed)+4800 {
			played = int64(p.s.AudioSamplesPlayed) + 4800
		}
		if ts, ok := p.timeline.At(played); ok {
			audioNow = p.audioClock.WallTime(uint32(ts))
		}
	}
	q := make([]player.Pending, len(p.pending))
	for i, f := range p.pending {
		q[i] = player.Pending{Wall: f.wall}
	}
	idx, drop := player.Pick(q, audioNow, 0, 3*time.Second)
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
	if !audioNow.IsZero() && !show.wall.IsZero() {
		p.s.AVSkewMS = float64(show.wall.Sub(audioNow)) / 1e6
	}
	w, h := p.s.Width, p.s.Height
	p.mu.Unlock()
	if p.canvas.Get("width").Int() != w || p.canvas.Get("height").Int() != h {
		p.canvas.Set("width", w)
		p.canvas.Set("height", h)
	}
	p.ctx2d.Call("drawImage", show.frame, 0, 0, w, h)
	show.frame.Call("close")
}

func (p *Player) statsObject() any {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.s
	return map[string]any{
		"state": s.State, "videoCodec": s.VideoCodec, "audioCodec": s.AudioCodec,
		"width": s.Width, "height": s.Height,
		"videoFramesDecoded": s.VideoFramesDecoded, "videoFramesRendered": s.VideoFramesRendered,
		"videoFramesDropped": s.VideoFramesDropped, "audioFramesDecoded": s.AudioFramesDecoded,
		"audioSamplesPlayed": s.AudioSamplesPlayed, "audioUnderruns": s.AudioUnderruns,
		"audioSamplesDropped": s.AudioDropped, "bitrateKbps": s.BitrateKbps,
		"playoutDelayMs": s.PlayoutDelayMS, "jitterMs": s.JitterMS, "avSkewMs": s.AVSkewMS,
		"groupsReceived": s.GroupsReceived, "packetsLost": s.PacketsLost, "decodeErrors": s.DecodeErrors,
	}
}

func (p *Player) overlayText() string {
	p.mu.Lock()
	s := p.s
	p.mu.Unlock()
	var b strings.Builder
	line := func(k, v string) { b.WriteString(k + strings.Repeat(" ", 16-len(k)) + v + "\n") }
	line("state", s.State)
	line("video", s.VideoCodec+" "+itoa(s.Width)+"x"+itoa(s.Height))
	line("decoded", itoa(s.VideoFramesDecoded))
	line("rendered", itoa(s.VideoFramesRendered))
	line("dropped", itoa(s.VideoFramesDropped))
	line("audio", s.AudioCodec+" "+itoa(s.AudioFramesDecoded)+" frames")
	line("played", itoa(s.AudioSamplesPlayed/48)+" ms")
	line("underruns", itoa(s.AudioUnderruns))
	line("bitrate", itoa(int(s.BitrateKbps))+" kbit/s")
	line("playout delay", itoa(int(s.PlayoutDelayMS))+" ms")
	line("jitter", itoa(int(s.JitterMS))+" ms")
	line("A/V skew", itoa(int(s.AVSkewMS))+" ms")
	line("groups", itoa(s.GroupsReceived))
	line("lost", itoa(s.PacketsLost))
	return b.String()
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	neg := n < 0
	if neg {
		n = -n
	}
	var b [20]byte
	i := len(b)
	for n > 0 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	if neg {
		i--
		b[i] = '-'
	}
	return string(b[i:])
}
