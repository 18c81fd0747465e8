package protocol

import (
	"errors"
	"strings"
)

// Paths of the relay's room API (protocol/README.md §4).
const (
	// PathRooms is GET for the list of rooms (RoomInfo without
	// participants); PathRooms + NAME is GET for one room (RoomInfo) and
	// PathRooms + NAME + "/join" is POSTed to take part (RoomJoin).
	PathRooms = "/api/rooms/"
	// PathWebTransportPublish prefixes the WebTransport endpoint a
	// participant publishes on: PathWebTransportPublish + ROOM.USER +
	// "?ticket=" + ticket.
	PathWebTransportPublish = "/wt-publish/"
)

// roomSep joins a room's name and a participant's: it is outside the
// stream-name alphabet, so a participant's stream never shadows a stream.
const roomSep = "."

// ErrNotRoomStream reports a stream name that is not ROOM.USER.
var ErrNotRoomStream = errors.New("protocol: not a room participant's stream")

// RoomStream returns the name of user's stream in room: "ROOM.USER". Both
// names must be valid stream names (ValidStreamName).
func RoomStream(room, user string) string { return room + roomSep + user }

// SplitRoomStream splits a participant's stream name "ROOM.USER"; it returns
// ErrNotRoomStream for any other name, a plain stream's included.
func SplitRoomStream(name string) (room, user string, err error) {
	room, user, ok := strings.Cut(name, roomSep)
	if !ok || ValidStreamName(room) != nil || ValidStreamName(user) != nil {
		return "", "", Detail(ErrNotRoomStream, name)
	}
	return room, user, nil
}

// RoomInfo is the answer of GET PathRooms + NAME, and one entry of GET
// PathRooms (there without Participants).
type RoomInfo struct {
	Name string `json:"name"`
	// Live counts the participants publishing now.
	Live         int           `json:"live"`
	Participants []Participant `json:"participants,omitempty"`
}

// Participant is one member of a room that is publishing, or was within
// the relay's publisher timeout.
type Participant struct {
	User   string `json:"user"`
	Stream string `json:"stream"` // RoomStream(room, User): watch it as any stream
	// Since is when the participant's current publish session started
	// (RFC 3339).
	Since string `json:"since"`
}

// RoomJoin is the answer of POST PathRooms + NAME + "/join": what a logged-in
// user needs to publish into the room.
type RoomJoin struct {
	Room   string `json:"room"`
	User   string `json:"user"`
	Stream string `json:"stream"` // RoomStream(Room, User)
	// PublishKey publishes Stream over SRTP (POST PathPublish, as a
	// stream's publish key) while the login it was issued to lasts; a
	// sender that loses the relay publishes again with it.
	PublishKey string `json:"publishKey"`
	// URL is the WebTransport URL to publish Stream from a browser
	// (§4.2), with a ticket good for one session within a minute.
	URL        string   `json:"url"`
	CertHashes []string `json:"certHashes"` // base64 SHA-256, as in a viewer ticket
	Expires    string   `json:"expires"`    // of PublishKey, RFC 3339
}

// Invitation states (protocol README §4.3).
const (
	InviteRinging  = "ringing"
	InviteAnswered = "answered"
	InviteDeclined = "declined"
	InviteMissed   = "missed" // nobody answered in time
)

// PathInvites is GET for the logged-in user's ringing invitations
// (Invites; "?wait=SECONDS" waits up to 25 s for one); PathInvites + ID is
// GET for one invitation (Invite), PathInvites + ID + "/answer" and
// "/decline" are POSTed by the callee. PathRooms + NAME + "/invite" is
// POSTed by the caller with {"user": NAME}.
const PathInvites = "/api/invites/"

// Invite is a call to a person: From asks To to join Room.
type Invite struct {
	ID      string `json:"id"`
	From    string `json:"from"`
	To      string `json:"to"`
	Room    string `json:"room"`
	State   string `json:"state"`   // InviteRinging, …
	Created string `json:"created"` // RFC 3339
}

// MissedCall is an invitation that rang out.
type MissedCall struct {
	From string `json:"from"`
	Room string `json:"room"`
	At   string `json:"at"` // when it rang, RFC 3339
}

// Invites is the answer of GET PathInvites.
type Invites struct {
	Ringing []Invite     `json:"ringing"`
	Missed  []MissedCall `json:"missed"` // the latest, oldest first
}
