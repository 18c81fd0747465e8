package media

import (
	"context"
	"errors"
	"fmt"
	"image"
	"io"
	"math"
	"strings"
	"sync"
	"time"

	"github.com/pion/mediadevices/pkg/codec"
	"github.com/pion/mediadevices/pkg/codec/opus"
	"github.com/pion/mediadevices/pkg/driver"
	"github.com/pion/mediadevices/pkg/io/audio"
	"github.com/pion/mediadevices/pkg/io/video"
	"github.com/pion/mediadevices/pkg/prop"
	"github.com/pion/mediadevices/pkg/wave"

	"github.com/quicast/quicast/protocol"
	"github.com/quicast/quicast/sender/internal/vp8enc"
)

// rawSource is a mediadevices driver adapter (driver.Adapter plus
// driver.VideoRecorder or driver.AudioRecorder) that also tells the media
// time of the last frame or chunk its reader returned.
type rawSource interface {
	driver.Adapter
	label() string
	mediaTime() time.Duration
}

// encodedTrack reads a raw source through a mediadevices encoder. The
// encoder pulls one raw frame per encoded frame, in the calling goroutine,
// so the source's last media time is the frame's; sound it pulls chunk by
// chunk until a packet is full, whose time is its first chunk's (times).
type encodedTrack struct {
	kind  Kind
	codec Codec
	src   rawSource
	enc   codec.ReadCloser
	kf    codec.KeyFrameController
	w, h  int
	times *chunkTimes // audio

	closeOnce sync.Once
}

func newEncodedTrack(src rawSource, kind Kind, o Options) (Track, error) {
	if err := src.Open(); err != nil {
		return nil, fmt.Errorf("open %s: %w", src.label(), err)
	}
	props := src.Properties()
	if len(props) == 0 {
		src.Close()
		return nil, fmt.Errorf("%s offers no format", src.label())
	}
	p := props[0]
	t := &encodedTrack{kind: kind, src: src}
	var err error
	switch kind {
	case KindVideo:
		rec, ok := src.(driver.VideoRecorder)
		if !ok {
			src.Close()
			return nil, fmt.Errorf("%s is not a video source", src.label())
		}
		var r video.Reader
		if r, err = rec.VideoRecord(p); err != nil {
			break
		}
		r = tapVideo(r, o)
		t.w, t.h = p.Width, p.Height
		switch strings.ToUpper(o.VideoCodec) {
		case "", "VP8":
			t.codec = codecVP8
			t.enc, err = vp8enc.New(r, vp8enc.Config{Width: p.Width, Height: p.Height, FPS: o.FPS,
				Bitrate: o.VideoBitrate, KeyInterval: o.KeyframeInterval})
		case "H264":
			t.codec = codecH264
			t.enc, err = NewH264Encoder(r, p.Width, p.Height, o)
		default:
			err = fmt.Errorf("unknown video codec %q (want VP8 or H264)", o.VideoCodec)
		}
	case KindAudio:
		rec, ok := src.(driver.AudioRecorder)
		if !ok {
			src.Close()
			return nil, fmt.Errorf("%s is not an audio source", src.label())
		}
		if p.ChannelCount == 0 || p.SampleRate == 0 {
			src.Close()
			return nil, fmt.Errorf("%s: unsupported format (%d channels at %d Hz)", src.label(), p.ChannelCount, p.SampleRate)
		}
		var r audio.Reader
		if r, err = rec.AudioRecord(p); err != nil {
			break
		}
		r = tapAudio(r, o)
		t.times = &chunkTimes{}
		r = t.times.wrap(r, src)
		var params opus.Params
		if params, err = opus.NewParams(); err != nil {
			break
		}
		params.BitRate = o.AudioBitrate
		// 10 ms frames: half the framing delay of the usual 20 ms, for
		// a few kbit/s more of headers.
		params.Latency = opus.Latency10ms
		t.codec = codecOpus
		t.enc, err = params.BuildAudioEncoder(r, prop.Media{Audio: prop.Audio{SampleRate: audioRate, ChannelCount: audioChannels}})
	}
	if err != nil {
		src.Close()
		return nil, fmt.Errorf("%s encoder for %s: %w", t.codec.Name, src.label(), err)
	}
	t.kf, _ = t.enc.Controller().(codec.KeyFrameController)
	return t, nil
}

