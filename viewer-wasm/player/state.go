package player

import (
	"strconv"
	"time"
)

// State is where a watch session is, as the page shows it and
// quicastStats().state reports it.
type State int

const (
	// Connecting: fetching the ticket and opening the WebTransport session
	// for the first time.
	Connecting State = iota
	// Waiting: connected, nothing to play yet (no broadcast, or its first
	// keyframe has not come).
	Waiting
	// Playing: video frames are shown or audio is heard, less than
	// StallAfter ago.
	Playing
	// Stalled: playing, then no media for StallAfter (the sender froze or
	// its network dropped); playing again as soon as media comes.
	Stalled
	// Reconnecting: the session was lost; the next attempt is at Next.
	Reconnecting
	// Ended: the broadcaster stopped; the session stays open and a new
	// broadcast on the stream plays by itself.
	Ended
	// Error: nothing more will happen (no such stream, not allowed, a
	// browser that cannot play).
	Error
)

var stateNames = [...]string{"connecting", "waiting", "playing", "stalled", "reconnecting", "ended", "error"}

func (s State) String() string {
	if int(s) < len(stateNames) {
		return stateNames[s]
	}
	return "state " + strconv.Itoa(int(s))
}

// StallAfter is how long a playing session may go without media before it
// counts as stalled.
const StallAfter = 1500 * time.Millisecond

// Status is a snapshot of the machine.
type Status struct {
	State  State
	Reason string // why: the end, the error, the lost session
	// Muted: the stream has audio but the browser does not play it yet
	// (autoplay rules); the page offers to unmute. Video plays meanwhile.
	Muted   bool
	Attempt int       // Reconnecting: the attempt at Next, from 1
	Next    time.Time // Reconnecting: when it starts
	Since   time.Time // when State began
	// LastMedia is when media last played (zero before any).
	LastMedia time.Time
	// Sessions counts WebTransport sessions opened; Broadcasts the
	// broadcasts (catalogs) seen, a new one each time the sender publishes
	// again.
	Sessions, Broadcasts int
}

// Machine is the watch page's state machine. It is driven by the player's
// events, each given the time it happened, and does no I/O; every
// transition is in the table of its tests. The zero value is Connecting.
type Machine struct {
	s        Status
	hasAudio bool
	audioOn  bool
}

// Status returns the current status.
func (m *Machine) Status() Status { return m.s }

func (m *Machine) set(s State, now time.Time) {
	if m.s.State != s {
		m.s.State, m.s.Since = s, now
	}
}

// Connected: a session is open (WebTransport ready, hello sent).
func (m *Machine) Connected(now time.Time) {
	if m.s.State == Error {
		return
	}
	m.s.Sessions++
	m.s.Attempt, m.s.Next, m.s.Reason = 0, time.Time{}, ""
	m.set(Waiting, now)
}

// Catalog: a broadcast started (or started again) with these tracks.
// Whatever played before belongs to the previous broadcast.
func (m *Machine) Catalog(hasVideo, hasAudio bool, now time.Time) {
	if m.s.State == Error {
		return
	}
	m.s.Broadcasts++
	m.hasAudio = hasAudio
	m.s.Muted = hasAudio && !m.audioOn
	m.s.Reason, m.s.LastMedia = "", time.Time{}
	m.set(Waiting, now)
}

// Media: a video frame was shown or audio samples were played.
func (m *Machine) Media(now time.Time) {
	switch m.s.State {
	case Waiting, Playing, Stalled:
		m.s.LastMedia = now
		m.set(Playing, now)
	}
}

// Audio tells whether the browser plays audio now (the AudioContext is
// running); a stream with audio that the browser does not play is muted.
func (m *Machine) Audio(running bool) {
	m.audioOn = running
	m.s.Muted = m.hasAudio && !running
}

// Tick lets time pass: a playing session without media for StallAfter is
// stalled.
func (m *Machine) Tick(now time.Time) {
	if m.s.State == Playing && now.Sub(m.s.LastMedia) >= StallAfter {
		m.set(Stalled, now)
	}
}

// Ended: the relay says the broadcaster stopped.
func (m *Machine) Ended(reason string, now time.Time) {
	switch m.s.State {
	case Waiting, Playing, Stalled:
		m.s.Reason = reason
		m.set(Ended, now)
	}
}

// Lost: the session closed or could not open; attempt (from 1) starts at
// next.
func (m *Machine) Lost(reason string, attempt int, next, now time.Time) {
	if m.s.State == Error {
		return
	}
	m.s.Reason, m.s.Attempt, m.s.Next = reason, attempt, next
	m.set(Reconnecting, now)
}

// Fail: nothing more can be done.
func (m *Machine) Fail(reason string, now time.Time) {
	m.s.Reason = reason
	m.set(Error, now)
}

// Text is what the page's status line says in state s at now; "" while
// playing (the LIVE badge says it).
func (s Status) Text(now time.Time) string {
	switch s.State {
	case Connecting:
		return "Connecting…"
	case Waiting:
		return "Waiting for the broadcast to start…"
	case Playing:
		return ""
	case Stalled:
		return "Stalled: nothing received for " + strconv.Itoa(int(now.Sub(s.LastMedia).Seconds())) +
			" s — waiting for the broadcaster…"
	case Reconnecting:
		in := max(0, s.Next.Sub(now).Seconds())
		return "Reconnecting (attempt " + strconv.Itoa(s.Attempt) + ", next in " +
			strconv.FormatFloat(in, 'f', 0, 64) + " s)… " + s.Reason
	case Ended:
		return "Broadcast ended: " + s.Reason + ". It plays here again when the broadcaster is back."
	case Error:
		return "Error: " + s.Reason
	}
	return s.State.String()
}
