package player

import (
	"testing"
	"time"
)

func TestPlayoutTarget(t *testing.T) {
	p := PlayoutTarget{Step: 20 * time.Millisecond, Calm: 10 * time.Second}
	p.Start(t0.Add(-time.Hour))
	ms := time.Millisecond
	steps := []struct {
		at        int // ms
		jitter    time.Duration
		underruns int
		want      time.Duration
	}{
		{0, 0, 0, 30 * ms},             // a quiet LAN: the floor
		{1000, 5 * ms, 0, 45 * ms},     // 3 × jitter on top
		{2000, 5 * ms, 1, 65 * ms},     // an underrun: 20 ms more
		{2500, 5 * ms, 3, 105 * ms},    // two more
		{12000, 5 * ms, 3, 105 * ms},   // 9.5 s calm: not yet
		{12500, 5 * ms, 3, 85 * ms},    // 10 s calm: 20 ms back
		{22500, 5 * ms, 3, 65 * ms},    // and again
		{42500, 5 * ms, 3, 45 * ms},    // back to what the jitter asks
		{43000, 200 * ms, 3, 300 * ms}, // never more than Max
		{43500, 0, 100, 300 * ms},      // nor with many underruns
	}
	for _, s := range steps {
		if got := p.Update(t0.Add(time.Duration(s.at)*ms), s.jitter, s.underruns, -time.Hour); got != s.want {
			t.Errorf("at %d ms (jitter %v, %d underruns): %v, want %v", s.at, s.jitter, s.underruns, got, s.want)
		}
	}
}

// Underruns while a broadcast starts are the decoders' start-up, not the
// network's: they do not raise the target.
func TestPlayoutTargetSettles(t *testing.T) {
	var p PlayoutTarget
	p.Start(t0)
	ms := time.Millisecond
	if got := p.Update(t0.Add(500*ms), 0, 2, -time.Hour); got != 30*ms {
		t.Errorf("start-up underruns: %v, want 30 ms", got)
	}
	if got := p.Update(t0.Add(3000*ms), 0, 3, -time.Hour); got != 40*ms {
		t.Errorf("an underrun later: %v, want 40 ms (10 ms step)", got)
	}
	if got := p.Update(t0.Add(8000*ms), 0, 3, -time.Hour); got != 30*ms {
		t.Errorf("5 s calm: %v, want 30 ms", got)
	}
	p.Start(t0.Add(9000 * ms)) // a new broadcast
	if got := p.Update(t0.Add(9500*ms), 0, 9, -time.Hour); got != 30*ms {
		t.Errorf("a new broadcast's start-up: %v, want 30 ms", got)
	}
}

// Video that comes late makes the audio wait as long; video that comes
// early again lets it give the wait back, slowly.
func TestPlayoutTargetFollowsLateVideo(t *testing.T) {
	ms := time.Millisecond
	t0 := time.Unix(1000, 0)
	var p PlayoutTarget
	p.Start(t0)
	if got := p.Update(t0.Add(3000*ms), 0, 0, 2*ms); got != 30*ms {
		t.Errorf("frames 2 ms late: %v, want 30 ms (not worth it)", got)
	}
	if got := p.Update(t0.Add(3250*ms), 0, 0, 45*ms); got != 50*ms {
		t.Errorf("frames 45 ms late: %v, want 50 ms (20 ms per step)", got)
	}
	if got := p.Update(t0.Add(3500*ms), 0, 0, 25*ms); got != 50*ms {
		t.Errorf("late again 0.25 s later: %v, want 50 ms (one step a second)", got)
	}
	if got := p.Update(t0.Add(4250*ms), 0, 0, 6*ms); got != 56*ms {
		t.Errorf("still late a second later: %v, want 56 ms", got)
	}
	if got := p.Update(t0.Add(5250*ms), 0, 0, -5*ms); got != 56*ms {
		t.Errorf("frames just early: %v, want the wait kept", got)
	}
	if got := p.Update(t0.Add(5500*ms), 0, 0, -40*ms); got != 46*ms {
		t.Errorf("frames 40 ms early: %v, want 10 ms given back", got)
	}
	if got := p.Update(t0.Add(5750*ms), 0, 0, -40*ms); got != 46*ms {
		t.Errorf("early again 0.25 s later: %v, want 46 ms", got)
	}
	p.Start(t0.Add(10 * time.Second))
	if got := p.Update(t0.Add(10250*ms), 0, 0, -time.Hour); got != 30*ms {
		t.Errorf("a new broadcast: %v, want 30 ms", got)
	}
}

func TestLateness(t *testing.T) {
	var l Lateness
	if l.P95() >= 0 {
		t.Error("no frames: want early")
	}
	for i := range 200 {
		l.Add(time.Duration(i) * time.Millisecond) // the last 120: 80..199 ms
	}
	if got := l.P95(); got != 193*time.Millisecond {
		t.Errorf("P95 = %v, want 193ms", got)
	}
}
