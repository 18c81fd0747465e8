// Package receive is the desktop's native viewer of a relay stream, the
// receiving half of a call: it watches the stream as the browser's player
// does (protocol/watch), reassembles VP8 or H.264 frames from the video
// groups (protocol/rtpvp8, RFC 7741; protocol/rtph264, RFC 6184), decodes
// them with libvpx (through pion/mediadevices) or libavcodec
// (gio-ui/internal/h264) and stamps each with its capture time on the sender's
// clock (RFC 3550 §6.4.1 sender reports, forwarded by the relay on the
// control stream).
//
// Audio is put back in order (protocol.JitterBuffer), decoded with libopus
// (hraban/opus), lost packets concealed, and written to a Playout that a
// speaker (OpenSpeaker) or anything else reads on its own clock.
package receive

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"image"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/mediadevices/pkg/codec"
	"github.com/pion/mediadevices/pkg/codec/vpx"
	"github.com/pion/mediadevices/pkg/prop"
	"gopkg.in/hraban/opus.v2"

	"github.com/quicast/quicast/gio-ui/internal/h264"
	"github.com/quicast/quicast/protocol"
	"github.com/quicast/quicast/protocol/rtph264"
	"github.com/quicast/quicast/protocol/rtpvp8"
	"github.com/quicast/quicast/protocol/watch"
)

// Frame is one decoded video frame.
type Frame struct {
	Image   *image.YCbCr
	RTPTime uint32    // 90 kHz
	Capture time.Time // on the sender's clock; zero before its first sender report
	Decoded time.Time
	// Due is when the frame was handed to Frames: its capture time plus
	// the sound's delay (lip-sync), or at once when either is unknown or
	// the frame came later than that.
	Due time.Time
	// AudioDelay is the sound's capture → playout delay at Due (0
	// unknown): Due − Capture − AudioDelay is the A/V skew at this side,
	// up to the output devices' own latencies.
	AudioDelay time.Duration
}

// Stats are the receiver's counters since Start.
type Stats struct {
	Groups, GroupsCut       uint64 // video groups begun; ended by a reset (the relay dropped the rest)
	FramesDecoded           uint64
	FramesLost              uint64 // complete frames not decoded: packets lost in or before them
	FramesDropped           uint64 // decoded but not taken from Frames in time (the newest wins)
	FramesThinned           uint64 // non-reference frames not decoded: the decoder was over thinBehind behind the packets come
	DecodeErrors            uint64
	KeyframeRequests        uint64
	AudioPackets            uint64
	Bytes                   uint64 // RTP received, video and audio
	AudioLost               uint64 // packets concealed (never came, or came too late)
	AudioDecodeErrors       uint64
	BadDatagrams, BadGroups uint64
}

// source is where a receiver's media come from: a relay's viewer session
// (watch.Session), or a direct call's SRTP (peerSource) made to look like
// one — a catalog and sender reports on the control side, video in groups
// that start at keyframes, audio packets.
type source interface {
	ReadControl() (*protocol.Message, error)
	WriteControl(m *protocol.Message) error // a keyframe request
	AcceptGroup(ctx context.Context) (io.Reader, error)
	ReadAudio(ctx context.Context, fn func(pkt []byte)) (bundle bool, err error)
	Context() context.Context
	Close() error
}

// Receiver watches one stream. Frames delivers its decoded video.
type Receiver struct {
	sess   source
	log    *slog.Logger
	frames chan Frame
	cancel context.CancelFunc
	wg     sync.WaitGroup

	playout *Playout

	mu       sync.Mutex
	video    uint32 // the catalog's video SSRC
	clock    protocol.RTPClock
	codec    string
	lastKick time.Time
	audioTrk protocol.TrackInfo // the catalog's audio track; SSRC 0: none
	audioClk protocol.RTPClock  // its RTP time on the sender's clock
	catalogs int                // catalogs so far: the audio loop starts over at a new one

	packets chan groupPacket // group streams → the decoder
	toSync  chan Frame       // the decoder → the lip-sync

	groups, groupsCut, decoded, lost, dropped, decodeErrs, keyReqs, audio, badDgrams, badGroups atomic.Uint64
	audioLost, audioDecodeErrs, bytes, otherCodec, thinned                                      atomic.Uint64
	// newest is the RTP timestamp (90 kHz) of the newest video packet come
	// (after haveNewest): how far behind it the decoding is.
	newest     atomic.Uint32
	haveNewest atomic.Bool
}

