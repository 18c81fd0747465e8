// Package web serves every HTTP route of the relay: the login, stream list
// and watch pages, the JSON API they use, viewer tickets, the publish
// handshake, and the WebTransport endpoint. The same handler serves HTTPS on
// TCP and HTTP/3 on QUIC.
package web

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"github.com/quicast/quicast/certs"
	"github.com/quicast/quicast/protocol"
	"github.com/quicast/quicast/protocol/ticket"
	"github.com/quicast/quicast/relay/internal/store"
)

// Media is the relay's media side, as the web routes need it.
type Media interface {
	// Publish starts a publish session for stream, allowed by the publish
	// key keyID (store.CheckPublishKey). An error wrapping protocol.ErrStreamLive means
	// another sender is live on the stream.
	Publish(ctx context.Context, stream, keyID string, req protocol.PublishRequest) (protocol.PublishResponse, error)
	// ServeViewer upgrades the request to WebTransport and serves the viewer
	// until the session ends.
	ServeViewer(w http.ResponseWriter, r *http.Request, stream, user string)
	// StreamStatus reports whether stream has a publisher and how many viewers.
	StreamStatus(stream string) (live bool, viewers int)
}

// Config configures the handler. Store and Media are required.
type Config struct {
	Store *store.Store
	Media Media
	// CertHashes returns the SHA-256 of the served leaf certificates, for
	// WebTransport serverCertificateHashes; nil or empty when the browser
	// trusts the certificate by its chain.
	CertHashes func() [][32]byte
	// CAPEM returns the local CA certificate, served at /api/ca.pem.
	CAPEM func() []byte
	// Assets holds the viewer files (login.html, index.html, watch.html,
	// static/…).
	Assets fs.FS
	Logger *slog.Logger
	Now    func() time.Time
}

const (
	cookieName    = "quicast_session"
	sessionTTL    = 12 * time.Hour
	ticketTTL     = 60 * time.Second
	maxBodyBytes  = 64 << 10
	loginBurst    = 5
	loginPerSec   = 1
	maxLimiterIPs = 10000
	// loginWait is how long a login waits for a password check slot
	// before it is told that the relay is busy.
	loginWait = 5 * time.Second
)

// Counters of refused requests, by reason.
type Counters struct {
	LoginFailures   atomic.Uint64
	LoginThrottled  atomic.Uint64
	LoginBusy       atomic.Uint64 // refused: every password check slot stayed taken for loginWait
	CrossOrigin     atomic.Uint64 // refused: a state-changing request from another site
	PublishRefused  atomic.Uint64
	PublishLive     atomic.Uint64 // refused: another sender is live on the stream
	TicketsIssued   atomic.Uint64
	TicketsRefused  atomic.Uint64
	ViewersAccepted atomic.Uint64
}

// Handler is the relay's http.Handler.
type Handler struct {
	cfg Config
	mux *http.ServeMux
	log *slog.Logger

	Counters Counters

	mu          sync.Mutex
	limiters    map[string]*rate.Limiter
	usedTickets map[uint64]time.Time // nonce → expiry of the tickets that opened a session
	etags       sync.Map             // asset name → ETag

	// hashing holds one token per password check running: argon2id takes
	// ~19 MiB and tens of ms of a core each, so a login storm from many
	// addresses (which the per-address limit does not stop) queues here
	// instead of taking the relay's memory and the media path's CPU.
	hashing    chan struct{}
	hashingMax atomic.Int32 // the most checks seen running at once
	hashingNow atomic.Int32

	crossOrigin *http.CrossOriginProtection
	warnLimit   *rate.Limiter // of "wrong publish key" warnings
	warnDropped atomic.Uint64
}

