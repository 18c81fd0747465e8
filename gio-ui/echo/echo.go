// Package echo takes a call's far end out of the microphone: acoustic echo
// cancellation with speexdsp's MDF adaptive filter (multidelay block
// frequency-domain, Soo & Pang 1990, as speexdsp implements it) followed by
// its residual echo suppressor, through cgo.
//
// With a loudspeaker, the other side's voice comes out, goes into this
// side's microphone and goes back to them a few hundred milliseconds late:
// they hear themselves. The canceller learns the path from what the
// speaker played (Played) to what the microphone hears and subtracts its
// estimate from each captured frame (Capture); the suppressor then takes
// out what echo is left and the microphone's steady noise, as a browser's
// getUserMedia does with echoCancellation and noiseSuppression.
package echo

/*
#cgo pkg-config: speexdsp
#include <speex/speex_echo.h>
#include <speex/speex_preprocess.h>

static int echo_set_rate(SpeexEchoState *st, int rate) {
	return speex_echo_ctl(st, SPEEX_ECHO_SET_SAMPLING_RATE, &rate);
}

static int pp_set_int(SpeexPreprocessState *pp, int req, int v) {
	return speex_preprocess_ctl(pp, req, &v);
}

static int pp_set_echo(SpeexPreprocessState *pp, SpeexEchoState *st) {
	return speex_preprocess_ctl(pp, SPEEX_PREPROCESS_SET_ECHO_STATE, st);
}
*/
import "C"

import (
	"errors"
	"sync"
	"time"
	"unsafe"
)

// Sound format the canceller works at: the call's (48 kHz, Opus's), one
// channel — stereo input is mixed down, the result written to every
// channel.
const (
	SampleRate = 48000 // Hz
	Frame      = SampleRate / 100
	frameTime  = 10 * time.Millisecond
)

// Tail is how long an echo the filter models by default: the speaker's
// and the microphone's buffers plus a room's reverberation.
const Tail = 200 * time.Millisecond

// maxLead is how many frames of the speaker's sound may wait for the
// microphone's: more would pair a captured frame with sound played after
// its echo was heard, which no causal filter cancels; the oldest is
// dropped instead (the two devices' clocks drift, their callbacks come in
// bursts).
const maxLead = 2

// Canceller is one call's echo canceller. Played and Capture may be
// called from different goroutines (the speaker's and the microphone's
// audio callbacks).
type Canceller struct {
	mu    sync.Mutex
	st    *C.SpeexEchoState
	pp    *C.SpeexPreprocessState
	far   []int16 // the speaker's sound not yet paired with a captured frame, mono
	near  []int16 // captured, waiting for a whole frame, mono
	out   []int16 // processed, waiting to be handed back, mono
	frame []int16 // scratch: one far frame
	res   []int16 // scratch: one processed frame
	stats Stats
}

// Stats count what the canceller did, in 10 ms frames.
type Stats struct {
	Frames     uint64 // captured frames processed
	FarDropped uint64 // the speaker's frames dropped: it ran ahead of the microphone
	FarMissing uint64 // captured frames with no speaker sound to pair: silence assumed
	// Sum of squared samples captured, and of the same frames after
	// cancellation: while only the far end talks, their ratio is the echo
	// return loss enhancement (ERLE).
	NearEnergy, OutputEnergy float64
}

