// Package netem is a seeded, reproducible UDP impairment proxy: it stands
// between a sender and a relay and drops, delays, jitters, reorders,
// duplicates and rate-limits the datagrams of each direction, as Linux's
// netem qdisc would on a kernel that has it.
//
// The decisions (which datagram is lost, duplicated, how long each waits)
// come from a PCG generator seeded by Impairment.Seed and the datagram's
// position in its direction, so a run with the same seed and the same
// traffic impairs the same datagrams; the wall clock only decides when
// they leave.
package netem

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Impairment is what one direction of the proxy does to its datagrams.
// The zero value forwards everything at once.
type Impairment struct {
	Loss      float64       // probability in [0, 1] that a datagram is dropped
	Duplicate float64       // probability in [0, 1] that a datagram is sent twice
	Delay     time.Duration // fixed one-way delay added to every datagram
	// Jitter adds a uniformly distributed delay in [0, Jitter) to each
	// datagram, independently: datagrams closer together than the jitter
	// overtake each other (netem's jitter without correlation does the
	// same).
	Jitter time.Duration
	// Rate caps the throughput (bits per second, 0: none); a datagram
	// that would wait more than QueueDelay (default 200 ms) for the link
	// is dropped (drop-tail) and counted in Stats.Overflow.
	Rate       int64
	QueueDelay time.Duration
	Seed       uint64
}

func (im Impairment) String() string {
	s := fmt.Sprintf("loss %.1f%%, delay %v, jitter %v", im.Loss*100, im.Delay, im.Jitter)
	if im.Duplicate > 0 {
		s += fmt.Sprintf(", duplicate %.1f%%", im.Duplicate*100)
	}
	if im.Rate > 0 {
		s += fmt.Sprintf(", rate %d kbit/s", im.Rate/1000)
	}
	return s
}

// Stats count one direction's datagrams.
type Stats struct {
	In         uint64 // received by the proxy
	Lost       uint64 // dropped by Loss
	Overflow   uint64 // dropped by the rate limit's queue
	Duplicated uint64
	Out        uint64 // sent on, duplicates included
	Reordered  uint64 // sent before a datagram that came in earlier
}

// Link decides the fate of the datagrams of one direction. It holds no
// clock: Admit is told the arrival time and returns when each copy leaves.
// It is not safe for concurrent use.
type Link struct {
	im      Impairment
	rng     *rand.Rand
	free    time.Time // when the rate-limited link is next idle
	lastDue time.Time
	st      Stats
}

// NewLink returns the decision maker for im.
func NewLink(im Impairment) *Link {
	if im.QueueDelay <= 0 {
		im.QueueDelay = 200 * time.Millisecond
	}
	return &Link{im: im, rng: rand.New(rand.NewPCG(im.Seed, 0x9e3779b97f4a7c15))}
}

// Admit takes a datagram of size bytes that arrived at now and returns the
// times its copies leave: none when it is lost, two when duplicated.
// Every call draws the same number of random values, so the decisions for
// datagram n do not depend on what happened to the ones before it.
func (l *Link) Admit(now time.Time, size int, due []time.Time) []time.Time {
	l.st.In++
	lossDraw, dupDraw := l.rng.Float64(), l.rng.Float64()
	j1, j2 := l.rng.Float64(), l.rng.Float64()
	if lossDraw < l.im.Loss {
		l.st.Lost++
		return due
	}
	leave := now
	if l.im.Rate > 0 {
		start := now
		if l.free.After(start) {
			start = l.free
		}
		if start.Sub(now) > l.im.QueueDelay {
			l.st.Overflow++
			return due
		}
		l.free = start.Add(time.Duration(int64(size) * 8 * int64(time.Second) / l.im.Rate))
		leave = l.free
	}
	copies := 1
	if dupDraw < l.im.Duplicate {
		copies = 2
		l.st.Duplicated++
	}
	for i, j := range []float64{j1, j2}[:copies] {
		d := leave.Add(l.im.Delay + time.Duration(j*float64(l.im.Jitter)))
		if i == 0 && d.Before(l.lastDue) {
			l.st.Reordered++
		}
		if i == 0 && d.After(l.lastDue) {
			l.lastDue = d
		}
		due = append(due, d)
	}
	l.st.Out += uint64(copies)
	return due
}

