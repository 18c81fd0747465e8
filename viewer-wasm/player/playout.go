package player

import "time"

// PlayoutTarget decides how much audio the playout buffer holds: enough to
// ride out the network's jitter, no more, since video waits for audio and
// every millisecond there is a millisecond of glass-to-glass latency.
//
// The target is Min plus three times the interarrival jitter estimate
// (RFC 3550 §6.4.1; three deviations cover nearly all arrivals), plus a
// margin that grows by Step after each underrun and gives back Step after
// every Calm without one, all within [Min, Max]. Underruns in the Settle
// after Start (the first packets of a broadcast come with the decoders'
// start-up) do not count.
type PlayoutTarget struct {
	Min, Max time.Duration // zero: 30 ms (a 20 ms Opus packet and scheduling), 300 ms
	Step     time.Duration // zero: 10 ms
	Calm     time.Duration // zero: 5 s
	Settle   time.Duration // zero: 2 s

	margin    time.Duration
	underruns int
	since     time.Time // of the last underrun or margin decrease
	start     time.Time
}

// Start begins a broadcast at now: the margin goes, start-up underruns are
// forgiven.
func (p *PlayoutTarget) Start(now time.Time) {
	p.margin, p.start, p.since = 0, now, now
}

func (p *PlayoutTarget) defaults() (minD, maxD, step, calm time.Duration) {
	minD, maxD, step, calm = p.Min, p.Max, p.Step, p.Calm
	if minD <= 0 {
		minD = 30 * time.Millisecond
	}
	if maxD <= 0 {
		maxD = 300 * time.Millisecond
	}
	if step <= 0 {
		step = 10 * time.Millisecond
	}
	if calm <= 0 {
		calm = 5 * time.Second
	}
	return
}

// Update returns the target at now, given the jitter estimate and the
// playout buffer's underrun count so far (it only grows).
func (p *PlayoutTarget) Update(now time.Time, jitter time.Duration, underruns int) time.Duration {
	minD, maxD, step, calm := p.defaults()
	settle := p.Settle
	if settle <= 0 {
		settle = 2 * time.Second
	}
	switch {
	case underruns > p.underruns && now.Sub(p.start) < settle:
		// start-up: not the network's doing
	case underruns > p.underruns:
		p.margin += time.Duration(underruns-p.underruns) * step
		p.margin = min(p.margin, maxD)
		p.since = now
	case p.margin > 0 && now.Sub(p.since) >= calm:
		p.margin = max(0, p.margin-step)
		p.since = now
	}
	p.underruns = underruns
	return min(max(minD+3*jitter+p.margin, minD), maxD)
}