// New returns the handler.
func New(cfg Config) (*Handler, error) {
	if cfg.Store == nil || cfg.Media == nil {
		return nil, errors.New("web: Store and Media are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.CertHashes == nil {
		cfg.CertHashes = func() [][32]byte { return nil }
	}
	h := &Handler{cfg: cfg, mux: http.NewServeMux(), log: cfg.Logger.With("component", "web"),
		limiters: map[string]*rate.Limiter{}, usedTickets: map[uint64]time.Time{}, hashing: make(chan struct{}, runtime.GOMAXPROCS(0)),
		crossOrigin: http.NewCrossOriginProtection(), warnLimit: rate.NewLimiter(rate.Every(10*time.Second), 5)}
	// A request that changes state (log in, log out, publish) must come
	// from the relay's own pages or from a program, never from a page on
	// another site (W3C Fetch Metadata: Sec-Fetch-Site, then Origin).
	h.crossOrigin.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.Counters.CrossOrigin.Add(1)
		writeError(w, http.StatusForbidden, "cross-origin request refused: log in from the relay's own pages")
	}))
	m := h.mux
	m.HandleFunc("GET /login", h.page("login.html", false))
	m.HandleFunc("GET /ca", h.page("ca.html", false))
	m.HandleFunc("GET /api/info", h.info)
	m.HandleFunc("GET /{$}", h.page("index.html", true))
	m.HandleFunc("GET /watch/{stream}", h.page("watch.html", true))
	m.HandleFunc("GET /static/", h.static)
	m.HandleFunc("POST /api/login", h.login)
	m.HandleFunc("POST /api/logout", h.logout)
	m.HandleFunc("GET /api/streams", h.streams)
	m.HandleFunc("GET /api/ticket", h.ticket)
	m.HandleFunc("GET /api/ca.pem", h.caPEM)
	m.HandleFunc("POST "+protocol.PathPublish, h.publish)
	m.HandleFunc(protocol.PathWebTransport+"{stream}", h.webTransport)
	m.HandleFunc("/", h.notFound)
	return h, nil
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "no-referrer")
	hd.Set("Content-Security-Policy", "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; "+
		"connect-src 'self' https: ; img-src 'self' data: blob:; style-src 'self'; frame-ancestors 'none'")
	if host := hostOnly(r.Host); net.ParseIP(host) == nil && !isLoopback(host) && strings.Contains(host, ".") {
		// A relay under a DNS name has a certificate browsers trust
		// (HSTS is ignored for IP addresses, and a local name has none).
		hd.Set("Strict-Transport-Security", "max-age=31536000")
	}
	if r.Method == http.MethodPost {
		h.crossOrigin.Handler(h.mux).ServeHTTP(w, r)
		return
	}
	h.mux.ServeHTTP(w, r)
}

func hostOnly(hostport string) string {
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		return h
	}
	return strings.Trim(hostport, "[]")
}

// user returns the logged-in user of r, or "". Sessions live in the data
// directory: they survive a restart of the relay, and end when the user
// logs out, is removed or gets a new password.
func (h *Handler) user(r *http.Request) string {
	u, _ := h.session(r)
	return u
}

// session returns the logged-in user of r and the reference to their
// login session (store.SessionID), or "".
func (h *Handler) session(r *http.Request) (user, id string) {
	c, err := r.Cookie(cookieName)
	if err != nil {
		return "", ""
	}
	u, ok := h.cfg.Store.SessionUser(c.Value, h.cfg.Now())
	if !ok {
		return "", ""
	}
	return u, store.SessionID(c.Value)
}

func (h *Handler) page(name string, needLogin bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if needLogin && h.user(r) == "" {
			http.Redirect(w, r, "/login?next="+url.QueryEscape(r.URL.Path), http.StatusSeeOther)
			return
		}
		if s := r.PathValue("stream"); s != "" && (protocol.ValidStreamName(s) != nil || !h.cfg.Store.HasStream(s)) {
			h.notFound(w, r)
			return
		}
		b, err := fs.ReadFile(h.cfg.Assets, name)
		if err != nil {
			notBuilt(w)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		w.Write(b)
	}
}

