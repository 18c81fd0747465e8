// Package relay runs the quicast relay: one UDP port carrying QUIC (HTTP/3
// and WebTransport viewers) and SRTP (publishers), demultiplexed by first
// byte (RFC 7983), and HTTPS on TCP with the same port number.
package relay

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/http3"
	"github.com/quic-go/webtransport-go"

	"github.com/quicast/quicast/certs"
	"github.com/quicast/quicast/relay/internal/media"
	"github.com/quicast/quicast/relay/internal/store"
	"github.com/quicast/quicast/relay/internal/web"
	viewerweb "github.com/quicast/quicast/viewer-wasm/web"
)

// DefaultListen is the relay's default address.
const DefaultListen = ":8443"

// Config configures Run. The zero value of each field but DataDir means
// the default.
type Config struct {
	Listen  string // HOST:PORT for UDP and TCP; default DefaultListen
	DataDir string // users, streams, certificates
	// Hosts are names (and addresses) the relay is reached by besides its
	// own: the generated certificate covers them too, as it covers
	// localhost, the machine's name, and every address of the machine when
	// listening on all of them (kept up to date as addresses change).
	Hosts             []string
	CertFile, KeyFile string // a user-provided certificate replaces the local CA
	Logger            *slog.Logger
	// MetricsToken lets a scraper elsewhere read /metrics with this bearer
	// token; "" serves them to this machine (loopback) only.
	MetricsToken string
	// Origins are web origins ("https://host[:port]") besides the relay's
	// own whose pages may open viewer sessions (a site embedding the
	// watch page); the viewer still needs a ticket.
	Origins []string
	// MaxPublishRate caps each publisher, in bit/s (0: the default, 20
	// Mbit/s); packets beyond it are dropped and counted.
	MaxPublishRate float64
	// Socket says how the UDP port is shared: SocketOne (default),
	// SocketSeparate or SocketOnePlain.
	Socket string
	// DebugAddr, when set, serves Go's profiler (net/http/pprof) on this
	// HOST:PORT, plain HTTP: keep it on loopback.
	DebugAddr string

	onHub      func(*media.Hub)           // tests: look at the hub's counters
	ifaces     func() ([]net.Addr, error) // tests: the machine's addresses; default net.InterfaceAddrs
	timeouts   *httpTimeouts              // tests: shorter ones; default defaultTimeouts
	quicLimits *quicLimits                // tests: smaller ones; default defaultQUICLimits
}

// httpTimeouts bound how long an HTTPS client may take (net/http.Server):
// a client sending its request slowly, or holding a connection open doing
// nothing, is cut off instead of tying up a file descriptor for ever.
type httpTimeouts struct {
	header time.Duration // to send the request headers
	read   time.Duration // to send the whole request, body included
	write  time.Duration // to take the response (the 0.8 MB player on a slow link)
	idle   time.Duration // between requests on a kept-alive connection
}

var defaultTimeouts = httpTimeouts{header: 10 * time.Second, read: 30 * time.Second, write: time.Minute, idle: time.Minute}

// DefaultMaxPublishRate is what one publisher may send at most unless
// Config.MaxPublishRate says otherwise, in bit/s.
const DefaultMaxPublishRate = media.DefaultMaxPublishRate

// Socket modes (Config.Socket).
const (
	// SocketOne: QUIC and SRTP on one UDP port, demultiplexed by first
	// byte, with quic-go's batched reads and GSO (demuxConn).
	SocketOne = "one"
	// SocketSeparate: QUIC on the port, SRTP on a port of its own (the
	// publish answer tells senders which); two ports to open.
	SocketSeparate = "separate"
	// SocketOnePlain: one port through a plain net.PacketConn, one
	// datagram per system call: only to measure what batching brings.
	SocketOnePlain = "one-plain"
)

// Info is what a starting relay tells its operator.
type Info struct {
	Addr string   // the bound HOST:PORT
	URLs []string // the login page at each address viewers can reach
	// CAFile is the local CA certificate to give senders (-ca) and viewers
	// (to import); "" with a user certificate.
	CAFile          string
	CAFingerprint   certs.Pin // SHA-256 of the CA certificate: what senders pin
	LeafFingerprint certs.Pin
	LeafNotAfter    time.Time
	LeafHosts       []string // the names and addresses the certificate is valid for
}

// addrRecheck is how often a relay listening on every address looks for
// new ones (a DHCP lease, a VPN) to add to its certificate.
const addrRecheck = 30 * time.Second

