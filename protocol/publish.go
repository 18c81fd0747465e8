package protocol

import (
	"errors"
	"strconv"
	"strings"
)

// Paths of the relay's HTTPS API.
const (
	// PathPublish is POSTed by a sender with "Authorization: Bearer <publish key>"
	// and a PublishRequest body; the relay answers with a PublishResponse.
	PathPublish = "/api/publish"
	// PathWebTransport prefixes the WebTransport endpoint of a stream:
	// PathWebTransport + NAME + "?ticket=" + ticket.
	PathWebTransport = "/wt/"
)

// SRTP protection profile names as used in the publish handshake and in SDP
// a=crypto lines (RFC 4568 §6.2, RFC 7714 §14.2).
const (
	ProfileAEADAES128GCM       = "AEAD_AES_128_GCM"
	ProfileAES128CMHMACSHA1_80 = "AES_CM_128_HMAC_SHA1_80"
)

// Payload types and clock rates of the tracks quicast sends (dynamic payload
// types, RFC 3551 §6).
const (
	PayloadTypeVP8  = 96
	PayloadTypeH264 = 102
	PayloadTypeOpus = 111

	ClockRateVideo = 90000 // Hz, RFC 7741 §6.1
	ClockRateOpus  = 48000 // Hz, RFC 7587 §4.1

	// MTU is the largest SRTP packet quicast sends, in bytes. Small enough
	// that an RTP packet also fits a QUIC datagram seen by a browser (~1215).
	MTU = 1200
)

// The video codecs a sender may offer (RTP encoding names), and the W3C
// WebCodecs codec strings the catalog gives viewers for them: VP8, and
// H.264 constrained baseline level 3.1 in packetization mode 1 (what
// OpenH264 writes for real-time use).
const (
	CodecVP8  = "VP8"
	CodecH264 = "H264"

	WebCodecsVP8  = "vp8"
	WebCodecsH264 = "avc1.42E01F"
)

// VideoCodec returns the payload type and the WebCodecs codec string of
// the video codec named name (case-insensitive), and false for a codec
// quicast does not carry.
func VideoCodec(name string) (pt uint8, webCodecs string, ok bool) {
	switch strings.ToUpper(name) {
	case "", CodecVP8:
		return PayloadTypeVP8, WebCodecsVP8, true
	case CodecH264:
		return PayloadTypeH264, WebCodecsH264, true
	}
	return 0, "", false
}

// CatalogCodec returns the RTP encoding name (CodecVP8, CodecH264) of a
// catalog track's codec: its WebCodecs codec string ("vp8", "avc1.PPCCLL";
// W3C WebCodecs Codec Registry), or the encoding name itself; any case.
// It returns "" for a codec quicast does not carry.
func CatalogCodec(codec string) string {
	switch c := strings.ToLower(codec); {
	case c == WebCodecsVP8:
		return CodecVP8
	case c == strings.ToLower(CodecH264) || strings.HasPrefix(c, "avc1"):
		return CodecH264
	}
	return ""
}

// PublishRequest is the JSON body of POST PathPublish.
type PublishRequest struct {
	Stream string `json:"stream"`
	// Profile is the SRTP profile the sender asks for; empty means
	// ProfileAEADAES128GCM.
	Profile string      `json:"profile,omitempty"`
	Video   *TrackOffer `json:"video,omitempty"`
	Audio   *TrackOffer `json:"audio,omitempty"`
	// Takeover replaces the stream's live sender, which is told so
	// (EndTakenOver). Without it a live stream is refused (409 Conflict).
	Takeover bool `json:"takeover,omitempty"`
	// Resume names the sender's own previous session (PublishResponse.Session)
	// when it publishes again after losing the relay: the relay lets it
	// replace that session even while it still counts as live.
	Resume string `json:"resume,omitempty"`
}

// TrackOffer describes one track a sender will send.
type TrackOffer struct {
	Codec     string `json:"codec"`     // "VP8", "H264" or "opus" (RTP encoding names)
	ClockRate uint32 `json:"clockRate"` // Hz
	Channels  uint16 `json:"channels,omitempty"`
	Width     int    `json:"width,omitempty"`  // pixels
	Height    int    `json:"height,omitempty"` // pixels
}

// PublishResponse is the relay's answer to a PublishRequest. The keys protect
// both directions; the relay's own RTCP (PLI, receiver reports) uses
// RelaySSRC, so its SRTCP nonces never collide with the sender's.
type PublishResponse struct {
	Session    string `json:"session"`
	Profile    string `json:"profile"`
	MasterKey  []byte `json:"masterKey"`  // 16 bytes, base64 in JSON
	MasterSalt []byte `json:"masterSalt"` // 12 (GCM) or 14 (CM) bytes
	VideoSSRC  uint32 `json:"videoSSRC,omitempty"`
	AudioSSRC  uint32 `json:"audioSSRC,omitempty"`
	RelaySSRC  uint32 `json:"relaySSRC"`
	VideoPT    uint8  `json:"videoPT,omitempty"`
	AudioPT    uint8  `json:"audioPT,omitempty"`
	// Addr is the UDP host:port to send SRTP and SRTCP to (rtcp-mux, RFC 5761).
	Addr string `json:"addr"`
	// WatchURL is where viewers watch this stream.
	WatchURL string `json:"watchURL,omitempty"`
}

// ErrorResponse is the JSON body of every non-2xx API answer.
type ErrorResponse struct {
	Error string `json:"error"`
}

var (
	// ErrBadStreamName reports a stream name outside [A-Za-z0-9_-]{1,64}.
	ErrBadStreamName = errors.New("protocol: bad stream name")
	// ErrStreamLive refuses to publish a stream another sender is live on
	// (HTTP 409 Conflict); PublishRequest.Takeover overrides it.
	ErrStreamLive = errors.New("stream already live")
)

// ValidStreamName reports whether name may name a stream: 1 to 64 characters
// of [A-Za-z0-9_-], so it can sit in a URL path unescaped.
func ValidStreamName(name string) error {
	ok := len(name) >= 1 && len(name) <= 64
	for i := 0; ok && i < len(name); i++ {
		c := name[i]
		ok = c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-'
	}
	if !ok {
		return Detail(ErrBadStreamName, strconv.Quote(name)+" (want 1-64 of A-Z a-z 0-9 _ -)")
	}
	return nil
}
