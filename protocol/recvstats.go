package protocol

import "time"

// Jitter is the interarrival jitter estimator of RFC 3550 §6.4.1 (the code
// of Appendix A.8): the smoothed mean deviation of the difference in
// transit time of consecutive packets, in RTP timestamp units. A jump of
// more than a second (a new source, a wrap) is left out.
//
// The zero value needs ClockRate set before the first Update.
type Jitter struct {
	ClockRate   uint32 // Hz
	jitter      float64
	base        time.Time
	lastTransit float64
	have        bool
}

// Update takes a packet with RTP timestamp ts that arrived at arrival.
func (j *Jitter) Update(arrival time.Time, ts uint32) {
	if j.base.IsZero() {
		j.base = arrival
	}
	// D(i-1,i) = (Rj - Ri) - (Sj - Si), with R and S in timestamp units.
	transit := arrival.Sub(j.base).Seconds()*float64(j.ClockRate) - float64(ts)
	if j.have {
		d := transit - j.lastTransit
		if d < 0 {
			d = -d
		}
		if d < float64(j.ClockRate) {
			j.jitter += (d - j.jitter) / 16
		}
	}
	j.lastTransit, j.have = transit, true
}

// Units returns the estimate in RTP timestamp units (a reception report's
// interarrival jitter field).
func (j *Jitter) Units() uint32 { return uint32(j.jitter) }

// Duration returns the estimate as a duration.
func (j *Jitter) Duration() time.Duration {
	if j.ClockRate == 0 {
		return 0
	}
	return time.Duration(j.jitter / float64(j.ClockRate) * float64(time.Second))
}

// ReceiverStats are the receive statistics of one RTP source that an RTCP
// reception report block carries (RFC 3550 §6.4.1): the extended highest
// sequence number (Appendix A.1), cumulative and fractional loss (A.3), the
// interarrival jitter (A.8), and LSR/DLSR for the sender's round-trip time.
// The zero value needs Jitter.ClockRate set.
type ReceiverStats struct {
	Jitter Jitter

	started         bool
	baseSeq, maxSeq uint16
	cycles          uint32
	received        uint32
	expectedPrior   uint32
	receivedPrior   uint32
	lastSR          uint32    // middle 32 bits of the last sender report's NTP time
	lastSRAt        time.Time // when it arrived
}

// ReceptionReport is the content of one report block (RFC 3550 §6.4.1),
// for the caller to put in an RTCP packet.
type ReceptionReport struct {
	FractionLost       uint8  // since the previous report, in 1/256
	TotalLost          uint32 // 24 bits, clamped
	ExtendedHighestSeq uint32
	Jitter             uint32 // RTP timestamp units
	LastSenderReport   uint32 // LSR
	Delay              uint32 // DLSR, 1/65536 s
}

// Received reports whether any packet was counted.
func (s *ReceiverStats) Received() bool { return s.received > 0 }

// Update counts a packet with sequence number seq and RTP timestamp ts
// that arrived at arrival.
func (s *ReceiverStats) Update(seq uint16, ts uint32, arrival time.Time) {
	if !s.started {
		s.started, s.baseSeq, s.maxSeq = true, seq, seq
	} else if d := seq - s.maxSeq; d > 0 && d < 1<<15 {
		if seq < s.maxSeq {
			s.cycles += 1 << 16
		}
		s.maxSeq = seq
	}
	s.received++
	s.Jitter.Update(arrival, ts)
}

// SenderReport notes the arrival at now of a sender report with NTP time
// ntp (64-bit format), for the next report's LSR and DLSR.
func (s *ReceiverStats) SenderReport(ntp uint64, now time.Time) {
	s.lastSR, s.lastSRAt = LSR(ntp), now
}

// Report returns the report block at now and starts the next interval of
// the fractional loss.
func (s *ReceiverStats) Report(now time.Time) ReceptionReport {
	extMax := s.cycles + uint32(s.maxSeq)
	expected := extMax - uint32(s.baseSeq) + 1
	lost := int64(expected) - int64(s.received)
	expInt := expected - s.expectedPrior
	recInt := s.received - s.receivedPrior
	s.expectedPrior, s.receivedPrior = expected, s.received
	var fraction uint8
	if lostInt := int64(expInt) - int64(recInt); expInt > 0 && lostInt > 0 {
		fraction = uint8(lostInt << 8 / int64(expInt))
	}
	lost = min(max(lost, 0), 0x7fffff)
	var dlsr uint32
	if s.lastSR != 0 {
		dlsr = uint32(now.Sub(s.lastSRAt) * 65536 / time.Second)
	}
	return ReceptionReport{FractionLost: fraction, TotalLost: uint32(lost), ExtendedHighestSeq: extMax,
		Jitter: s.Jitter.Units(), LastSenderReport: s.lastSR, Delay: dlsr}
}
