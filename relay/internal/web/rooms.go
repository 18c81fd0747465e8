package web

import (
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"time"

	"github.com/quicast/quicast/protocol"
	"github.com/quicast/quicast/protocol/ticket"
	"github.com/quicast/quicast/relay/internal/store"
)

// A room's participants publish with their login: POST …/join gives a
// logged-in user a publish key for their own stream in the room (a ticket
// signed like a viewer's, good while the login lasts) and a WebTransport
// URL to publish from a browser. Everyone logged in may watch every
// participant, as any stream.

// roomKeyTTL bounds a participant's publish key: a sender that loses the
// relay publishes again with it, so it outlives a call; the login it was
// issued to must still be active at each use.
const roomKeyTTL = sessionTTL

func (h *Handler) rooms(w http.ResponseWriter, r *http.Request) {
	if h.user(r) == "" {
		writeError(w, http.StatusUnauthorized, "not logged in")
		return
	}
	out := []protocol.RoomInfo{}
	for _, name := range h.cfg.Store.Rooms() {
		out = append(out, protocol.RoomInfo{Name: name, Live: len(h.cfg.Media.RoomParticipants(name))})
	}
	writeJSON(w, http.StatusOK, out)
}

func (h *Handler) room(w http.ResponseWriter, r *http.Request) {
	if h.user(r) == "" {
		writeError(w, http.StatusUnauthorized, "not logged in")
		return
	}
	name := r.PathValue("room")
	if !h.cfg.Store.HasRoom(name) {
		writeError(w, http.StatusNotFound, "no such room")
		return
	}
	ps := h.cfg.Media.RoomParticipants(name)
	if ps == nil {
		ps = []protocol.Participant{}
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, protocol.RoomInfo{Name: name, Live: len(ps), Participants: ps})
}

func (h *Handler) joinRoom(w http.ResponseWriter, r *http.Request) {
	user, sid := h.session(r)
	if user == "" {
		writeError(w, http.StatusUnauthorized, "not logged in")
		return
	}
	room := r.PathValue("room")
	if !h.cfg.Store.HasRoom(room) {
		writeError(w, http.StatusNotFound, "no such room")
		return
	}
	stream := protocol.RoomStream(room, user)
	now := h.cfg.Now()
	key, err := ticket.Sign(h.cfg.Store.TicketKey(), ticket.Ticket{Stream: stream, User: user, Session: sid, Expires: now.Add(roomKeyTTL)})
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	wt, err := ticket.Sign(h.cfg.Store.TicketKey(), ticket.Ticket{Stream: stream, User: user, Session: sid, Expires: now.Add(ticketTTL)})
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	resp := protocol.RoomJoin{Room: room, User: user, Stream: stream, PublishKey: key, CertHashes: []string{},
		URL:     "https://" + webTransportHost(r) + protocol.PathWebTransportPublish + stream + "?ticket=" + url.QueryEscape(wt),
		Expires: now.Add(roomKeyTTL).UTC().Format(time.RFC3339)}
	for _, hh := range h.cfg.CertHashes() {
		resp.CertHashes = append(resp.CertHashes, base64.StdEncoding.EncodeToString(hh[:]))
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, resp)
}

// roomPublisher checks a participant's publish key or ticket for stream
// ROOM.USER: signed for that stream, issued to USER, by a login still
// active, in a room that exists. It returns the key ID the hub checks the
// session against (store.RoomKeyID).
func (h *Handler) roomPublisher(stream, key string) (keyID string, err error) {
	_, user, err := protocol.SplitRoomStream(stream)
	if err != nil {
		return "", err
	}
	now := h.cfg.Now()
	t, err := ticket.Verify(h.cfg.Store.TicketKey(), key, stream, now)
	switch {
	case err != nil:
		return "", err
	case t.User != user:
		return "", errors.New("the key is another participant's")
	case !h.cfg.Store.SessionActive(t.Session, t.User, now):
		return "", errors.New("the login that joined the room has ended (logged out, new password or user removed)")
	case !h.cfg.Store.HasStream(stream):
		return "", store.ErrNoRoom
	}
	return store.RoomKeyID(user), nil
}

// webTransportPublish checks the participant's ticket before any session
// exists, then hands the session to the hub.
func (h *Handler) webTransportPublish(w http.ResponseWriter, r *http.Request) {
	stream := r.PathValue("stream")
	tk := r.URL.Query().Get("ticket")
	keyID, err := h.roomPublisher(stream, tk)
	if err == nil {
		t, _ := ticket.Verify(h.cfg.Store.TicketKey(), tk, stream, h.cfg.Now())
		if !h.tickets.use(t.Nonce, t.Expires, h.cfg.Now()) {
			err = errors.New("the ticket was used already: join again")
		}
	}
	if err != nil {
		h.Counters.PublishRefused.Add(1)
		h.log.Debug("participant refused", "stream", stream, "err", err)
		http.Error(w, "access refused: "+err.Error(), http.StatusForbidden)
		return
	}
	h.cfg.Media.ServePublisher(w, r, stream, keyID)
}
