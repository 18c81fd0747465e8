package player

import (
	"fmt"
	"time"
)

// LinkMeter is a sending side's network figures, from samples of its
// counters taken about once a second: the bitrate it sent and the share of
// its QUIC packets lost over the last interval, and the connection's
// smoothed round-trip time (RFC 9002 §5.3) as its QUIC stack reports it
// (W3C WebTransport getStats). The zero value has no figures yet.
type LinkMeter struct {
	at                time.Time
	bytes, sent, lost int64

	Kbps    float64       // media sent, kbit/s, over the last interval
	LossPct float64       // QUIC packets lost of those sent over the last interval, %; −1 unknown
	RTT     time.Duration // 0 unknown
	Known   bool          // Kbps and LossPct are (two samples taken)
}

// Sample records, at now, the media bytes sent so far, the QUIC packets
// sent and lost so far (both −1 when the browser does not tell) and the
// smoothed RTT (0 unknown). Counters that went back (a new session)
// start the interval over.
func (m *LinkMeter) Sample(now time.Time, bytes, packetsSent, packetsLost int64, rtt time.Duration) {
	m.RTT = rtt
	if !m.at.IsZero() && bytes >= m.bytes {
		if d := now.Sub(m.at); d > 0 {
			m.Kbps = float64(bytes-m.bytes) * 8 / d.Seconds() / 1000
			m.LossPct = -1
			if ds := packetsSent - m.sent; packetsSent >= 0 && ds > 0 && packetsLost >= m.lost {
				m.LossPct = 100 * float64(packetsLost-m.lost) / float64(ds)
			}
			m.Known = true
		}
	}
	m.at, m.bytes, m.sent, m.lost = now, bytes, packetsSent, packetsLost
}

// CallStatus is what a call's status line says while in it: msg, how long
// the call has lasted (m:ss, h:mm:ss from an hour), and the link's figures
// once known.
func CallStatus(msg string, lasted time.Duration, m LinkMeter) string {
	s := int(lasted / time.Second)
	line := fmt.Sprintf("%s · %d:%02d", msg, s/60, s%60)
	if s >= 3600 {
		line = fmt.Sprintf("%s · %d:%02d:%02d", msg, s/3600, s/60%60, s%60)
	}
	if !m.Known {
		return line
	}
	line += fmt.Sprintf(" · %.0f kbit/s sent", m.Kbps)
	if m.RTT > 0 {
		line += fmt.Sprintf(" · RTT %d ms", max(1, m.RTT.Milliseconds()))
	}
	if m.LossPct >= 0 {
		line += fmt.Sprintf(" · %.1f %% lost", m.LossPct)
	}
	return line
}
