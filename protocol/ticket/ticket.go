package ticket

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
	ErrMalformed = errors.New("ticket: malformed")
	ErrForged    = errors.New("ticket: signature invalid")
	ErrExpired   = errors.New("ticket: expired")
	ErrStream    = errors.New("ticket: for another stream")
)

// KeySize is the size of the relay's ticket signing key, in bytes.
const KeySize = 32

const version = 1

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

// Sign encodes and signs t with key (KeySize bytes). Stream and
// User longer than 255 bytes are an error.
func Sign(key []byte, t Ticket) (string, error) {
	if len(t.Stream) > 255 || len(t.User) > 255 {
		return "", fmt.Errorf("%w: stream or user longer than 255 bytes", ErrMalformed)
	}
	p := make([]byte, 0, 11+len(t.Stream)+len(t.User))
	p = append(p, version)
	p = binary.BigEndian.AppendUint64(p, uint64(t.Expires.Unix()))
	p = append(p, byte(len(t.Stream)))
	p = append(p, t.Stream...)
	p = append(p, byte(len(t.User)))
	p = append(p, t.User...)
	enc := base64.RawURLEncoding
	return "v1." + enc.EncodeToString(p) + "." + enc.EncodeToString(sign(key, p)), nil
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
	rest, ok := strings.CutPrefix(s, "v1.")
	if !ok {
		return Ticket{}, fmt.Errorf("%w: no v1 prefix", ErrMalformed)
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
	if len(p) < 11 {
		return Ticket{}, fmt.Errorf("%w: payload %d < 11 bytes", ErrMalformed, len(p))
	}
	if p[0] != version {
		return Ticket{}, fmt.Errorf("%w: version %d", ErrMalformed, p[0])
	}
	exp := binary.BigEndian.Uint64(p[1:9])
	p = p[9:]
	stream, p, ok := cutLenPrefixed(p)
	if !ok {
		return Ticket{}, fmt.Errorf("%w: stream field", ErrMalformed)
	}
	user, p, ok := cutLenPrefixed(p)
	if !ok || len(p) != 0 {
		return Ticket{}, fmt.Errorf("%w: user field", ErrMalformed)
	}
	if exp > 1<<62 {
		return Ticket{}, fmt.Errorf("%w: expiry %d", ErrMalformed, exp)
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

func sign(key, payload []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write(payload)
	return m.Sum(nil)
}
