package web

import (
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/quicast/quicast/certs"
	"github.com/quicast/quicast/protocol"
	"github.com/quicast/quicast/protocol/ticket"
)

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

// ticketLedger remembers the tickets that opened a session until they
// expire, under a lock of its own.
type ticketLedger struct {
	mu   sync.Mutex
	used map[uint64]time.Time // nonce → expiry
}

// use records the ticket nonce as used until expires; false when it was
// used already. Expired entries are forgotten as new ones come.
func (l *ticketLedger) use(nonce uint64, expires, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.used == nil {
		l.used = map[uint64]time.Time{}
	}
	if _, used := l.used[nonce]; used {
		return false
	}
	for n, exp := range l.used {
		if !now.Before(exp) {
			delete(l.used, n)
		}
	}
	l.used[nonce] = expires
	return true
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
	var keyID string
	var err error
	if _, _, rerr := protocol.SplitRoomStream(req.Stream); rerr == nil {
		keyID, err = h.roomPublisher(req.Stream, key) // a room participant's login
	} else {
		keyID, err = h.cfg.Store.CheckPublishKey(req.Stream, key)
	}
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
	if err == nil && !h.tickets.use(t.Nonce, t.Expires, now) {
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
