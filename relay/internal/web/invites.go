package web

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/quicast/quicast/protocol"
)

// Calling a person, as a phone does: a participant of a room invites a
// user to it; every page and window of that user that waits for calls
// (GET /api/invites, a long poll) rings; one answers (it then joins the
// room) or declines; an invitation nobody answers within inviteTTL is a
// missed call for the callee and "no answer" for the caller, who follows
// its state (GET /api/invites/ID). Invitations live in memory: a relay that
// restarts forgets the ringing ones, as a phone network drops a call.

const (
	inviteTTL     = 45 * time.Second
	inviteWaitMax = 25 * time.Second // a long poll's longest wait
	maxMissed     = 10               // missed calls kept per user
	maxRinging    = 8                // invitations ringing per callee
)

type invite struct {
	protocol.Invite
	expires time.Time
}

// invites holds the invitations of the relay's users.
type invites struct {
	mu     sync.Mutex
	byID   map[string]*invite
	missed map[string][]protocol.MissedCall // by callee
	wake   map[string]chan struct{}         // by callee: closed when their ringing changes
}

// changedLocked wakes user's long polls.
func (iv *invites) changedLocked(user string) {
	if ch, ok := iv.wake[user]; ok {
		close(ch)
		delete(iv.wake, user)
	}
}

// expireLocked turns invitations past their time into missed calls.
func (iv *invites) expireLocked(now time.Time) {
	for id, in := range iv.byID {
		switch {
		case in.State == protocol.InviteRinging && !now.Before(in.expires):
			in.State = protocol.InviteMissed
			m := append(iv.missed[in.To], protocol.MissedCall{From: in.From, Room: in.Room, At: in.Created})
			iv.missed[in.To] = m[max(0, len(m)-maxMissed):]
			iv.changedLocked(in.To)
		case in.State != protocol.InviteRinging && now.Sub(in.expires) > inviteTTL:
			delete(iv.byID, id) // the caller has had time to see how it ended
		}
	}
}

// inviteRequest is the body of POST /api/rooms/NAME/invite.
type inviteRequest struct {
	User string `json:"user"`
}

func (h *Handler) invite(w http.ResponseWriter, r *http.Request) {
	from := h.user(r)
	if from == "" {
		writeError(w, http.StatusUnauthorized, "not logged in")
		return
	}
	room := r.PathValue("room")
	var req inviteRequest
	r.Body = http.MaxBytesReader(w, r.Body, maxBodyBytes)
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, "malformed invitation: "+err.Error())
		return
	}
	switch {
	case !h.cfg.Store.HasRoom(room):
		writeError(w, http.StatusNotFound, "no such room")
		return
	case req.User == from:
		writeError(w, http.StatusBadRequest, "you cannot call yourself")
		return
	case !h.cfg.Store.UserExists(req.User):
		writeError(w, http.StatusNotFound, "no user named "+strconv.Quote(req.User)+" on this relay")
		return
	}
	now := h.cfg.Now()
	b := make([]byte, 12)
	rand.Read(b)
	in := &invite{Invite: protocol.Invite{ID: hex.EncodeToString(b), From: from, To: req.User, Room: room,
		State: protocol.InviteRinging, Created: now.UTC().Format(time.RFC3339)}, expires: now.Add(inviteTTL)}
	iv := &h.invites
	iv.mu.Lock()
	iv.expireLocked(now)
	ringing := 0
	for _, o := range iv.byID {
		if o.To == req.User && o.State == protocol.InviteRinging {
			ringing++
		}
	}
	if ringing >= maxRinging {
		iv.mu.Unlock()
		writeError(w, http.StatusTooManyRequests, req.User+" has too many calls ringing")
		return
	}
	iv.byID[in.ID] = in
	iv.changedLocked(req.User)
	out := in.Invite
	iv.mu.Unlock()
	h.log.Info("call invitation", "from", from, "to", req.User, "room", room)
	writeJSON(w, http.StatusOK, out)
}

// pendingInvites is GET /api/invites[?wait=SECONDS]: the caller's ringing
// invitations and missed calls, at once when there are any ringing,
// otherwise when one comes or the wait (at most inviteWaitMax) is over.
func (h *Handler) pendingInvites(w http.ResponseWriter, r *http.Request) {
	user := h.user(r)
	if user == "" {
		writeError(w, http.StatusUnauthorized, "not logged in")
		return
	}
	wait, _ := strconv.Atoi(r.URL.Query().Get("wait"))
	d := min(time.Duration(max(wait, 0))*time.Second, inviteWaitMax)
	ctx, cancel := context.WithTimeout(r.Context(), d)
	defer cancel()
	iv := &h.invites
	for {
		iv.mu.Lock()
		iv.expireLocked(h.cfg.Now())
		resp := protocol.Invites{Ringing: []protocol.Invite{}, Missed: append([]protocol.MissedCall{}, iv.missed[user]...)}
		var next time.Time
		for _, in := range iv.byID {
			if in.To == user && in.State == protocol.InviteRinging {
				resp.Ringing = append(resp.Ringing, in.Invite)
				if next.IsZero() || in.expires.Before(next) {
					next = in.expires
				}
			}
		}
		ch, ok := iv.wake[user]
		if !ok {
			ch = make(chan struct{})
			iv.wake[user] = ch
		}
		iv.mu.Unlock()
		if len(resp.Ringing) > 0 || ctx.Err() != nil {
			w.Header().Set("Cache-Control", "no-store")
			writeJSON(w, http.StatusOK, resp)
			return
		}
		select {
		case <-ch:
		case <-ctx.Done():
		}
	}
}

// inviteState is GET /api/invites/ID, for the caller and the callee.
func (h *Handler) inviteState(w http.ResponseWriter, r *http.Request) {
	user := h.user(r)
	if user == "" {
		writeError(w, http.StatusUnauthorized, "not logged in")
		return
	}
	iv := &h.invites
	iv.mu.Lock()
	iv.expireLocked(h.cfg.Now())
	in, ok := iv.byID[r.PathValue("id")]
	var out protocol.Invite
	if ok {
		out = in.Invite
	}
	iv.mu.Unlock()
	if !ok || (out.From != user && out.To != user) {
		writeError(w, http.StatusNotFound, "no such invitation")
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, out)
}

// answerInvite is POST /api/invites/ID/answer and …/decline, by the callee.
func (h *Handler) answerInvite(state string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		user := h.user(r)
		if user == "" {
			writeError(w, http.StatusUnauthorized, "not logged in")
			return
		}
		iv := &h.invites
		iv.mu.Lock()
		iv.expireLocked(h.cfg.Now())
		in, ok := iv.byID[r.PathValue("id")]
		switch {
		case !ok || in.To != user:
			iv.mu.Unlock()
			writeError(w, http.StatusNotFound, "no such invitation")
			return
		case in.State != protocol.InviteRinging:
			st := in.State
			iv.mu.Unlock()
			writeError(w, http.StatusConflict, "the call is "+st+" already")
			return
		}
		in.State = state
		out := in.Invite
		iv.changedLocked(user) // the callee's other pages stop ringing
		iv.mu.Unlock()
		h.log.Info("call invitation "+state, "from", out.From, "to", user, "room", out.Room)
		writeJSON(w, http.StatusOK, out)
	}
}