// Stats returns the counters so far.
func (l *Link) Stats() Stats { return l.st }

// Proxy forwards datagrams between clients and one target address,
// impairing each direction. Each client address gets a socket of its own
// towards the target, so the target sees one source per client, as behind
// a NAT.
type Proxy struct {
	conn   *net.UDPConn
	target *net.UDPAddr
	up     Impairment // client → target
	down   Impairment // target → client

	mu      sync.Mutex
	clients map[string]*client
	upLink  *direction // shared by every client, as one bottleneck
	closed  bool
	wg      sync.WaitGroup
	dropped atomic.Uint64 // send errors
}

type client struct {
	addr *net.UDPAddr
	conn *net.UDPConn // towards the target
	down *direction
}

// Listen starts a proxy on a loopback port that forwards to target with
// up applied to what clients send and down to what comes back.
func Listen(target *net.UDPAddr, up, down Impairment) (*Proxy, error) {
	ip := net.IPv4(127, 0, 0, 1)
	if target.IP.To4() == nil && !target.IP.IsUnspecified() {
		ip = net.IPv6loopback
	}
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: ip})
	if err != nil {
		return nil, err
	}
	p := &Proxy{conn: conn, target: target, up: up, down: down, clients: map[string]*client{}}
	p.upLink = newDirection(NewLink(up))
	p.wg.Add(2)
	go p.upLink.run(&p.wg)
	go p.readClients()
	return p, nil
}

// Addr is where clients send.
func (p *Proxy) Addr() *net.UDPAddr { return p.conn.LocalAddr().(*net.UDPAddr) }

// Up and Down return the counters of the two directions (Down summed over
// the clients).
func (p *Proxy) Up() Stats { return p.upLink.stats() }

func (p *Proxy) Down() Stats {
	p.mu.Lock()
	defer p.mu.Unlock()
	var s Stats
	for _, c := range p.clients {
		d := c.down.stats()
		s.In += d.In
		s.Lost += d.Lost
		s.Overflow += d.Overflow
		s.Duplicated += d.Duplicated
		s.Out += d.Out
		s.Reordered += d.Reordered
	}
	return s
}

// WaitUp waits until the client → target direction has taken in at least
// n datagrams (lost ones included), or ctx ends.
func (p *Proxy) WaitUp(ctx context.Context, n uint64) error {
	for {
		d := p.upLink
		d.mu.Lock()
		in := d.total.In + d.link.Stats().In
		changed := d.pushed
		d.mu.Unlock()
		if in >= n {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// SetUp changes the impairment of the client → target direction from now
// on (a link that gets worse or recovers mid-stream).
func (p *Proxy) SetUp(im Impairment) { p.upLink.set(NewLink(im)) }

// SetDown changes the impairment of the target → client direction, for
// every client and those to come, from now on.
func (p *Proxy) SetDown(im Impairment) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = im
	for _, c := range p.clients {
		c.down.set(NewLink(im))
	}
}

// Close stops the proxy; datagrams still waiting are dropped.
func (p *Proxy) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	cs := make([]*client, 0, len(p.clients))
	for _, c := range p.clients {
		cs = append(cs, c)
	}
	p.mu.Unlock()
	err := p.conn.Close()
	p.upLink.close()
	for _, c := range cs {
		c.conn.Close()
		c.down.close()
	}
	p.wg.Wait()
	return err
}

func (p *Proxy) readClients() {
	defer p.wg.Done()
	buf := make([]byte, 64<<10)
	for {
		n, addr, err := p.conn.ReadFromUDP(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		c := p.client(addr)
		if c == nil {
			return
		}
		p.upLink.push(time.Now(), buf[:n], func(b []byte) {
			if _, err := c.conn.Write(b); err != nil {
				p.dropped.Add(1)
			}
		})
	}
}

func (p *Proxy) client(addr *net.UDPAddr) *client {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil
	}
	if c := p.clients[addr.String()]; c != nil {
		return c
	}
	conn, err := net.DialUDP("udp", nil, p.target)
	if err != nil {
		return nil
	}
	down := p.down
	down.Seed += uint64(len(p.clients)) + 1
	c := &client{addr: addr, conn: conn, down: newDirection(NewLink(down))}
	p.clients[addr.String()] = c
	p.wg.Add(2)
	go c.down.run(&p.wg)
	go func() {
		defer p.wg.Done()
		buf := make([]byte, 64<<10)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				if errors.Is(err, net.ErrClosed) {
					return
				}
				continue // ICMP errors: the target is not there yet
			}
			c.down.push(time.Now(), buf[:n], func(b []byte) {
				if _, err := p.conn.WriteToUDP(b, c.addr); err != nil {
					p.dropped.Add(1)
				}
			})
		}
	}()
	return c
}

