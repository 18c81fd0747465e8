package relay

import (
	"net"
	"time"

	"github.com/quicast/quicast/protocol"
)

// demuxConn is the relay's UDP socket as quic-go sees it: ReadFrom hands
// datagrams whose first byte is 128–191 (RTP/RTCP, RFC 7983) to the SRTP
// ingest and returns everything else to quic-go.
//
// It is deliberately a plain net.PacketConn, not a *net.UDPConn: quic-go
// would read a UDPConn with ReadMsgUDP/batched reads and bypass ReadFrom;
// and quic-go's own reader of non-QUIC packets passes only first bytes 0–63
// (STUN), so RTP would be taken for a QUIC long header and dropped.
type demuxConn struct {
	conn    *net.UDPConn
	deliver func(b []byte, addr net.Addr) // must copy b and not block
}

func (c *demuxConn) ReadFrom(p []byte) (int, net.Addr, error) {
	for {
		n, addr, err := c.conn.ReadFrom(p)
		if err != nil || n == 0 || protocol.Classify(p[0]) != protocol.ClassRTP {
			return n, addr, err
		}
		c.deliver(p[:n], addr)
	}
}

func (c *demuxConn) WriteTo(p []byte, addr net.Addr) (int, error) { return c.conn.WriteTo(p, addr) }
func (c *demuxConn) Close() error                                 { return c.conn.Close() }
func (c *demuxConn) LocalAddr() net.Addr                          { return c.conn.LocalAddr() }
func (c *demuxConn) SetDeadline(t time.Time) error                { return c.conn.SetDeadline(t) }
func (c *demuxConn) SetReadDeadline(t time.Time) error            { return c.conn.SetReadDeadline(t) }
func (c *demuxConn) SetWriteDeadline(t time.Time) error           { return c.conn.SetWriteDeadline(t) }

// SetReadBuffer lets quic-go enlarge the socket buffer as it would on a
// plain UDP socket.
func (c *demuxConn) SetReadBuffer(n int) error  { return c.conn.SetReadBuffer(n) }
func (c *demuxConn) SetWriteBuffer(n int) error { return c.conn.SetWriteBuffer(n) }
