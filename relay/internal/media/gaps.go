package media

import (
	"sync/atomic"
	"time"
)

// maxAudioGap is the longest pause counted as a gap in a stream's audio:
// a longer one is a publisher gone and back (a restart, a reconnection),
// not a stall on the way.
const maxAudioGap = 2 * time.Second

// gapCounters count the gaps in a flow of audio packets that should come
// every 10-20 ms: over 50 ms and over 100 ms (Stats.AudioGapsIn50 …).
type gapCounters struct {
	over50, over100 atomic.Uint64
}

// add records a packet at now, *last being when the one before came (zero:
// none yet), and sets *last to now. *last belongs to the caller (a
// stream's lock, a viewer's audio loop).
func (g *gapCounters) add(last *time.Time, now time.Time) {
	if !last.IsZero() {
		switch gap := now.Sub(*last); {
		case gap > maxAudioGap:
		case gap > 100*time.Millisecond:
			g.over100.Add(1)
			g.over50.Add(1)
		case gap > 50*time.Millisecond:
			g.over50.Add(1)
		}
	}
	*last = now
}