// direction is one Link with its send queue: datagrams wait in a heap
// ordered by departure time for one goroutine to send them.
type direction struct {
	mu     sync.Mutex
	link   *Link
	q      pending
	seq    uint64
	wake   chan struct{}
	done   chan struct{}
	once   sync.Once
	total  Stats         // of links replaced by set
	pushed chan struct{} // closed and replaced at each datagram taken in
}

func newDirection(l *Link) *direction {
	return &direction{link: l, wake: make(chan struct{}, 1), done: make(chan struct{}), pushed: make(chan struct{})}
}

func (d *direction) set(l *Link) {
	d.mu.Lock()
	defer d.mu.Unlock()
	s := d.link.Stats()
	d.total.In += s.In
	d.total.Lost += s.Lost
	d.total.Overflow += s.Overflow
	d.total.Duplicated += s.Duplicated
	d.total.Out += s.Out
	d.total.Reordered += s.Reordered
	d.link = l
}

func (d *direction) stats() Stats {
	d.mu.Lock()
	defer d.mu.Unlock()
	s, t := d.link.Stats(), d.total
	return Stats{In: s.In + t.In, Lost: s.Lost + t.Lost, Overflow: s.Overflow + t.Overflow,
		Duplicated: s.Duplicated + t.Duplicated, Out: s.Out + t.Out, Reordered: s.Reordered + t.Reordered}
}

func (d *direction) close() { d.once.Do(func() { close(d.done) }) }

func (d *direction) push(now time.Time, b []byte, send func([]byte)) {
	d.mu.Lock()
	var dues [2]time.Time
	due := d.link.Admit(now, len(b), dues[:0])
	for _, t := range due {
		d.seq++
		heap.Push(&d.q, item{due: t, seq: d.seq, b: append([]byte(nil), b...), send: send})
	}
	close(d.pushed)
	d.pushed = make(chan struct{})
	d.mu.Unlock()
	if len(due) > 0 {
		select {
		case d.wake <- struct{}{}:
		default:
		}
	}
}

func (d *direction) run(wg *sync.WaitGroup) {
	defer wg.Done()
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	for {
		d.mu.Lock()
		now := time.Now()
		var ready []item
		for d.q.Len() > 0 && !d.q[0].due.After(now) {
			ready = append(ready, heap.Pop(&d.q).(item))
		}
		wait := time.Hour
		if d.q.Len() > 0 {
			wait = d.q[0].due.Sub(now)
		}
		d.mu.Unlock()
		for _, it := range ready {
			it.send(it.b)
		}
		t.Reset(wait)
		select {
		case <-d.done:
			return
		case <-d.wake:
		case <-t.C:
		}
	}
}

type item struct {
	due  time.Time
	seq  uint64 // arrival order among equal due times
	b    []byte
	send func([]byte)
}

type pending []item

func (q pending) Len() int { return len(q) }
func (q pending) Less(i, j int) bool {
	if q[i].due.Equal(q[j].due) {
		return q[i].seq < q[j].seq
	}
	return q[i].due.Before(q[j].due)
}
func (q pending) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *pending) Push(x any)   { *q = append(*q, x.(item)) }
func (q *pending) Pop() any {
	old := *q
	it := old[len(old)-1]
	*q = old[:len(old)-1]
	return it
}
