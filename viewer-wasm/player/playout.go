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
//
// Lip-sync needs the audio to be as late as the video: when video frames
// come after the audio has passed their time (the relay held them back
// while it had a lost packet resent, a slow decoder), the target grows by
// as much (sync), and gives it back slowly once frames come early again.
// Audio never waits for a particular frame; it plays as late as video
// usually is.
type PlayoutTarget struct {
	Min, Max time.Duration // zero: 30 ms (a 20 ms Opus packet and scheduling), 300 ms
	Step     time.Duration // zero: 10 ms
	Calm     time.Duration // zero: 5 s
	Settle   time.Duration // zero: 2 s

	margin    time.Duration
	sync      time.Duration // added for video that comes late
	syncSince time.Time     // of the last sync decrease
	underruns int
	since     time.Time // of the last underrun or margin decrease
	start     time.Time
}

// Start begins a broadcast at now: the margin goes, start-up underruns are
// forgiven.
func (p *PlayoutTarget) Start(now time.Time) {
	p.margin, p.sync, p.start, p.since, p.syncSince = 0, 0, now, now, now
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

// The sync term changes at most once per syncEvery (the playout buffer
// takes that long to follow, played slightly slower or faster): by the
// lateness of frames later than syncLate, at most syncStep; by Step back
// when frames come earlier than syncEarly.
const (
	syncLate  = 5 * time.Millisecond
	syncEarly = -15 * time.Millisecond
	syncStep  = 20 * time.Millisecond
	syncEvery = time.Second
)

// Update returns the target at now, given the jitter estimate, the
// playout buffer's underrun count so far (it only grows) and how late
// video frames come against the audio (a high percentile; negative:
// early).
func (p *PlayoutTarget) Update(now time.Time, jitter time.Duration, underruns int, videoLate time.Duration) time.Duration {
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
	switch {
	case now.Sub(p.syncSince) < syncEvery:
	case videoLate > syncLate:
		p.sync = min(p.sync+min(videoLate, syncStep), maxD)
		p.syncSince = now
	case videoLate < syncEarly && p.sync > 0:
		p.sync = max(0, p.sync-min(syncEarly-videoLate, step))
		p.syncSince = now
	}
	return min(max(minD+3*jitter+p.margin+p.sync, minD), maxD)
}

// Margin returns the target's terms besides Min and the jitter: the
// underruns' margin and the video's sync term.
func (p *PlayoutTarget) Margin() (underruns, sync time.Duration) { return p.margin, p.sync }

// Lateness keeps how late the last video frames came against the audio
// clock (decoded at − when the audio reached the frame's time; negative:
// early) and gives a high percentile of it for PlayoutTarget.Update: the
// 95th, so that only one frame in twenty may come later than its sound. The
// zero value holds 120 frames (4 s at 30 fps).
type Lateness struct {
	r ring[time.Duration]
}

// Add records one frame's lateness.
func (l *Lateness) Add(d time.Duration) { l.r.add(d, 120) }

// Reset forgets the frames (a new broadcast).
func (l *Lateness) Reset() { l.r.reset() }

// P95 returns the 95th percentile, and a large negative duration (early)
// before any frame.
func (l *Lateness) P95() time.Duration {
	if len(l.r.all) == 0 {
		return -time.Hour
	}
	return percentile(append([]time.Duration(nil), l.r.all...), 95)
}
