package player

import (
	"strconv"
	"time"
)

// LinkMeter is a sending side's network figures: the bitrate it sent over
// the last interval (Sample, about once a second), and the loss and
// round-trip time the receiver's reception reports tell (RFC 3550 §6.4.1,
// set by the caller). NewLinkMeter makes one with no figures yet.
type LinkMeter struct {
	at    time.Time
	bytes int64

	Kbps    float64       // media sent, kbit/s, over the last interval
	Known   bool          // Kbps is (two samples taken)
	LossPct float64       // of the packets sent, lost since the previous report, %; −1 unknown
	RTT     time.Duration // 0 unknown
}

// NewLinkMeter returns a meter with no figures.
func NewLinkMeter() LinkMeter { return LinkMeter{LossPct: -1} }

// Sample records the media bytes sent so far, at now. Bytes that went
// back (counters started over) start the interval over.
func (m *LinkMeter) Sample(now time.Time, bytes int64) {
	if !m.at.IsZero() && bytes >= m.bytes {
		if d := now.Sub(m.at); d > 0 {
			m.Kbps, m.Known = float64(bytes-m.bytes)*8/d.Seconds()/1000, true
		}
	}
	m.at, m.bytes = now, bytes
}

// CallStatus is what a call's status line says while in it: msg, how long
// the call has lasted (m:ss, h:mm:ss from an hour), and the link's figures
// that are known.
func CallStatus(msg string, lasted time.Duration, m LinkMeter) string {
	s := int(lasted / time.Second)
	two := func(n int) string { return string(rune('0'+n/10)) + string(rune('0'+n%10)) }
	line := msg + " · "
	if s >= 3600 {
		line += strconv.Itoa(s/3600) + ":" + two(s/60%60) + ":" + two(s%60)
	} else {
		line += strconv.Itoa(s/60) + ":" + two(s%60)
	}
	if m.Known {
		line += " · " + strconv.FormatFloat(m.Kbps, 'f', 0, 64) + " kbit/s sent"
	}
	if m.RTT > 0 {
		line += " · RTT " + strconv.FormatInt(max(1, m.RTT.Milliseconds()), 10) + " ms"
	}
	if m.LossPct >= 0 {
		line += " · " + strconv.FormatFloat(m.LossPct, 'f', 1, 64) + " % lost"
	}
	return line
}