// notFound answers 404 with the styled page, or JSON under /api/.
func (h *Handler) notFound(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, "/api/") {
		writeError(w, http.StatusNotFound, "no such API: "+r.URL.Path)
		return
	}
	b, err := fs.ReadFile(h.cfg.Assets, "404.html")
	if err != nil {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusNotFound)
	w.Write(b)
}

func notBuilt(w http.ResponseWriter) {
	http.Error(w, "viewer not built: run make", http.StatusServiceUnavailable)
}

var contentTypes = map[string]string{
	".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8",
	".wasm": "application/wasm", ".html": "text/html; charset=utf-8", ".svg": "image/svg+xml",
}

// static serves static/…; main.wasm comes from the precompressed
// main.wasm.gz. Every file carries an ETag and "no-cache": a browser asks
// again each time, and gets 304 while nothing changed, so a returning
// viewer's player (and the compiled WebAssembly the browser keeps with it)
// is reused.
func (h *Handler) static(w http.ResponseWriter, r *http.Request) {
	name := strings.TrimPrefix(r.URL.Path, "/")
	if !fs.ValidPath(name) {
		http.NotFound(w, r)
		return
	}
	ext := name[strings.LastIndexByte(name, '.')+1:]
	if ct, ok := contentTypes["."+ext]; ok {
		w.Header().Set("Content-Type", ct)
	}
	file := name
	if ext == "wasm" {
		file = name + ".gz"
	}
	b, err := fs.ReadFile(h.cfg.Assets, file)
	if err != nil {
		if ext == "wasm" || strings.HasSuffix(name, "wasm_exec.js") {
			notBuilt(w)
			return
		}
		http.NotFound(w, r)
		return
	}
	etag := h.etag(file, b)
	w.Header().Set("ETag", etag)
	w.Header().Set("Cache-Control", "no-cache")
	if ext == "wasm" {
		w.Header().Set("Vary", "Accept-Encoding")
	}
	if match := r.Header.Get("If-None-Match"); match != "" && strings.Contains(match, etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	if ext != "wasm" {
		w.Write(b)
		return
	}
	if strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") {
		w.Header().Set("Content-Encoding", "gzip")
		w.Write(b)
		return
	}
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		http.Error(w, "corrupt viewer build", http.StatusInternalServerError)
		return
	}
	io.Copy(w, zr)
}

// etag is a strong validator of an embedded asset: its SHA-256, computed
// once.
func (h *Handler) etag(name string, b []byte) string {
	if v, ok := h.etags.Load(name); ok {
		return v.(string)
	}
	sum := sha256.Sum256(b)
	e := `"` + base64.RawURLEncoding.EncodeToString(sum[:12]) + `"`
	h.etags.Store(name, e)
	return e
}

func (h *Handler) limiter(r *http.Request) *rate.Limiter {
	ip, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		ip = r.RemoteAddr
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	l, ok := h.limiters[ip]
	if !ok {
		if len(h.limiters) >= maxLimiterIPs {
			h.evictLimitersLocked()
		}
		l = rate.NewLimiter(loginPerSec, loginBurst)
		h.limiters[ip] = l
	}
	return l
}

// useTicket records the ticket nonce as used until expires; false when it
// was used already. Expired entries are forgotten as new ones come.
func (h *Handler) useTicket(nonce uint64, expires, now time.Time) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, used := h.usedTickets[nonce]; used {
		return false
	}
	for n, exp := range h.usedTickets {
		if !now.Before(exp) {
			delete(h.usedTickets, n)
		}
	}
	h.usedTickets[nonce] = expires
	return true
}

// evictLimitersLocked makes room in a full limiter table: addresses whose
// budget is whole again are forgotten (a new limiter would be the same),
// and if none is, one at random, so a flood of new addresses cannot wipe
// the budget of the addresses being throttled.
func (h *Handler) evictLimitersLocked() {
	now := h.cfg.Now()
	for ip, l := range h.limiters {
		if l.TokensAt(now) >= loginBurst {
			delete(h.limiters, ip)
		}
	}
	for ip := range h.limiters {
		if len(h.limiters) < maxLimiterIPs {
			break
		}
		delete(h.limiters, ip)
	}
}

