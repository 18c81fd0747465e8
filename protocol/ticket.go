package protocol

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Ticket errors. Verify wraps one of them with details.
var (
	ErrTicketMalformed = errors.New("protocol: malformed ticket")
	ErrTicketForged    = errors.New("protocol: ticket signature invalid")
	ErrTicketExpired   = errors.New("protocol: ticket expired")
	ErrTicketStream    = errors.New("protocol: ticket is for another stream")
)

// TicketKeySize is the size of the relay's ticket signing key, in bytes.
const TicketKeySize = 32

const ticketVersion = 1

// A Ticket lets one viewer open one stream until Expires. Browsers send no
// cookies or headers with a WebTransport CONNECT, so the watch page fetches a
// ticket with its session cookie and passes it in the URL query.
//
// Encoded form: "v1." + base64url(payload) + "." + base64url(HMAC-SHA256(key, payload)),
// no padding, where payload is
//
//	+---------+--------------------+--------+--------+--------+------+
//	| version | expires (unix s)   | len(S) | S      | len(U) | U    |
//	| 1 byte  | 8 bytes, big end.  | 1 byte | stream | 1 byte | user |
//	+---------+--------------------+--------+--------+--------+------+
type Ticket struct {
	Stream  string
	User    string
	Expires time.Time // second resolution
}

// SignTicket encodes and signs t with key (TicketKeySize bytes). Stream and
// User longer than 255 bytes are an error.
func SignTicket(key []byte, t Ticket) (string, error) {
	if len(t.Stream) > 255 || len(t.User) > 255 {
		return "", fmt.Errorf("%w: stream or user longer than 255 bytes", ErrTicketMalformed)
	}
	p := make([]byte, 0, 11+len(t.Stream)+len(t.User))
	p = append(p, ticketVersion)
	p = binary.BigEndian.AppendUint64(p, uint64(t.Expires.Unix()))
	p = append(p, byte(len(t.Stream)))
	p = append(p, t.Stream...)
	p = append(p, byte(len(t.User)))
	p = append(p, t.User...)
	enc := base64.RawURLEncoding
	return "v1." + enc.EncodeToString(p) + "." + enc.EncodeToString(ticketMAC(key, p)), nil
}

// VerifyTicket checks the signature and expiry of s and that it was issued for
// stream. It returns the decoded ticket, or an error wrapping
// ErrTicketMalformed, ErrTicketForged, ErrTicketExpired or ErrTicketStream.
func VerifyTicket(key []byte, s, stream string, now time.Time) (Ticket, error) {
	t, err := verifyTicketMAC(key, s)
	if err != nil {
		return Ticket{}, err
	}
	if !now.Before(t.Expires) {
		return Ticket{}, fmt.Errorf("%w: at %s", ErrTicketExpired, t.Expires.UTC().Format(time.RFC3339))
	}
	if t.Stream != stream {
		return Ticket{}, fmt.Errorf("%w: %q, not %q", ErrTicketStream, t.Stream, stream)
	}
	return t, nil
}

func verifyTicketMAC(key []byte, s string) (Ticket, error) {
	rest, ok := strings.CutPrefix(s, "v1.")
	if !ok {
		return Ticket{}, fmt.Errorf("%w: no v1 prefix", ErrTicketMalformed)
	}
	p64, m64, ok := strings.Cut(rest, ".")
	if !ok {
		return Ticket{}, fmt.Errorf("%w: no signature", ErrTicketMalformed)
	}
	enc := base64.RawURLEncoding
	p, err := enc.DecodeString(p64)
	if err != nil {
		return Ticket{}, fmt.Errorf("%w: payload: %v", ErrTicketMalformed, err)
	}
	mac, err := enc.DecodeString(m64)
	if err != nil {
		return Ticket{}, fmt.Errorf("%w: signature: %v", ErrTicketMalformed, err)
	}
	if !hmac.Equal(mac, ticketMAC(key, p)) {
		return Ticket{}, ErrTicketForged
	}
	return parseTicketPayload(p)
}

func parseTicketPayload(p []byte) (Ticket, error) {
	if len(p) < 11 {
		return Ticket{}, fmt.Errorf("%w: payload %d < 11 bytes", ErrTicketMalformed, len(p))
	}
	if p[0] != ticketVersion {
		return Ticket{}, fmt.Errorf("%w: version %d", ErrTicketMalformed, p[0])
	}
	exp := binary.BigEndian.Uint64(p[1:9])
	p = p[9:]
	stream, p, ok := cutLenPrefixed(p)
	if !ok {
		return Ticket{}, fmt.Errorf("%w: stream field", ErrTicketMalformed)
	}
	user, p, ok := cutLenPrefixed(p)
	if !ok || len(p) != 0 {
		return Ticket{}, fmt.Errorf("%w: user field", ErrTicketMalformed)
	}
	if exp > 1<<62 {
		return Ticket{}, fmt.Errorf("%w: expiry %d", ErrTicketMalformed, exp)
	}
	return Ticket{Stream: string(stream), User: string(user), Expires: time.Unix(int64(exp), 0)}, nil
}

func cutLenPrefixed(p []byte) (field, rest []byte, ok bool) {
	if len(p) < 1 || len(p) < 1+int(p[0]) {
		return nil, nil, false
	}
	n := int(p[0])
	return p[1 : 1+n], p[1+n:], true
}

func ticketMAC(key, payload []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write(payload)
	return m.Sum(nil)
}