// SkippedFrames counts the frames the source left out so as not to fall
// behind real time (the encoder was late).
func (t *encodedTrack) SkippedFrames() uint64 {
	if s, ok := t.src.(interface{ skippedFrames() uint64 }); ok {
		return s.skippedFrames()
	}
	return 0
}

func (t *encodedTrack) Kind() Kind                { return t.kind }
func (t *encodedTrack) Codec() Codec              { return t.codec }
func (t *encodedTrack) Size() (width, height int) { return t.w, t.h }

func (t *encodedTrack) RequestKeyFrame() {
	if t.kf != nil {
		_ = t.kf.ForceKeyFrame()
	}
}

// ReadFrame returns the next encoded frame; ctx is checked between frames
// (a read lasts at most one frame interval; Close ends it at once).
func (t *encodedTrack) ReadFrame(ctx context.Context) (Frame, error) {
	for {
		if err := ctx.Err(); err != nil {
			return Frame{}, err
		}
		data, release, err := t.enc.Read()
		if err != nil {
			if release != nil {
				release()
			}
			if errors.Is(err, io.EOF) {
				return Frame{}, io.EOF
			}
			return Frame{}, fmt.Errorf("%s: %w", t.src.label(), err)
		}
		f := Frame{Data: append([]byte(nil), data...), MediaTime: t.src.mediaTime()}
		if release != nil {
			release()
		}
		if t.times != nil && len(f.Data) > 0 {
			if n, err := protocol.OpusSamples(f.Data); err == nil {
				if at, ok := t.times.packet(time.Duration(n) * time.Second / audioRate); ok {
					f.MediaTime = at
				}
			}
		}
		if len(f.Data) == 0 {
			continue // the encoder dropped the frame (rate control)
		}
		switch t.codec {
		case codecVP8:
			f.Keyframe = f.Data[0]&0x01 == 0 // RFC 6386 §9.1: frame type bit 0 = key frame
			if e, ok := t.enc.(*vp8enc.Encoder); ok {
				f.NonReference = e.NonReference()
			}
		case codecH264:
			f.Keyframe = hasIDR(f.Data)
		}
		return f, nil
	}
}

func (t *encodedTrack) Close() error {
	var err error
	t.closeOnce.Do(func() {
		err = t.src.Close()
		if cerr := t.enc.Close(); err == nil {
			err = cerr
		}
	})
	return err
}

// tapVideo hands raw frames to o.Preview, at most one per
// o.PreviewInterval, and blanks them while o.Blank says so.
func tapVideo(r video.Reader, o Options) video.Reader {
	if o.Preview == nil && o.Blank == nil {
		return r
	}
	var last time.Time
	var black *image.YCbCr
	return video.ReaderFunc(func() (image.Image, func(), error) {
		img, release, err := r.Read()
		if err != nil || img == nil {
			return img, release, err
		}
		if o.Blank != nil && o.Blank.Load() {
			if black == nil || black.Rect != img.Bounds() {
				black = blackPicture(img.Bounds())
			}
			release()
			img, release = black, func() {}
		}
		if o.Preview != nil {
			if now := time.Now(); now.Sub(last) >= o.PreviewInterval {
				last = now
				o.Preview(img)
			}
		}
		return img, release, err
	})
}

// blackPicture is a black 4:2:0 picture of r (BT.601 limited range).
func blackPicture(r image.Rectangle) *image.YCbCr {
	p := image.NewYCbCr(r, image.YCbCrSubsampleRatio420)
	for i := range p.Y {
		p.Y[i] = 16
	}
	for i := range p.Cb {
		p.Cb[i], p.Cr[i] = 128, 128
	}
	return p
}

// tapAudio takes the echo out of each raw chunk (o.Echo), silences it
// while o.Muted says so, then hands its peak level to o.Level.
func tapAudio(r audio.Reader, o Options) audio.Reader {
	if o.Level == nil && o.Muted == nil && o.Echo == nil {
		return r
	}
	var scratch []int16
	return audio.ReaderFunc(func() (wave.Audio, func(), error) {
		chunk, release, err := r.Read()
		if err == nil && chunk != nil {
			if o.Echo != nil {
				scratch = cancelEcho(chunk, o.Echo, scratch)
			}
			if o.Muted != nil && o.Muted.Load() {
				silence(chunk)
			}
			if o.Level != nil {
				o.Level(PeakDBFS(chunk))
			}
		}
		return chunk, release, err
	})
}