// checkPassword runs the password check when a slot is free (h.hashing),
// waiting at most loginWait; errBusy when none came free.
func (h *Handler) checkPassword(r *http.Request, user, pass string) error {
	t := time.NewTimer(loginWait)
	defer t.Stop()
	select {
	case h.hashing <- struct{}{}:
	case <-t.C:
		return errBusy
	case <-r.Context().Done():
		return r.Context().Err()
	}
	n := h.hashingNow.Add(1)
	for m := h.hashingMax.Load(); n > m && !h.hashingMax.CompareAndSwap(m, n); m = h.hashingMax.Load() {
	}
	defer func() {
		h.hashingNow.Add(-1)
		<-h.hashing
	}()
	return h.cfg.Store.CheckPassword(user, pass)
}

var errBusy = errors.New("the relay is busy checking other logins, try again in a moment")

func (h *Handler) login(w http.ResponseWriter, r *http.Request) {
	isJSON := strings.HasPrefix(r.Header.Get("Content-Type"), "application/json")
	var user, pass, next string
	r.Body = http.MaxBytesReader(w, r.Body, maxBodyBytes)
	if isJSON {
		var body struct{ Username, Password string }
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			writeError(w, http.StatusBadRequest, "malformed login request")
			return
		}
		user, pass = body.Username, body.Password
	} else {
		if err := r.ParseForm(); err != nil {
			writeError(w, http.StatusBadRequest, "malformed login form")
			return
		}
		user, pass, next = r.PostFormValue("username"), r.PostFormValue("password"), r.PostFormValue("next")
	}
	if !h.limiter(r).AllowN(h.cfg.Now(), 1) {
		h.Counters.LoginThrottled.Add(1)
		w.Header().Set("Retry-After", "1")
		if isJSON {
			writeError(w, http.StatusTooManyRequests, "too many login attempts, try again in a moment")
		} else {
			http.Redirect(w, r, "/login?error=throttled", http.StatusSeeOther)
		}
		return
	}
	if err := h.checkPassword(r, user, pass); err != nil {
		if errors.Is(err, errBusy) || r.Context().Err() != nil {
			h.Counters.LoginBusy.Add(1)
			w.Header().Set("Retry-After", "2")
			if isJSON {
				writeError(w, http.StatusServiceUnavailable, errBusy.Error())
			} else {
				http.Redirect(w, r, "/login?error=busy", http.StatusSeeOther)
			}
			return
		}
		h.Counters.LoginFailures.Add(1)
		if isJSON {
			writeError(w, http.StatusUnauthorized, "wrong username or password")
		} else {
			http.Redirect(w, r, "/login?error=1", http.StatusSeeOther)
		}
		return
	}
	id, err := h.cfg.Store.NewSession(user, h.cfg.Now(), sessionTTL)
	if err != nil {
		h.log.Warn("login session not stored", "user", user, "err", err)
		writeError(w, http.StatusServiceUnavailable, "cannot log in now: "+err.Error())
		return
	}
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: id, Path: "/", HttpOnly: true, Secure: true,
		SameSite: http.SameSiteStrictMode, MaxAge: int(sessionTTL / time.Second)})
	if isJSON {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	http.Redirect(w, r, localPath(next), http.StatusSeeOther)
}

