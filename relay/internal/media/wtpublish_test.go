package media

import (
	"sync"
	"testing"

	"github.com/pion/rtcp"

	"github.com/quicast/quicast/protocol"
)

// The hub's housekeeping may report to a participant (a receiver report,
// its viewer count) while its session ends: nothing is queued after the
// end, and nothing panics on the closed queue. The reports before it
// reach the participant as MsgReport, then MsgEnded.
func TestWTLinkReportsWhileEnding(t *testing.T) {
	rr := []rtcp.Packet{&rtcp.ReceiverReport{Reports: []rtcp.ReceptionReport{
		{SSRC: 7, FractionLost: 26, TotalLost: 3, LastSequenceNumber: 70000, Jitter: 90, LastSenderReport: 0xbeef, Delay: 1 << 14}}}}
	for range 200 {
		l := &wtLink{ctrlQ: make(chan *protocol.Message, controlQueueLen)}
		l.rtcp(rr)
		var wg sync.WaitGroup
		wg.Go(func() {
			for range 20 {
				l.rtcp(rr)
			}
		})
		l.end("the session ended")
		wg.Wait()
		var got []*protocol.Message
		for m := range l.ctrlQ {
			got = append(got, m)
		}
		if len(got) < 2 || got[len(got)-1].Type != protocol.MsgEnded {
			t.Fatalf("%d messages, the last %+v: want reports, then ended", len(got), got[len(got)-1])
		}
		b := got[0].Reports
		if got[0].Type != protocol.MsgReport || len(b) != 1 || b[0].SSRC != 7 || b[0].FractionLost != 26 || b[0].TotalLost != 3 ||
			b[0].ExtendedHighestSeq != 70000 || b[0].Jitter != 90 || b[0].LastSenderReport != 0xbeef || b[0].Delay != 1<<14 {
			t.Fatalf("first message %+v", got[0])
		}
	}
}