type groupPacket struct {
	group uint64
	start bool // the first packet of its group
	pkt   []byte
}

// Start opens a viewer session of stream with c (logged in) and receives
// until ctx ends or Close.
func Start(ctx context.Context, c *watch.Client, stream string, log *slog.Logger) (*Receiver, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	sess, err := c.Dial(ctx, stream, "quicast-desktop")
	if err != nil {
		return nil, err
	}
	return start(ctx, sess, log.With("component", "receive", "stream", stream)), nil
}

// start receives from sess until ctx ends or Close.
func start(ctx context.Context, sess source, log *slog.Logger) *Receiver {
	ctx, cancel := context.WithCancel(ctx)
	r := &Receiver{sess: sess, log: log, cancel: cancel,
		frames: make(chan Frame, 2), packets: make(chan groupPacket, 1024), toSync: make(chan Frame, 8),
		playout: NewPlayout()}
	r.clock.ClockRate = protocol.ClockRateVideo
	context.AfterFunc(ctx, func() { _ = sess.Close() })
	r.wg.Go(func() { r.controlLoop() })
	r.wg.Go(func() { r.groupLoop(ctx) })
	r.wg.Go(func() { r.audioLoop(ctx) })
	r.wg.Go(func() { r.decodeLoop(ctx) })
	r.wg.Go(func() { r.syncLoop(ctx) })
	return r
}

// Frames delivers decoded frames. When they are not taken in time the
// oldest waiting one is dropped (Stats.FramesDropped): a receiver shows
// the newest picture, it does not fall behind.
func (r *Receiver) Frames() <-chan Frame { return r.frames }

// ErrVideoCodec is a picture in a codec this receiver does not decode
// (neither VP8 nor H.264); the sound goes on.
var ErrVideoCodec = errors.New("their picture is in a codec this window cannot show (it shows VP8 and H.264)")

// VideoCodecProblem is ErrVideoCodec, naming the codec, once packets of
// a picture this receiver cannot decode have come; nil otherwise.
func (r *Receiver) VideoCodecProblem() error {
	if r.otherCodec.Load() == 0 {
		return nil
	}
	r.mu.Lock()
	name := r.codec
	r.mu.Unlock()
	return fmt.Errorf("%w: %s", ErrVideoCodec, name)
}

// Playout is the received sound, decoded, for a speaker to read.
func (r *Receiver) Playout() *Playout { return r.playout }

// Done ends when the session does.
func (r *Receiver) Done() <-chan struct{} { return r.sess.Context().Done() }

// Close ends the session and waits for the receiver's goroutines.
func (r *Receiver) Close() {
	r.cancel()
	_ = r.sess.Close()
	r.wg.Wait()
}

// Stats returns a snapshot of the counters.
func (r *Receiver) Stats() Stats {
	return Stats{Groups: r.groups.Load(), GroupsCut: r.groupsCut.Load(), FramesDecoded: r.decoded.Load(),
		FramesLost: r.lost.Load(), FramesDropped: r.dropped.Load(), FramesThinned: r.thinned.Load(), DecodeErrors: r.decodeErrs.Load(),
		KeyframeRequests: r.keyReqs.Load(), AudioPackets: r.audio.Load(), Bytes: r.bytes.Load(), AudioLost: r.audioLost.Load(),
		AudioDecodeErrors: r.audioDecodeErrs.Load(), BadDatagrams: r.badDgrams.Load(),
		BadGroups: r.badGroups.Load()}
}