// localPath returns next when it is a path on this relay, "/" otherwise.
// Browsers read a backslash as a slash and drop tabs and newlines from
// URLs, so "/\\evil.example" and "/\t/evil.example" would lead to another
// site ("//evil.example"): neither is allowed anywhere in the path, nor is
// any other control character or space.
func localPath(next string) string {
	if len(next) < 1 || next[0] != '/' || strings.HasPrefix(next, "//") {
		return "/"
	}
	for i := 0; i < len(next); i++ {
		if c := next[i]; c <= ' ' || c == 0x7f || c == '\\' {
			return "/"
		}
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil {
		return "/"
	}
	return next
}

func (h *Handler) logout(w http.ResponseWriter, r *http.Request) {
	if c, err := r.Cookie(cookieName); err == nil {
		if err := h.cfg.Store.EndSession(c.Value); err != nil {
			h.log.Warn("logout not stored", "err", err)
		}
	}
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: "", Path: "/", HttpOnly: true, Secure: true,
		SameSite: http.SameSiteStrictMode, MaxAge: -1})
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

// StreamInfo is one entry of GET /api/streams.
type StreamInfo struct {
	Name    string `json:"name"`
	Live    bool   `json:"live"`
	Viewers int    `json:"viewers"`
}

func (h *Handler) streams(w http.ResponseWriter, r *http.Request) {
	if h.user(r) == "" {
		writeError(w, http.StatusUnauthorized, "not logged in")
		return
	}
	out := []StreamInfo{}
	for _, name := range h.cfg.Store.Streams() {
		live, n := h.cfg.Media.StreamStatus(name)
		out = append(out, StreamInfo{Name: name, Live: live, Viewers: n})
	}
	writeJSON(w, http.StatusOK, out)
}

// TicketResponse is the answer of GET /api/ticket.
type TicketResponse struct {
	Ticket     string   `json:"ticket"`
	URL        string   `json:"url"`
	CertHashes []string `json:"certHashes"` // base64 SHA-256
	Expires    string   `json:"expires"`    // RFC 3339
}

func (h *Handler) ticket(w http.ResponseWriter, r *http.Request) {
	user, sid := h.session(r)
	if user == "" {
		writeError(w, http.StatusUnauthorized, "not logged in")
		return
	}
	stream := r.URL.Query().Get("stream")
	if !h.cfg.Store.HasStream(stream) {
		writeError(w, http.StatusNotFound, "no such stream")
		return
	}
	exp := h.cfg.Now().Add(ticketTTL)
	t, err := ticket.Sign(h.cfg.Store.TicketKey(), ticket.Ticket{Stream: stream, User: user, Session: sid, Expires: exp})
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	h.Counters.TicketsIssued.Add(1)
	resp := TicketResponse{Ticket: t, Expires: exp.UTC().Format(time.RFC3339), CertHashes: []string{},
		URL: "https://" + webTransportHost(r) + protocol.PathWebTransport + stream + "?ticket=" + url.QueryEscape(t)}
	for _, hh := range h.cfg.CertHashes() {
		resp.CertHashes = append(resp.CertHashes, base64.StdEncoding.EncodeToString(hh[:]))
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, resp)
}

// Info is the answer of GET /api/info, for pages shown before login.
type Info struct {
	// CAFingerprint is the SHA-256 of the local CA certificate, as the
	// relay prints it at start; "" with a user certificate.
	CAFingerprint string `json:"caFingerprint"`
}

func (h *Handler) info(w http.ResponseWriter, r *http.Request) {
	var i Info
	if h.cfg.CAPEM != nil {
		if b, _ := pem.Decode(h.cfg.CAPEM()); b != nil {
			i.CAFingerprint = certs.PinOf(b.Bytes).String()
		}
	}
	writeJSON(w, http.StatusOK, i)
}

func (h *Handler) caPEM(w http.ResponseWriter, r *http.Request) {
	var b []byte
	if h.cfg.CAPEM != nil {
		b = h.cfg.CAPEM()
	}
	if len(b) == 0 {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "application/x-pem-file")
	w.Header().Set("Content-Disposition", `attachment; filename="quicast-ca.pem"`)
	w.Write(b)
}

