package relay

import (
	"errors"
	"net"
	"time"

	"golang.org/x/net/ipv4"

	"github.com/quicast/quicast/protocol"
)

// demuxConn is the relay's one UDP socket as quic-go sees it: datagrams
// whose first byte is 128–191 (RTP/RTCP, RFC 7983 §7) go to the SRTP ingest,
// everything else to quic-go.
//
// It keeps every fast path quic-go has for a *net.UDPConn: the embedded
// socket makes it a quic.OOBCapablePacketConn (ECN, packet info, GSO on
// sends through WriteMsgUDP), and because it has ReadBatch quic-go reads
// through it (recvmmsg, up to a batch of datagrams per system call) instead
// of unwrapping the socket itself, which would bypass the ingest. quic-go's
// own reader of non-QUIC packets passes only first bytes 0–63 (STUN), so
// RTP cannot be left to it.
type demuxConn struct {
	*net.UDPConn
	batch   *ipv4.PacketConn              // over the same socket, for ReadBatch
	deliver func(b []byte, addr net.Addr) // must copy b and not block
}

func newDemuxConn(c *net.UDPConn, deliver func(b []byte, addr net.Addr)) *demuxConn {
	return &demuxConn{UDPConn: c, batch: ipv4.NewPacketConn(c), deliver: deliver}
}

// ReadBatch reads datagrams into ms (golang.org/x/net/ipv4.PacketConn
// ReadBatch, recvmmsg on Linux), hands the RTP/RTCP ones to the ingest and
// returns the others, moved to the front of ms, and their count. It never
// returns 0 datagrams without an error: a batch of only RTP is followed by
// another read.
//
// quic-go pairs each message with the packet buffer its Buffers[0] belongs
// to, by index, so a datagram moved forward is copied into the earlier
// message's own buffers (payload and control data), never swapped.
func (c *demuxConn) ReadBatch(ms []ipv4.Message, flags int) (int, error) {
	for {
		n, err := c.batch.ReadBatch(ms, flags)
		if err != nil || n == 0 {
			return n, err
		}
		k := 0
		for i := range ms[:n] {
			m := &ms[i]
			b := m.Buffers[0][:m.N]
			if len(b) > 0 && protocol.Classify(b[0]) == protocol.ClassRTP {
				c.deliver(b, m.Addr)
				continue
			}
			if k != i {
				to := &ms[k]
				to.N = copy(to.Buffers[0], b)
				to.NN = copy(to.OOB, m.OOB[:m.NN])
				to.Flags, to.Addr = m.Flags, m.Addr
			}
			k++
		}
		if k > 0 {
			return k, nil
		}
	}
}

// ReadFrom serves the callers that read one datagram at a time (quic-go on
// systems without batched reads), with the same split as ReadBatch.
func (c *demuxConn) ReadFrom(p []byte) (int, net.Addr, error) {
	for {
		n, addr, err := c.UDPConn.ReadFrom(p)
		if err != nil || n == 0 || protocol.Classify(p[0]) != protocol.ClassRTP {
			return n, addr, err
		}
		c.deliver(p[:n], addr)
	}
}

// ReadMsgUDP is ReadFrom with control data, as quic-go's OOB reader uses
// it where it does not batch.
func (c *demuxConn) ReadMsgUDP(b, oob []byte) (n, oobn, flags int, addr *net.UDPAddr, err error) {
	for {
		n, oobn, flags, addr, err = c.UDPConn.ReadMsgUDP(b, oob)
		if err != nil || n == 0 || protocol.Classify(b[0]) != protocol.ClassRTP {
			return n, oobn, flags, addr, err
		}
		c.deliver(b[:n], addr)
	}
}

// plainConn hides every method of the demultiplexer but net.PacketConn's:
// quic-go then reads and writes one datagram per system call
// (SocketOnePlain, for comparison).
type plainConn struct{ d *demuxConn }

func (c plainConn) ReadFrom(p []byte) (int, net.Addr, error)  { return c.d.ReadFrom(p) }
func (c plainConn) WriteTo(p []byte, a net.Addr) (int, error) { return c.d.WriteTo(p, a) }
func (c plainConn) Close() error                              { return c.d.Close() }
func (c plainConn) LocalAddr() net.Addr                       { return c.d.LocalAddr() }
func (c plainConn) SetDeadline(t time.Time) error             { return c.d.SetDeadline(t) }
func (c plainConn) SetReadDeadline(t time.Time) error         { return c.d.SetReadDeadline(t) }
func (c plainConn) SetWriteDeadline(t time.Time) error        { return c.d.SetWriteDeadline(t) }
func (c plainConn) SetReadBuffer(n int) error                 { return c.d.SetReadBuffer(n) }
func (c plainConn) SetWriteBuffer(n int) error                { return c.d.SetWriteBuffer(n) }

// readSRTP hands what arrives on the SRTP socket of its own
// (SocketSeparate) to the ingest, until the socket is closed.
func readSRTP(c *net.UDPConn, deliver func(b []byte, addr net.Addr)) {
	buf := make([]byte, 2048)
	for {
		n, addr, err := c.ReadFrom(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		if n > 0 && protocol.Classify(buf[0]) == protocol.ClassRTP {
			deliver(buf[:n], addr)
		}
	}
}