// controlLoop keeps the catalog's video track and the sender's clock.
func (r *Receiver) controlLoop() {
	for {
		m, err := r.sess.ReadControl()
		if err != nil {
			return
		}
		r.mu.Lock()
		switch m.Type {
		case protocol.MsgCatalog:
			r.video, r.codec, r.audioTrk = 0, "", protocol.TrackInfo{}
			for _, t := range m.Tracks {
				switch t.Kind {
				case "video":
					r.video, r.codec = t.SSRC, t.Codec
				case "audio":
					r.audioTrk = t
				}
			}
			r.catalogs++
			r.clock = protocol.RTPClock{ClockRate: protocol.ClockRateVideo}
			r.audioClk = protocol.RTPClock{ClockRate: protocol.ClockRateOpus}
		case protocol.MsgSync:
			switch m.Sync.SSRC {
			case r.video:
				r.clock.Update(m.Sync.NTPTime, m.Sync.RTPTime)
			case r.audioTrk.SSRC:
				r.audioClk.Update(m.Sync.NTPTime, m.Sync.RTPTime)
			}
		case protocol.MsgEnded:
			r.log.Info("broadcast ended", "reason", m.Reason)
		}
		r.mu.Unlock()
	}
}

// groupLoop reads each video group stream in a goroutine of its own and
// hands its packets to the decoder in order.
func (r *Receiver) groupLoop(ctx context.Context) {
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		s, err := r.sess.AcceptGroup(ctx)
		if err != nil {
			return
		}
		wg.Go(func() { r.readGroup(ctx, s) })
	}
}

func (r *Receiver) readGroup(ctx context.Context, s io.Reader) {
	gr, err := protocol.NewGroupReader(s)
	if err != nil {
		r.badGroups.Add(1)
		return
	}
	r.groups.Add(1)
	id := gr.Header().Group
	start := true
	for {
		pkt, err := gr.ReadPacket(nil)
		r.bytes.Add(uint64(len(pkt)))
		if err != nil {
			if !errors.Is(err, io.EOF) {
				r.groupsCut.Add(1)
			}
			return
		}
		if len(pkt) >= 8 {
			r.came(binary.BigEndian.Uint32(pkt[4:8]))
		}
		select {
		case r.packets <- groupPacket{group: id, start: start, pkt: pkt}:
		case <-ctx.Done():
			return
		}
		start = false
	}
}

