// Package web serves every HTTP route of the relay: the login, stream list
// and watch pages, the JSON API they use, viewer tickets, the publish
// handshake, and the WebTransport endpoint. The same handler serves HTTPS on
// TCP and HTTP/3 on QUIC.
//
// web.go: the handler and its routes; pages.go: the pages and static
// files; auth.go: logging in and out (limits, password checks); api.go:
// the JSON API, tickets, publishing and the WebTransport endpoint;
// origin.go: which host and origin a request comes from.
package web

import (
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"github.com/quicast/quicast/protocol"
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
	// ServePublisher upgrades the request to WebTransport and serves a
	// room participant publishing stream (protocol README §4.2), allowed
	// by keyID, until the session ends.
	ServePublisher(w http.ResponseWriter, r *http.Request, stream, keyID string)
	// RoomParticipants returns the participants of room that publish
	// now, oldest first.
	RoomParticipants(room string) []protocol.Participant
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

	limits  loginLimits
	tickets ticketLedger
	invites invites
	etags   sync.Map // asset name → ETag

	// hashing holds one token per password check running: argon2id takes
	// ~19 MiB and tens of ms of a core each, so a login storm from many
	// addresses (which the per-address limit does not stop) queues here
	// instead of taking the relay's memory and the media path's CPU.
	hashing    chan struct{}
	hashingMax atomic.Int32 // the most checks seen running at once
	hashingNow atomic.Int32
	loginWait  time.Duration // loginWait; tests that are not about it wait longer

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
		invites:     invites{byID: map[string]*invite{}, missed: map[string][]protocol.MissedCall{}, wake: map[string]chan struct{}{}},
		hashing:     make(chan struct{}, runtime.GOMAXPROCS(0)),
		loginWait:   loginWait,
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
	m.HandleFunc("GET /room/{room}", h.page("room.html", true))
	m.HandleFunc("GET /static/", h.static)
	m.HandleFunc("POST /api/login", h.login)
	m.HandleFunc("POST /api/logout", h.logout)
	m.HandleFunc("GET /api/streams", h.streams)
	m.HandleFunc("GET /api/ticket", h.ticket)
	m.HandleFunc("GET /api/ca.pem", h.caPEM)
	m.HandleFunc("GET "+protocol.PathRooms+"{$}", h.rooms)
	m.HandleFunc("GET "+protocol.PathRooms+"{room}", h.room)
	m.HandleFunc("POST "+protocol.PathRooms+"{room}/join", h.joinRoom)
	m.HandleFunc("POST "+protocol.PathRooms+"{room}/invite", h.invite)
	m.HandleFunc("GET "+protocol.PathInvites+"{$}", h.pendingInvites)
	m.HandleFunc("GET "+protocol.PathInvites+"{id}", h.inviteState)
	m.HandleFunc("POST "+protocol.PathInvites+"{id}/answer", h.answerInvite(protocol.InviteAnswered))
	m.HandleFunc("POST "+protocol.PathInvites+"{id}/decline", h.answerInvite(protocol.InviteDeclined))
	m.HandleFunc(protocol.PathWebTransportPublish+"{stream}", h.webTransportPublish)
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
		"connect-src 'self' https: ; img-src 'self' data: blob:; media-src 'self' blob:; style-src 'self'; frame-ancestors 'self'")
	// Cross-origin isolation: the pages load nothing from elsewhere, and
	// isolated they may share memory with the audio worklet (the players
	// hand it their sound through a SharedArrayBuffer, static/app.js).
	hd.Set("Cross-Origin-Opener-Policy", "same-origin")
	hd.Set("Cross-Origin-Embedder-Policy", "require-corp")
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
		h.log.Debug("no login", "method", r.Method, "path", r.URL.Path, "why", "no session cookie")
		return "", ""
	}
	u, ok := h.cfg.Store.SessionUser(c.Value, h.cfg.Now())
	if !ok {
		h.log.Debug("no login", "method", r.Method, "path", r.URL.Path, "why", "unknown, expired or ended session")
		return "", ""
	}
	return u, store.SessionID(c.Value)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, protocol.ErrorResponse{Error: msg})
}
