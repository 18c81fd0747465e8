package ticket

import (
	"crypto/hmac"
	"crypto/rand"
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
	ErrMalformed = errors.New("ticket: malformed")
	ErrForged    = errors.New("ticket: signature invalid")
	ErrExpired   = errors.New("ticket: expired")
	ErrStream    = errors.New("ticket: for another stream")
)

// KeySize is the size of the relay's ticket signing key, in bytes.
const KeySize = 32

const version = 2

// A Ticket lets one viewer open one session on one stream until Expires.
// Browsers send no cookies or headers with a WebTransport CONNECT, so the
// watch page fetches a ticket with its session cookie and passes it in the
// URL query. The relay accepts each ticket once (Nonce) and only while the
// login session that took it (Session) lasts.
//
// Encoded form: "v2." + base64url(payload) + "." + base64url(HMAC-SHA256(key, payload)),
// no padding, where payload is
//
//	+---------+-------------------+-----------+--------+--------+--------+------+--------+---------+
//	| version | expires (unix s)  | nonce     | len(S) | S      | len(U) | U    | len(L) | L       |
//	| 1 byte  | 8 bytes, big end. | 8 bytes   | 1 byte | stream | 1 byte | user | 1 byte | session |
//	+---------+-------------------+-----------+--------+--------+--------+------+--------+---------+
type Ticket struct {
	Stream  string
	User    string
	Session string    // the relay's reference to the login session that took it
	Nonce   uint64    // makes each ticket unique; Sign draws one when 0
	Expires time.Time // second resolution
}

// Sign encodes and signs t with key (KeySize bytes). Stream, User and
// Session longer than 255 bytes are an error.
func Sign(key []byte, t Ticket) (string, error) {
	if len(t.Stream) > 255 || len(t.User) > 255 || len(t.Session) > 255 {
		return "", fmt.Errorf("%w: stream, user or session longer than 255 bytes", ErrMalformed)
	}
	if t.Nonce == 0 {
		var b [8]byte
		rand.Read(b[:])
		t.Nonce = binary.BigEndian.Uint64(b[:]) | 1
	}
	p := make([]byte, 0, 20+len(t.Stream)+len(t.User)+len(t.Session))
	p = append(p, version)
	p = binary.BigEndian.AppendUint64(p, uint64(t.Expires.Unix()))
	p = binary.BigEndian.AppendUint64(p, t.Nonce)
	p = append(p, byte(len(t.Stream)))
	p = append(p, t.Stream...)
	p = append(p, byte(len(t.User)))
	p = append(p, t.User...)
	p = append(p, byte(len(t.Session)))
	p = append(p, t.Session...)
	enc := base64.RawURLEncoding
	return "v2." + enc.EncodeToString(p) + "." + enc.EncodeToString(sign(key, p)), nil
}

// Verify checks the signature and expiry of s and that it was issued for
// stream. It returns the decoded ticket, or an error wrapping
// ErrMalformed, ErrForged, ErrExpired or ErrStream.
func Verify(key []byte, s, stream string, now time.Time) (Ticket, error) {
	t, err := verifyMAC(key, s)
	if err != nil {
		return Ticket{}, err
	}
	if !now.Before(t.Expires) {
		return Ticket{}, fmt.Errorf("%w: at %s", ErrExpired, t.Expires.UTC().Format(time.RFC3339))
	}
	if t.Stream != stream {
		return Ticket{}, fmt.Errorf("%w: %q, not %q", ErrStream, t.Stream, stream)
	}
	return t, nil
}

func verifyMAC(key []byte, s string) (Ticket, error) {
	rest, ok := strings.CutPrefix(s, "v2.")
	if !ok {
		return Ticket{}, fmt.Errorf("%w: no v2 prefix", ErrMalformed)
	}
	p64, m64, ok := strings.Cut(rest, ".")
	if !ok {
		return Ticket{}, fmt.Errorf("%w: no signature", ErrMalformed)
	}
	enc := base64.RawURLEncoding
	p, err := enc.DecodeString(p64)
	if err != nil {
		return Ticket{}, fmt.Errorf("%w: payload: %v", ErrMalformed, err)
	}
	mac, err := enc.DecodeString(m64)
	if err != nil {
		return Ticket{}, fmt.Errorf("%w: signature: %v", ErrMalformed, err)
	}
	if !hmac.Equal(mac, sign(key, p)) {
		return Ticket{}, ErrForged
	}
	return parsePayload(p)
}

func parsePayload(p []byte) (Ticket, error) {
	if len(p) < 20 {
		return Ticket{}, fmt.Errorf("%w: payload %d < 20 bytes", ErrMalformed, len(p))
	}
	if p[0] != version {
		return Ticket{}, fmt.Errorf("%w: version %d", ErrMalformed, p[0])
	}
	exp := binary.BigEndian.Uint64(p[1:9])
	nonce := binary.BigEndian.Uint64(p[9:17])
	p = p[17:]
	stream, p, ok := cutLenPrefixed(p)
	if !ok {
		return Ticket{}, fmt.Errorf("%w: stream field", ErrMalformed)
	}
	user, p, ok := cutLenPrefixed(p)
	if !ok {
		return Ticket{}, fmt.Errorf("%w: user field", ErrMalformed)
	}
	session, p, ok := cutLenPrefixed(p)
	if !ok || len(p) != 0 {
		return Ticket{}, fmt.Errorf("%w: session field", ErrMalformed)
	}
	if exp > 1<<62 {
		return Ticket{}, fmt.Errorf("%w: expiry %d", ErrMalformed, exp)
	}
	return Ticket{Stream: string(stream), User: string(user), Session: string(session), Nonce: nonce,
		Expires: time.Unix(int64(exp), 0)}, nil
}

func cutLenPrefixed(p []byte) (field, rest []byte, ok bool) {
	if len(p) < 1 || len(p) < 1+int(p[0]) {
		return nil, nil, false
	}
	n := int(p[0])
	return p[1 : 1+n], p[1+n:], true
}

func sign(key, payload []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write(payload)
	return m.Sum(nil)
}
