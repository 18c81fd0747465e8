package echo

import (
	"math"
	"math/rand/v2"
	"testing"
)

// speech is a speech-like test signal: noise shaped by a slowly changing
// loudness (syllables of 150–300 ms with pauses), at most about -10 dBFS.
func speech(seed uint64, n int) []int16 {
	r := rand.New(rand.NewPCG(seed, seed+1))
	out := make([]int16, n)
	env, target := 0.0, 0.0
	left := 0
	lp := 0.0
	for i := range out {
		if left == 0 {
			left = SampleRate * (150 + r.IntN(150)) / 1000
			target = 0
			if r.IntN(4) != 0 {
				target = 0.3 + 0.7*r.Float64()
			}
		}
		left--
		env += (target - env) * 0.002
		lp += (r.NormFloat64() - lp) * 0.3 // a little low-pass: more voice than hiss
		out[i] = int16(max(-32768, min(32767, lp*env*6000)))
	}
	return out
}

// room is the echo path from the speaker to the microphone: 25 ms of
// buffers and air, then the direct sound at half the level and two
// reflections.
func room(far []int16) []int16 {
	taps := []struct {
		delay int
		gain  float64
	}{{SampleRate * 25 / 1000, 0.5}, {SampleRate * 32 / 1000, 0.2}, {SampleRate * 51 / 1000, -0.1}}
	out := make([]int16, len(far))
	for i := range out {
		v := 0.0
		for _, t := range taps {
			if j := i - t.delay; j >= 0 {
				v += float64(far[j]) * t.gain
			}
		}
		out[i] = int16(v)
	}
	return out
}

func energyDB(pcm []int16) float64 { return 10 * math.Log10(energy(pcm)/float64(len(pcm))+1e-9) }

// runCall plays far on the speaker and captures mic in chunks of chunk
// samples (mono), the speaker a chunk ahead as a sound card's buffer is;
// it returns what the canceller handed back.
func runCall(t *testing.T, c *Canceller, far, mic []int16, chunk int) []int16 {
	t.Helper()
	out := make([]int16, 0, len(mic))
	buf := make([]int16, chunk)
	for i := 0; i+chunk <= len(mic); i += chunk {
		c.Played(far[i:i+chunk], 1)
		copy(buf, mic[i:i+chunk])
		c.Capture(buf, 1)
		out = append(out, buf...)
	}
	return out
}

// With only the far end talking, the canceller learns the room and takes
// most of the echo out: the echo return loss enhancement (ERLE) over the
// last 4 s of 10 s.
func TestCancelsEcho(t *testing.T) {
	c, err := New(0)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	far := speech(1, 10*SampleRate)
	mic := room(far)
	out := runCall(t, c, far, mic, Frame)
	from := 6 * SampleRate
	erle := energyDB(mic[from:]) - energyDB(out[from:])
	t.Logf("echo %.1f dB, after cancelling %.1f dB: ERLE %.1f dB; %+v", energyDB(mic[from:]), energyDB(out[from:]), erle, c.Stats())
	if erle < 20 {
		t.Errorf("ERLE %.1f dB, want at least 20 dB", erle)
	}
	if s := c.Stats(); s.Frames != uint64(len(mic)/Frame) || s.FarDropped != 0 || s.FarMissing != 0 {
		t.Errorf("stats %+v", s)
	}
}

// When both talk, this side's voice goes through: the near-end speech
// keeps most of its level while the echo under it is taken out.
func TestKeepsNearTalk(t *testing.T) {
	c, err := New(0)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	far := speech(1, 12*SampleRate)
	echo := room(far)
	near := speech(7, 12*SampleRate)
	mic := make([]int16, len(far))
	for i := range mic {
		v := int(echo[i])
		if i >= 6*SampleRate { // this side starts talking once the filter has learnt
			v += int(near[i])
		}
		mic[i] = int16(max(-32768, min(32767, v)))
	}
	out := runCall(t, c, far, mic, Frame)
	from := 8 * SampleRate
	// What is left of the echo, and of this side's voice: the output's
	// projection on each, at the canceller's own delay.
	keptNear, lag := gain(out, near, from)
	keptEcho, _ := gain(out, echo, from)
	t.Logf("near voice through at %.1f dB (%d samples late), echo at %.1f dB", keptNear, lag, keptEcho)
	if keptNear < -6 {
		t.Errorf("near voice at %.1f dB: the canceller eats this side's voice", keptNear)
	}
	if keptEcho > -15 {
		t.Errorf("echo at %.1f dB during double talk, want below -15 dB", keptEcho)
	}
}

// gain is how much of sig is in out from sample from on, in dB, at the
// lag (0 to two frames) where most of it is, and that lag.
func gain(out, sig []int16, from int) (db float64, lag int) {
	best := 0.0
	for l := 0; l <= 2*Frame; l++ {
		var os, ss float64
		for i := from; i+l < len(out); i++ {
			os += float64(out[i+l]) * float64(sig[i])
			ss += float64(sig[i]) * float64(sig[i])
		}
		if g := math.Abs(os) / ss; g > best {
			best, lag = g, l
		}
	}
	return 20 * math.Log10(best+1e-9), lag
}

// The microphone's chunks need not be whole frames: the sound comes back
// in order and whole, late by the suppressor's frame and less than a frame
// of waiting; stereo is mixed down and written to both channels.
func TestChunksAndChannels(t *testing.T) {
	c, err := New(0)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	const chunk = 720 // 15 ms
	voice := speech(3, 4*SampleRate)
	var got []int16
	for i := 0; i+chunk <= len(voice); i += chunk {
		buf := make([]int16, 2*chunk)
		for j, v := range voice[i : i+chunk] {
			buf[2*j], buf[2*j+1] = v+100, v-100 // the mix-down is v
		}
		c.Capture(buf, 2)
		got = append(got, buf...)
	}
	mono := make([]int16, len(got)/2)
	for i := range mono {
		if got[2*i] != got[2*i+1] {
			t.Fatalf("channels differ at %d: %d %d", i, got[2*i], got[2*i+1])
		}
		mono[i] = got[2*i]
	}
	// With no far end the voice goes through.
	db, lag := gain(mono, voice, SampleRate)
	t.Logf("through at %.1f dB, %d samples late", db, lag)
	if db < -3 || lag >= 2*Frame {
		t.Errorf("through at %.1f dB, %d samples late: want above -3 dB, under %d late", db, lag, 2*Frame)
	}

	// A speaker running ahead: its oldest sound goes, counted.
	c.Played(make([]int16, 10*Frame), 1)
	if s := c.Stats(); s.FarDropped != 8 {
		t.Errorf("%d far frames dropped, want 8", s.FarDropped)
	}
}

// BenchmarkCapture: the canceller's cost per 10 ms frame at 48 kHz with
// the default tail; a real-time share of one core is ns/op ÷ 10 ms.
func BenchmarkCapture(b *testing.B) {
	c, err := New(0)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	far := speech(1, SampleRate)
	mic := room(far)
	buf := make([]int16, Frame)
	i := 0
	for b.Loop() {
		if i+Frame > len(far) {
			i = 0
		}
		c.Played(far[i:i+Frame], 1)
		copy(buf, mic[i:i+Frame])
		c.Capture(buf, 1)
		i += Frame
	}
	b.ReportMetric(float64(b.Elapsed())/float64(b.N)/float64(frameTime)*100, "%-of-a-core")
}
