package relay

import (
	"net"
	"sync"
	"sync/atomic"
)

// Limits on the HTTPS (TCP) side. A browser opens a handful of connections
// to a host; a client holding hundreds open is hoarding them, and each costs
// a file descriptor the relay needs for everyone else.
const (
	maxConnsPerIP = 32
	maxConns      = 2048
)

// limitListener accepts at most max connections at once and perIP from one
// address; a connection over either limit is closed at once (not queued:
// a queued accept would let idle connections starve new ones) and counted.
type limitListener struct {
	net.Listener
	max, perIP int

	mu      sync.Mutex
	total   int
	byIP    map[string]int
	refused atomic.Uint64
}

func newLimitListener(l net.Listener, max, perIP int) *limitListener {
	return &limitListener{Listener: l, max: max, perIP: perIP, byIP: map[string]int{}}
}

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		ip := remoteIP(c)
		l.mu.Lock()
		ok := l.total < l.max && l.byIP[ip] < l.perIP
		if ok {
			l.total++
			l.byIP[ip]++
		}
		l.mu.Unlock()
		if !ok {
			l.refused.Add(1)
			c.Close()
			continue
		}
		return &limitedConn{Conn: c, l: l, ip: ip}, nil
	}
}

func (l *limitListener) release(ip string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.total--
	if l.byIP[ip]--; l.byIP[ip] <= 0 {
		delete(l.byIP, ip)
	}
}

// open returns the connections open now, in all and from ip.
func (l *limitListener) open(ip string) (total, fromIP int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.total, l.byIP[ip]
}

func remoteIP(c net.Conn) string {
	if a, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		return a.IP.String()
	}
	host, _, err := net.SplitHostPort(c.RemoteAddr().String())
	if err != nil {
		return c.RemoteAddr().String()
	}
	return host
}

type limitedConn struct {
	net.Conn
	l    *limitListener
	ip   string
	once sync.Once
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.l.release(c.ip) })
	return err
}