// New returns a canceller modelling echoes up to tail long (0: Tail).
func New(tail time.Duration) (*Canceller, error) {
	if tail <= 0 {
		tail = Tail
	}
	taps := int(tail / frameTime * Frame)
	st := C.speex_echo_state_init(C.int(Frame), C.int(taps))
	if st == nil {
		return nil, errors.New("echo: speexdsp could not create an echo canceller")
	}
	C.echo_set_rate(st, C.int(SampleRate))
	pp := C.speex_preprocess_state_init(C.int(Frame), C.int(SampleRate))
	if pp == nil {
		C.speex_echo_state_destroy(st)
		return nil, errors.New("echo: speexdsp could not create a preprocessor")
	}
	// Residual echo and noise suppression; the level is left as it is.
	C.pp_set_int(pp, C.SPEEX_PREPROCESS_SET_DENOISE, 1)
	C.pp_set_int(pp, C.SPEEX_PREPROCESS_SET_AGC, 0)
	C.pp_set_int(pp, C.SPEEX_PREPROCESS_SET_DEREVERB, 0)
	C.pp_set_echo(pp, st)
	return &Canceller{st: st, pp: pp, frame: make([]int16, Frame), res: make([]int16, Frame)}, nil
}

// Close frees the canceller; later calls pass the sound through.
func (c *Canceller) Close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.st == nil {
		return
	}
	C.speex_preprocess_state_destroy(c.pp)
	C.speex_echo_state_destroy(c.st)
	c.st, c.pp = nil, nil
}

// Played tells the canceller what was just handed to the speaker:
// interleaved 16-bit sound at SampleRate with the given channels.
func (c *Canceller) Played(pcm []int16, channels int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.far = appendMono(c.far, pcm, channels)
	if over := len(c.far) - maxLead*Frame; over > 0 {
		n := (over + Frame - 1) / Frame * Frame
		c.far = c.far[:copy(c.far, c.far[n:])]
		c.stats.FarDropped += uint64(n / Frame)
	}
}

// Capture takes the echo out of pcm, the microphone's interleaved 16-bit
// sound at SampleRate with the given channels, in place. The sound comes
// back one frame (10 ms) late — the suppressor's overlap — and up to one
// more when the microphone's chunks are not whole 10 ms frames (sound that
// does not fill one waits for the next call).
func (c *Canceller) Capture(pcm []int16, channels int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.st == nil {
		return
	}
	c.near = appendMono(c.near, pcm, channels)
	for len(c.near) >= Frame {
		in := c.near[:Frame]
		far := c.frame
		if len(c.far) >= Frame {
			copy(far, c.far[:Frame])
			c.far = c.far[:copy(c.far, c.far[Frame:])]
		} else {
			clear(far)
			c.stats.FarMissing++
		}
		C.speex_echo_cancellation(c.st, (*C.spx_int16_t)(unsafe.Pointer(&in[0])),
			(*C.spx_int16_t)(unsafe.Pointer(&far[0])), (*C.spx_int16_t)(unsafe.Pointer(&c.res[0])))
		C.speex_preprocess_run(c.pp, (*C.spx_int16_t)(unsafe.Pointer(&c.res[0])))
		c.stats.Frames++
		c.stats.NearEnergy += energy(in)
		c.stats.OutputEnergy += energy(c.res)
		c.out = append(c.out, c.res...)
		c.near = c.near[:copy(c.near, c.near[Frame:])]
	}
	// Hand back what is processed; silence while the first frame fills.
	n := len(pcm) / channels
	lead := max(0, n-len(c.out))
	for i := range n {
		v := int16(0)
		if i >= lead {
			v = c.out[i-lead]
		}
		for ch := range channels {
			pcm[i*channels+ch] = v
		}
	}
	used := n - lead
	c.out = c.out[:copy(c.out, c.out[used:])]
}

// Stats returns the counters so far.
func (c *Canceller) Stats() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stats
}

// appendMono appends interleaved pcm, mixed down to one channel.
func appendMono(dst, pcm []int16, channels int) []int16 {
	if channels <= 1 {
		return append(dst, pcm...)
	}
	for i := 0; i+channels <= len(pcm); i += channels {
		s := 0
		for _, v := range pcm[i : i+channels] {
			s += int(v)
		}
		dst = append(dst, int16(s/channels))
	}
	return dst
}

func energy(pcm []int16) float64 {
	e := 0.0
	for _, v := range pcm {
		e += float64(v) * float64(v)
	}
	return e
}