// audioLoop puts the audio packets of the catalog's audio track back in
// order, decodes them and writes the sound to the playout buffer; a
// packet given up on is concealed (Opus packet loss concealment) so the
// sound keeps its timing.
func (r *Receiver) audioLoop(ctx context.Context) {
	var (
		catalog  = -1
		trk      protocol.TrackInfo
		jb       *protocol.JitterBuffer
		dec      *opus.Decoder
		pcm      []int16
		stereo   = make([]int16, 6*frame10ms*Channels) // up to a 60 ms packet
		next     uint16
		haveNext bool
		lastLen  = frame10ms // samples a channel of the last packet decoded: a lost one's concealment
	)
	var capture time.Time  // of the packet being written; zero for concealment
	write := func(n int) { // n samples a channel in pcm
		if trk.Channels == 1 {
			for i := range n {
				stereo[2*i], stereo[2*i+1] = pcm[i], pcm[i]
			}
			r.playout.Write(stereo[:2*n], capture)
			return
		}
		r.playout.Write(pcm[:n*Channels], capture)
	}
	var pkts [][]byte
	for {
		// Each datagram is a buffer of its own: the jitter buffer may keep
		// the packets of it as they are.
		clear(pkts)
		pkts = pkts[:0]
		_, err := r.sess.ReadAudio(ctx, func(pkt []byte) {
			r.audio.Add(1)
			r.bytes.Add(uint64(len(pkt)))
			pkts = append(pkts, pkt)
		})
		if errors.Is(err, watch.ErrBadDatagram) {
			r.badDgrams.Add(1)
		} else if err != nil {
			return
		}
		r.mu.Lock()
		if r.catalogs != catalog {
			catalog, trk, dec, jb, haveNext = r.catalogs, r.audioTrk, nil, nil, false
		}
		r.mu.Unlock()
		if trk.SSRC == 0 {
			continue
		}
		if dec == nil {
			ch := int(trk.Channels)
			if ch != 1 {
				ch = 2
			}
			trk.Channels = uint16(ch)
			d, err := opus.NewDecoder(SampleRate, ch)
			if err != nil {
				r.log.Warn("no Opus decoder", "err", err)
				return
			}
			dec, pcm = d, make([]int16, 6*frame10ms*ch)
			jb = protocol.NewJitterBuffer(protocol.ClockRateOpus, PlayoutTarget/2, 4*PlayoutTarget)
		}
		now := time.Now()
		for _, pkt := range pkts {
			h, payload, err := protocol.ParseRTP(pkt)
			if err != nil || h.SSRC != trk.SSRC {
				continue
			}
			jb.Push(h.SequenceNumber, h.Timestamp, now, payload)
		}
		for {
			seq, ts, payload, ok := jb.Pop(now)
			if !ok {
				break
			}
			if haveNext && seq != next {
				// Packets given up on: their time filled with concealment,
				// each as long as the last one decoded (quicast-send's are
				// 10 ms, a browser's 20 ms).
				capture = time.Time{}
				for range min(int(seq-next), 10) {
					r.audioLost.Add(1)
					if err := dec.DecodePLC(pcm[:lastLen*int(trk.Channels)]); err == nil {
						write(lastLen)
					}
				}
			}
			next, haveNext = seq+1, true
			r.mu.Lock()
			capture = time.Time{}
			if r.audioClk.Synced() {
				capture = r.audioClk.WallTime(ts)
			}
			r.mu.Unlock()
			n, err := dec.Decode(payload, pcm)
			if err != nil {
				r.audioDecodeErrs.Add(1)
				continue
			}
			if n >= frame10ms/4 && n <= 6*frame10ms { // 2.5-60 ms: an Opus packet's length
				lastLen = n
			}
			write(n)
		}
	}
}

// decodeLoop reassembles and decodes the newest group: packets of an older
// group that come after a newer one began are left out (the newer one
// starts at a keyframe).
func (r *Receiver) decodeLoop(ctx context.Context) {
	var dec videoDecoder
	defer func() {
		if dec != nil {
			dec.close()
		}
	}()
	var asm protocol.VideoAssembler
	asmCodec := "" // the codec asm and dec are for
	var cur uint64
	started := false
	// Packets that come before the catalog (the relay sends a joining
	// viewer its cached group on a stream of its own, which may overtake
	// the control stream) wait for it, at most maxEarly of them.
	var early []groupPacket
	for {
		var gp groupPacket
		select {
		case <-ctx.Done():
			return
		case gp = <-r.packets:
		}
		r.mu.Lock()
		codec := r.codec
		r.mu.Unlock()
		if codec == "" {
			if len(early) < maxEarly {
				early = append(early, gp)
			}
			continue
		}
		batch := append(early, gp)
		early = nil
		for _, gp := range batch {
			if codec != asmCodec { // a new broadcast in another codec
				if dec != nil {
					dec.close()
					dec = nil
				}
				asm, asmCodec, started = newAssembler(codec), codec, false
			}
			if asm == nil {
				r.otherCodec.Add(1) // counted and shown: see VideoCodecProblem
				continue
			}
			if started && gp.group < cur {
				continue
			}
			if !started || gp.group != cur {
				if !gp.start {
					continue // the middle of a group whose start went to an older one
				}
				asm.Reset()
				cur, started = gp.group, true
			}
			f, ok, err := asm.Push(gp.pkt)
			if errors.Is(err, protocol.ErrVideoLoss) {
				r.lost.Add(1)
				r.requestKeyframe()
				continue
			}
			if err != nil || !ok {
				continue
			}
			if f.NonReference && dec != nil && r.behind(f.Timestamp) {
				// Left out, no other frame refers to it: the decoder
				// catches up at half the frame rate instead of showing
				// every frame late.
				r.thinned.Add(1)
				continue
			}
			if stall != nil {
				stall()
			}
			if dec == nil {
				if !f.Keyframe {
					continue
				}
				var derr error
				if dec, derr = newVideoDecoder(codec); derr != nil {
					r.log.Warn("no video decoder", "codec", codec, "err", derr)
					return
				}
			}
			y, err := dec.decode(f)
			if errors.Is(err, errNoFrame) {
				continue // decoded, nothing to show (a frame the sender marked not shown)
			}
			if err != nil {
				r.decodeErrs.Add(1)
				r.requestKeyframe()
				// A fresh decoder from the next keyframe.
				dec.close()
				dec = nil
				continue
			}
			r.decoded.Add(1)
			r.mu.Lock()
			var capture time.Time
			if r.clock.Synced() {
				capture = r.clock.WallTime(f.Timestamp)
			}
			r.mu.Unlock()
			select {
			case r.toSync <- Frame{Image: y, RTPTime: f.Timestamp, Capture: capture, Decoded: time.Now()}:
			case <-ctx.Done():
				return
			}
		}
	}
}