// Run serves until ctx is done. ready, if not nil, is called once both
// sockets listen.
func Run(ctx context.Context, cfg Config, ready func(Info)) error {
	if cfg.Listen == "" {
		cfg.Listen = DefaultListen
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	st, err := store.Open(cfg.DataDir)
	if err != nil {
		return err
	}
	if cfg.ifaces == nil {
		cfg.ifaces = net.InterfaceAddrs
	}
	listenHost, _, err := net.SplitHostPort(cfg.Listen)
	if err != nil {
		return fmt.Errorf("relay: listen address %q: %w", cfg.Listen, err)
	}
	cm, err := certs.New(certs.Config{Logger: log, Dir: filepath.Join(cfg.DataDir, "certs"), Hosts: certHosts(listenHost, cfg.Hosts, cfg.ifaces),
		CertFile: cfg.CertFile, KeyFile: cfg.KeyFile})
	if err != nil {
		return err
	}

	uaddr, err := net.ResolveUDPAddr("udp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("relay: listen address %q: %w", cfg.Listen, err)
	}
	udp, err := net.ListenUDP("udp", uaddr)
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return fmt.Errorf("relay: UDP port %d is taken by another program (%w); choose another with -listen", uaddr.Port, err)
		}
		return fmt.Errorf("relay: %w", err)
	}
	port := udp.LocalAddr().(*net.UDPAddr).Port
	host, _, _ := net.SplitHostPort(cfg.Listen)
	tcp, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(port)))
	if err != nil {
		udp.Close()
		if errors.Is(err, syscall.EADDRINUSE) {
			return fmt.Errorf("relay: TCP port %d (HTTPS, the same number as the UDP port) is taken by another program (%w); choose another with -listen", port, err)
		}
		return fmt.Errorf("relay: TCP port %d (HTTPS uses the UDP port number too): %w", port, err)
	}

	h3 := &http3.Server{
		QUICConfig: quicConfig(),
	}
	wt := &webtransport.Server{H3: h3, CheckOrigin: web.OriginCheck(cfg.Origins)}
	// Where SRTP comes in: the QUIC socket (demultiplexed), or its own.
	srtpConn, srtpPort := udp, port
	if cfg.Socket == SocketSeparate {
		if srtpConn, err = net.ListenUDP("udp", &net.UDPAddr{IP: uaddr.IP}); err != nil {
			tcp.Close()
			udp.Close()
			return fmt.Errorf("relay: SRTP socket: %w", err)
		}
		defer srtpConn.Close()
		srtpPort = srtpConn.LocalAddr().(*net.UDPAddr).Port
	}
	hub := media.NewHub(media.Config{WriteTo: srtpConn.WriteTo, Port: srtpPort, WebTransport: wt, Access: st, Logger: log,
		MaxPublishRate: cfg.MaxPublishRate})
	defer hub.Close()
	if cfg.onHub != nil {
		cfg.onHub(hub)
	}

	handler, err := web.New(web.Config{
		Store: st, Media: hub, Logger: log, Assets: viewerweb.Assets(),
		CertHashes: func() [][32]byte {
			if cfg.CertFile != "" {
				return nil // a user certificate is trusted by its chain
			}
			return cm.Hashes()
		},
		CAPEM: cm.CAPEM,
	})
	if err != nil {
		return err
	}
	altSvc := fmt.Sprintf(`h3=":%d"; ma=86400`, port)
	tcpLimit := newLimitListener(tcp, maxConns, maxConnsPerIP)
	ql := defaultQUICLimits
	if cfg.quicLimits != nil {
		ql = *cfg.quicLimits
	}
	admit := newQUICAdmission(ql)
	top := http.NewServeMux()
	top.Handle("GET /metrics", metricsHandler(&collector{hub: hub, web: handler, cm: cm, tcp: tcpLimit, quic: admit}, cfg.MetricsToken))
	top.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		fmt.Fprintf(w, `{"status":"ok","streamsLive":%d,"viewers":%d}`+"\n", hub.LiveStreams(), hub.Stats().ViewersNow)
	})
	top.Handle("/", handler)
	h3.Handler = top
	webtransport.ConfigureHTTP3Server(h3)

	tlsQUIC := http3.ConfigureTLSConfig(&tls.Config{GetCertificate: cm.GetCertificate, MinVersion: tls.VersionTLS13})
	var quicConn net.PacketConn
	switch cfg.Socket {
	case "", SocketOne:
		quicConn = newDemuxConn(udp, hub.Deliver)
	case SocketOnePlain:
		quicConn = plainConn{newDemuxConn(udp, hub.Deliver)}
	case SocketSeparate:
		quicConn = udp
		go readSRTP(srtpConn, hub.Deliver)
	default:
		return fmt.Errorf("relay: socket mode %q: want %s, %s or %s", cfg.Socket, SocketOne, SocketSeparate, SocketOnePlain)
	}
	var resetKey quic.StatelessResetKey
	copy(resetKey[:], st.ResetKey())
	tr := &quic.Transport{Conn: quicConn, StatelessResetKey: &resetKey,
		ConnContext: admit.connContext, VerifySourceAddress: admit.verifySourceAddress}
	ln, err := tr.ListenEarly(tlsQUIC, quicConfig())
	if err != nil {
		tcp.Close()
		udp.Close()
		return fmt.Errorf("relay: QUIC: %w", err)
	}

	to := defaultTimeouts
	if cfg.timeouts != nil {
		to = *cfg.timeouts
	}
	https := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Alt-Svc", altSvc)
			top.ServeHTTP(w, r)
		}),
		TLSConfig:         &tls.Config{GetCertificate: cm.GetCertificate, MinVersion: tls.VersionTLS12},
		ReadHeaderTimeout: to.header,
		ReadTimeout:       to.read,
		WriteTimeout:      to.write,
		IdleTimeout:       to.idle,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errc := make(chan error, 2)
	wg.Go(func() {
		if err := https.ServeTLS(tcpLimit, "", ""); err != nil && !errors.Is(err, http.ErrServerClosed) {
			errc <- fmt.Errorf("relay: HTTPS: %w", err)
		}
	})
	wg.Go(func() {
		for {
			conn, err := ln.Accept(ctx)
			if err != nil {
				return
			}
			wg.Go(func() { _ = wt.ServeQUICConn(conn) })
		}
	})

	if cfg.DebugAddr != "" {
		dl, err := net.Listen("tcp", cfg.DebugAddr)
		if err != nil {
			return fmt.Errorf("relay: -debug-addr: %w", err)
		}
		dbg := &http.Server{Handler: pprofMux(), ReadHeaderTimeout: 10 * time.Second}
		wg.Go(func() { _ = dbg.Serve(dl) })
		context.AfterFunc(ctx, func() { dbg.Close() })
		log.Info("profiler serving", "addr", dl.Addr().String(), "path", "/debug/pprof/")
	}

	if isWildcard(listenHost) && cfg.CertFile == "" {
		wg.Go(func() {
			t := time.NewTicker(addrRecheck)
			defer t.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-t.C:
				}
				hosts := certHosts(listenHost, cfg.Hosts, cfg.ifaces)
				if renewed, err := cm.SetHosts(hosts); err != nil {
					log.Warn("certificate not reissued for new addresses", "err", err)
				} else if renewed {
					log.Info("the machine's addresses changed: certificate reissued", "hosts", hosts)
				}
			}
		})
	}

	addr := net.JoinHostPort(host, strconv.Itoa(port))
	log.Info("relay listening", "addr", addr, "udp", "QUIC+SRTP", "tcp", "HTTPS")
	if ready != nil {
		leaf := cm.Leaf()
		caFile := cm.CAFile()
		if abs, err := filepath.Abs(caFile); err == nil && caFile != "" {
			caFile = abs
		}
		info := Info{Addr: addr, URLs: viewerURLs(listenHost, strconv.Itoa(port), cfg.Hosts, cfg.ifaces),
			CAFile: caFile, CAFingerprint: cm.CAFingerprint(), LeafFingerprint: certs.PinOf(leaf.Raw),
			LeafNotAfter: leaf.NotAfter, LeafHosts: append(leaf.DNSNames[:len(leaf.DNSNames):len(leaf.DNSNames)], ipStrings(leaf.IPAddresses)...)}
		ready(info)
	}
	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-errc:
	}

	// Shut down: viewers are told, sockets closed, goroutines waited for.
	hub.Close()
	sctx, scancel := context.WithTimeout(context.Background(), 3*time.Second)
	_ = https.Shutdown(sctx)
	scancel()
	_ = wt.Close()
	_ = ln.Close()
	_ = tr.Close()
	_ = udp.Close()
	cancel()
	wg.Wait()
	return runErr
}