func (h *Handler) publish(w http.ResponseWriter, r *http.Request) {
	key, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	var req protocol.PublishRequest
	r.Body = http.MaxBytesReader(w, r.Body, maxBodyBytes)
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, "malformed publish request: "+err.Error())
		return
	}
	if !ok || key == "" {
		h.Counters.PublishRefused.Add(1)
		writeError(w, http.StatusUnauthorized, "missing publish key")
		return
	}
	keyID, err := h.cfg.Store.CheckPublishKey(req.Stream, key)
	if err != nil {
		// One answer for a wrong key and an unknown stream: the publish
		// endpoint does not tell who has no key which streams exist.
		h.Counters.PublishRefused.Add(1)
		if h.warnLimit.Allow() {
			h.log.Warn("publish refused: wrong publish key or no such stream", "stream", req.Stream, "remote", r.RemoteAddr,
				"earlier_not_logged", h.warnDropped.Swap(0))
		} else {
			h.warnDropped.Add(1)
		}
		writeError(w, http.StatusUnauthorized, "wrong publish key for stream "+req.Stream+", or no such stream")
		return
	}
	resp, err := h.cfg.Media.Publish(r.Context(), req.Stream, keyID, req)
	if err != nil {
		if errors.Is(err, protocol.ErrStreamLive) {
			h.Counters.PublishLive.Add(1)
			h.log.Info("publish refused: stream already live", "stream", req.Stream, "remote", r.RemoteAddr)
			writeError(w, http.StatusConflict, err.Error())
			return
		}
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	if resp.WatchURL == "" {
		resp.WatchURL = "https://" + r.Host + "/watch/" + req.Stream
	}
	writeJSON(w, http.StatusOK, resp)
}

// webTransport checks the ticket before any session exists.
func (h *Handler) webTransport(w http.ResponseWriter, r *http.Request) {
	stream := r.PathValue("stream")
	now := h.cfg.Now()
	t, err := ticket.Verify(h.cfg.Store.TicketKey(), r.URL.Query().Get("ticket"), stream, now)
	if err == nil && !h.cfg.Store.SessionActive(t.Session, t.User, now) {
		err = errors.New("the login that took the ticket has ended (logged out, new password or user removed)")
	}
	if err == nil && !h.useTicket(t.Nonce, t.Expires, now) {
		err = errors.New("the ticket was used already: take a new one")
	}
	if err != nil {
		h.Counters.TicketsRefused.Add(1)
		h.log.Debug("viewer refused", "stream", stream, "err", err)
		http.Error(w, "access refused: "+err.Error(), http.StatusForbidden)
		return
	}
	h.Counters.ViewersAccepted.Add(1)
	h.cfg.Media.ServeViewer(w, r, stream, t.User)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, protocol.ErrorResponse{Error: msg})
}

// webTransportHost is the host:port the viewer's browser opens its
// WebTransport session to: the page's own, except for "localhost".
// Chromium resolves localhost to ::1 first and, unlike for TCP, does not
// fall back to 127.0.0.1 for QUIC, so a relay listening on 127.0.0.1 (the
// demo's default) would be unreachable over WebTransport while its pages
// load. There the address the page's TCP connection reached is used.
func webTransportHost(r *http.Request) string {
	host, port, err := net.SplitHostPort(r.Host)
	if err != nil || !strings.EqualFold(host, "localhost") {
		return r.Host
	}
	local, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr)
	if !ok {
		return r.Host
	}
	ip, _, err := net.SplitHostPort(local.String())
	if err != nil {
		return r.Host
	}
	return net.JoinHostPort(ip, port)
}

// SameHost is the WebTransport origin check: it allows a session from a page
// on the relay's own host (any port: the page is served by the same relay
// over TCP). "localhost" and the loopback addresses count as one host, since
// a page on localhost is sent to the loopback address (see the ticket's URL).
func SameHost(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	u, err := url.Parse(origin)
	if err != nil {
		return false
	}
	oh, rh := u.Hostname(), hostOnly(r.Host)
	return strings.EqualFold(oh, rh) || (isLoopback(oh) && isLoopback(rh))
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