// maxEarly bounds the packets held for a catalog that has not come yet.
const maxEarly = 1024

// thinBehind is how far (media time) the decoding may fall behind the
// newest video packet come before non-reference frames are left out:
// three frame intervals at 30 fps, more than a keyframe's packets span.
const thinBehind = 100 * time.Millisecond

// stall, when set (tests), is called before each frame is decoded.
var stall func()

// newTimeline is a jump of the video's RTP timestamps that is not lateness
// but another timeline: a new broadcast (a restarted sender), which starts
// at a random timestamp (RFC 3550 §5.1).
const newTimeline = 10 * time.Second

// ticks returns d in 90 kHz RTP ticks.
func ticks(d time.Duration) int64 { return int64(d/time.Millisecond) * protocol.ClockRateVideo / 1000 }

// came records the RTP timestamp ts of a video packet come: the newest
// unless older, or the first of a new timeline (RTP timestamps wrap:
// compared as a signed difference). Groups are read concurrently.
func (r *Receiver) came(ts uint32) {
	for {
		old := r.newest.Load()
		if d := int64(int32(ts - old)); r.haveNewest.Load() && d <= 0 && d > -ticks(newTimeline) {
			return
		}
		if r.newest.CompareAndSwap(old, ts) {
			r.haveNewest.Store(true)
			return
		}
	}
}

// behind reports whether the frame of RTP timestamp ts is over thinBehind
// older than the newest video packet come (and on its timeline).
func (r *Receiver) behind(ts uint32) bool {
	if !r.haveNewest.Load() {
		return false
	}
	d := int64(int32(r.newest.Load() - ts))
	return d > ticks(thinBehind) && d < ticks(newTimeline)
}

// maxHold bounds how long a decoded frame waits for its sound.
const maxHold = time.Second

// syncLoop hands each decoded frame over when it is due: its capture time
// plus the sound's current capture → playout delay (Playout.Delay), so that
// picture and sound of one instant leave this side together (lip-sync). A
// frame without a capture time, or before the sound's delay is known, or
// later than that, goes at once.
func (r *Receiver) syncLoop(ctx context.Context) {
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		var f Frame
		select {
		case <-ctx.Done():
			return
		case f = <-r.toSync:
		}
		d := r.playout.Delay()
		if d > 0 && !f.Capture.IsZero() {
			if wait := time.Until(f.Capture.Add(d)); wait > 0 {
				timer.Reset(min(wait, maxHold))
				select {
				case <-ctx.Done():
					return
				case <-timer.C:
				}
			}
		}
		f.Due, f.AudioDelay = time.Now(), r.playout.Delay()
		r.deliver(f)
	}
}