func ipStrings(ips []net.IP) []string {
	out := make([]string, len(ips))
	for i, ip := range ips {
		out[i] = ip.String()
	}
	return out
}

func quicConfig() *quic.Config {
	return &quic.Config{
		EnableDatagrams:                  true,
		EnableStreamResetPartialDelivery: true,
		MaxIncomingStreams:               100,
		MaxIncomingUniStreams:            100,
		MaxIdleTimeout:                   quicIdle,
	}
}

// AddStream adds stream name to the data directory dir and returns its
// publish key (shown once; only its SHA-256 is stored). A running relay
// sees it at its next request.
func AddStream(dir, name string) (key string, err error) {
	st, err := store.Open(dir)
	if err != nil {
		return "", err
	}
	return st.AddStream(name)
}

// AddUser adds a viewer with an argon2id hash of password (RFC 9106) to the
// data directory dir.
func AddUser(dir, name, password string) error {
	st, err := store.Open(dir)
	if err != nil {
		return err
	}
	return st.AddUser(name, password)
}

// AddRoom adds call room name to the data directory dir: every logged-in
// user may join it (protocol README §4).
func AddRoom(dir, name string) error {
	st, err := store.Open(dir)
	if err != nil {
		return err
	}
	return st.AddRoom(name)
}

// RekeyStream gives stream name in the data directory dir a new publish key
// and returns it; a running relay ends the sender of the old key within a
// second.
func RekeyStream(dir, name string) (key string, err error) {
	st, err := store.Open(dir)
	if err != nil {
		return "", err
	}
	return st.Rekey(name)
}
