package relay

import (
	"context"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/quic-go/quic-go"
	"golang.org/x/time/rate"
)

// quicLimits bound the QUIC side: connections open from one address and in
// all, and how many handshakes a second are taken from addresses not yet
// validated before the rest must prove their address first (a Retry, RFC
// 9000 §8.1.2, one more round trip), which defeats floods of spoofed
// Initial packets.
type quicLimits struct {
	perIP, total  int
	handshakesSec float64
}

// The per-address cap leaves room for a school or an office watching from
// behind one NAT address; connections from this machine (loopback: a load
// test, a local proxy) count only towards the total.
var defaultQUICLimits = quicLimits{perIP: 256, total: 8192, handshakesSec: 200}

var errTooManyConns = errors.New("relay: too many QUIC connections")

// quicAdmission applies quicLimits through quic.Transport's ConnContext and
// VerifySourceAddress.
type quicAdmission struct {
	lim       quicLimits
	handshake *rate.Limiter

	mu    sync.Mutex
	total int
	byIP  map[string]int

	refused, retried atomic.Uint64
}

func newQUICAdmission(l quicLimits) *quicAdmission {
	return &quicAdmission{lim: l, handshake: rate.NewLimiter(rate.Limit(l.handshakesSec), int(2*l.handshakesSec)+1),
		byIP: map[string]int{}}
}

// verifySourceAddress is quic.Transport.VerifySourceAddress: once more
// handshakes come than the budget, they need address validation.
func (a *quicAdmission) verifySourceAddress(net.Addr) bool {
	if a.handshake.Allow() {
		return false
	}
	a.retried.Add(1)
	return true
}

// connContext is quic.Transport.ConnContext: a connection over the limits
// is refused; an admitted one holds its place until its context ends (the
// connection closed or its handshake failed).
func (a *quicAdmission) connContext(ctx context.Context, ci *quic.ClientInfo) (context.Context, error) {
	ip := addrIP(ci.RemoteAddr)
	local := net.ParseIP(ip).IsLoopback()
	a.mu.Lock()
	if a.total >= a.lim.total || !local && a.byIP[ip] >= a.lim.perIP {
		a.mu.Unlock()
		a.refused.Add(1)
		return nil, errTooManyConns
	}
	a.total++
	a.byIP[ip]++
	a.mu.Unlock()
	context.AfterFunc(ctx, func() {
		a.mu.Lock()
		defer a.mu.Unlock()
		a.total--
		if a.byIP[ip]--; a.byIP[ip] <= 0 {
			delete(a.byIP, ip)
		}
	})
	return ctx, nil
}

// open returns the connections held now, in all and from ip.
func (a *quicAdmission) open(ip string) (total, fromIP int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.total, a.byIP[ip]
}

func addrIP(addr net.Addr) string {
	if u, ok := addr.(*net.UDPAddr); ok {
		return u.IP.String()
	}
	host, _, err := net.SplitHostPort(addr.String())
	if err != nil {
		return addr.String()
	}
	return host
}

// quicIdle is how long a QUIC connection may carry nothing before it is
// closed. The relay sends no keep-alives of its own: a viewer's session
// carries media and the player's heartbeats, and a connection that never
// opened a session (or a client that went away) is not kept alive by the
// relay's PINGs.
const quicIdle = 30 * time.Second