// deliver hands fr to Frames, dropping the oldest waiting frame when full.
func (r *Receiver) deliver(fr Frame) {
	for {
		select {
		case r.frames <- fr:
			return
		default:
		}
		select {
		case <-r.frames:
			r.dropped.Add(1)
		default:
		}
	}
}

// requestKeyframe asks for a keyframe (the relay, or the other side of a
// direct call), at most once a second.
func (r *Receiver) requestKeyframe() {
	r.mu.Lock()
	now := time.Now()
	if now.Sub(r.lastKick) < time.Second {
		r.mu.Unlock()
		return
	}
	r.lastKick = now
	r.mu.Unlock()
	r.keyReqs.Add(1)
	if err := r.sess.WriteControl(&protocol.Message{Type: protocol.MsgKeyframe}); err != nil {
		r.log.Debug("keyframe request not sent", "err", err)
	}
}

// newAssembler returns the reassembler of a video track in codec (the
// catalog's name: VP8, or H.264 by its WebCodecs avc1 name), nil for any
// other.
func newAssembler(codec string) protocol.VideoAssembler {
	switch protocol.CatalogCodec(codec) {
	case protocol.CodecVP8:
		return &rtpvp8.Assembler{}
	case protocol.CodecH264:
		return &rtph264.Assembler{}
	}
	return nil
}

// videoDecoder decodes the frames of one video stream from a keyframe on.
type videoDecoder interface {
	// decode returns f's picture, in memory of its own (f.Data is the
	// assembler's, reused at its next Push); errNoFrame when f has
	// none to show.
	decode(f protocol.VideoFrame) (*image.YCbCr, error)
	close()
}

// newVideoDecoder returns a decoder for codec, which newAssembler knows:
// VP8 by libvpx (pion/mediadevices), H.264 by libavcodec (gio-ui/internal/h264).
func newVideoDecoder(codec string) (videoDecoder, error) {
	if protocol.CatalogCodec(codec) == protocol.CodecH264 {
		d, err := h264.NewDecoder()
		if err != nil {
			return nil, err
		}
		return h264Decoder{d}, nil
	}
	feed := &frameFeed{frames: make(chan protocol.VideoFrame, 1)}
	d, err := vpx.NewDecoder(feed, prop.Media{})
	if err != nil {
		return nil, err
	}
	return &vp8Decoder{feed: feed, dec: d}, nil
}

type vp8Decoder struct {
	feed *frameFeed
	dec  codec.VideoDecoder
}

func (v *vp8Decoder) decode(f protocol.VideoFrame) (*image.YCbCr, error) {
	// The decoder copies the frame out of the assembler's buffer in its
	// Read.
	v.feed.frames <- f
	img, release, err := v.dec.Read()
	if err != nil {
		return nil, err
	}
	y, _ := img.(*image.YCbCr)
	release()
	if y == nil {
		return nil, fmt.Errorf("receive: VP8 picture of type %T", img)
	}
	return y, nil
}

func (v *vp8Decoder) close() { _ = v.dec.Close() }

type h264Decoder struct{ d *h264.Decoder }

func (h h264Decoder) decode(f protocol.VideoFrame) (*image.YCbCr, error) {
	y, err := h.d.Decode(f.Data)
	if errors.Is(err, h264.ErrNoPicture) {
		return nil, errNoFrame
	}
	return y, err
}

func (h h264Decoder) close() { _ = h.d.Close() }

// frameFeed is the decoder's input: each Read is one whole VP8 frame, as
// libvpx's decode call wants; errNoFrame when the frame handed over has
// been taken and gave no picture.
type frameFeed struct {
	frames chan protocol.VideoFrame
}

var errNoFrame = errors.New("receive: no frame waiting")

func (f *frameFeed) Read(p []byte) (int, error) {
	select {
	case fr := <-f.frames:
		if len(fr.Data) > len(p) {
			return 0, fmt.Errorf("receive: VP8 frame of %d bytes, more than the decoder's %d", len(fr.Data), len(p))
		}
		return copy(p, fr.Data), nil
	default:
		return 0, errNoFrame
	}
}