// cancelEcho runs echo over chunk's samples, in place: 16-bit chunks as
// they are, float ones through scratch (returned, grown as needed).
func cancelEcho(chunk wave.Audio, echo func([]int16, int), scratch []int16) []int16 {
	info := chunk.ChunkInfo()
	switch a := chunk.(type) {
	case *wave.Int16Interleaved:
		echo(a.Data, info.Channels)
	case *wave.Float32Interleaved:
		if cap(scratch) < len(a.Data) {
			scratch = make([]int16, len(a.Data))
		}
		s := scratch[:len(a.Data)]
		for i, v := range a.Data {
			s[i] = int16(max(-1, min(1, v)) * 32767)
		}
		echo(s, info.Channels)
		for i, v := range s {
			a.Data[i] = float32(v) / 32768
		}
	}
	return scratch
}

// silence sets every sample of chunk to zero.
func silence(chunk wave.Audio) {
	info := chunk.ChunkInfo()
	switch a := chunk.(type) {
	case *wave.Float32Interleaved:
		clear(a.Data)
	case *wave.Int16Interleaved:
		clear(a.Data)
	case wave.EditableAudio:
		for i := range info.Len {
			for c := range info.Channels {
				a.Set(i, c, wave.Int16Sample(0))
			}
		}
	}
}

// PeakDBFS returns the peak sample of chunk in dBFS: 0 for full scale,
// -inf for silence.
func PeakDBFS(chunk wave.Audio) float64 {
	var peak float64
	info := chunk.ChunkInfo()
	n := info.Len * info.Channels
	switch a := chunk.(type) {
	case *wave.Float32Interleaved:
		for _, v := range a.Data[:n] {
			peak = math.Max(peak, math.Abs(float64(v)))
		}
	case *wave.Int16Interleaved:
		for _, v := range a.Data[:n] {
			peak = math.Max(peak, math.Abs(float64(v)/32768))
		}
	default:
		for i := range info.Len {
			for c := range info.Channels {
				v := float64(wave.Int16SampleFormat.Convert(chunk.At(i, c)).(wave.Int16Sample)) / 32768
				peak = math.Max(peak, math.Abs(v))
			}
		}
	}
	return 20 * math.Log10(peak)
}

// chunkTimes keeps the media time of each raw chunk the audio encoder
// pulls, so that each packet is stamped with the time of its first sample
// (Frame.MediaTime) whatever the source's chunks: a microphone delivering
// 20 ms periods gives two 10 ms packets per chunk, which its one stamp
// would give the same RTP timestamp; 5 ms periods, two chunks per packet,
// the later one's.
type chunkTimes struct {
	mu     sync.Mutex
	chunks []chunkTime   // pulled, not wholly in a packet yet
	used   time.Duration // of chunks[0], in packets already
}

type chunkTime struct{ at, dur time.Duration }

// wrap records each chunk r returns, with src's media time for it.
func (c *chunkTimes) wrap(r audio.Reader, src rawSource) audio.Reader {
	return audio.ReaderFunc(func() (wave.Audio, func(), error) {
		chunk, release, err := r.Read()
		if err == nil && chunk != nil {
			info := chunk.ChunkInfo()
			if info.SamplingRate > 0 {
				c.mu.Lock()
				c.chunks = append(c.chunks, chunkTime{src.mediaTime(), time.Duration(info.Len) * time.Second / time.Duration(info.SamplingRate)})
				c.mu.Unlock()
			}
		}
		return chunk, release, err
	})
}

// packet returns the media time of the next packet's first sample and
// counts its d of sound as used; false before any chunk.
func (c *chunkTimes) packet(d time.Duration) (time.Duration, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.chunks) == 0 {
		return 0, false
	}
	at := c.chunks[0].at + c.used
	for d > 0 && len(c.chunks) > 0 {
		left := c.chunks[0].dur - c.used
		if d < left {
			c.used += d
			break
		}
		d -= left
		c.chunks, c.used = c.chunks[1:], 0
	}
	if len(c.chunks) == 0 {
		c.chunks = nil // the backing array goes too
	}
	return at, true
}
