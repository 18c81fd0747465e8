// Package i18n holds the desktop window's words in English and Simplified
// Chinese.
package i18n

import (
	"fmt"
	"strings"
)

// Lang is a language of the window.
type Lang int

const (
	English Lang = iota
	Chinese
)

// Langs are the languages offered, in menu order.
var Langs = []Lang{English, Chinese}

// Name is the language's name in itself.
func (l Lang) Name() string {
	if l == Chinese {
		return "简体中文"
	}
	return "English"
}

// Code is the setting value: "en" or "zh".
func (l Lang) Code() string {
	if l == Chinese {
		return "zh"
	}
	return "en"
}

// Parse reads a setting value; "" and unknown values give ok false.
func Parse(code string) (Lang, bool) {
	switch strings.ToLower(code) {
	case "en":
		return English, true
	case "zh":
		return Chinese, true
	}
	return English, false
}

// FromEnv picks the language from the POSIX locale variables (LC_ALL,
// LC_MESSAGES, LANG, in that order of precedence): Chinese for zh_*,
// English otherwise. getenv is os.Getenv outside tests.
func FromEnv(getenv func(string) string) Lang {
	for _, v := range []string{"LC_ALL", "LC_MESSAGES", "LANG"} {
		if s := getenv(v); s != "" {
			if strings.HasPrefix(strings.ToLower(s), "zh") {
				return Chinese
			}
			return English
		}
	}
	return English
}

// Msg identifies a text of the window.
type Msg int

const (
	Title Msg = iota
	Camera
	Microphone
	NoDevice
	TestPicture
	TestTone
	AFile
	Off
	FilePath
	Relay
	Stream
	PublishKey
	Quality
	Start
	Stop
	Quit
	Copy
	Copied
	Pin
	Language
	Preview
	PreviewOff
	PreviewHidden
	StatusIdle
	StatusStarting
	StatusLive
	StatusStopping
	StatusFailed
	Elapsed
	VideoStat
	AudioLevel
	PacketsSent
	LossReported
	Viewers
	ViewerLink
	NoInternet
	RelayUnreachable
	ReasonTimeout
	ReasonRefused
	ReasonNoRoute
	ReasonName
	RelayUntrusted
	RelayOK
	Checking
	ErrBadKey
	ErrNoStream
	ErrDevice
	ErrDeviceGone
	ErrRelayGone
	ErrFile
	ErrFields
	StatusReconnecting
	ErrStreamLive
	ErrTakenOver
	ErrRevoked
	Takeover
	CAFile
	CAFileHint
	ReasonIntercepted
	ModeBroadcast
	ModeCall
	Room
	CallUser
	CallPassword
	StartCall
	HangUp
	CallConnecting
	CallWaiting
	CallPartyLost
	You
	CallIn
	CallEnded
	ErrCallFields
	ErrCall
	ErrSpeaker
	TheirPicture
	TheirPictureStat
	TheirSound
	TheirSoundStat
	Network
	NetworkStat
	CallReconnecting
	Headphones
	Mute
	Unmute
	CameraOff
	CameraOn
	CallAlone
	ViaRelay
	ViaDirect
	TheirAddress
	TheirCode
	CallsToYou
	Ringing
	Answer
	Decline
	MissedCall
	ErrDirectFields
	CallHungUp
	DirectNAT
	ErrListen
	RingMe
	CallsYouTo
	CallSomeone
	Ring
	InviteRinging
	InviteAnswered
	InviteDeclined
	InviteMissed
	ErrInvite
	ErrRinger
	MissedCallRoom
	CallSilent
	numMsgs
)

var texts = [2][numMsgs]string{
	English: {
		Title:              "quicast",
		Camera:             "Camera",
		Microphone:         "Microphone",
		NoDevice:           "No device available",
		TestPicture:        "Test picture (built in)",
		TestTone:           "Test tone (built in)",
		AFile:              "A file…",
		Off:                "Off",
		FilePath:           "File path (.y4m, .wav, or anything ffmpeg reads)",
		Relay:              "Relay",
		Stream:             "Stream",
		PublishKey:         "Publish key",
		Quality:            "Quality",
		Start:              "Start broadcast",
		Stop:               "Stop",
		Quit:               "Quit",
		Copy:               "Copy",
		Copied:             "Copied",
		Pin:                "Trust this relay",
		Language:           "Language",
		Preview:            "Show self view",
		PreviewOff:         "No camera preview",
		PreviewHidden:      "Self view hidden",
		StatusIdle:         "Ready",
		StatusStarting:     "Starting…",
		StatusLive:         "Broadcasting",
		StatusStopping:     "Stopping…",
		StatusFailed:       "Stopped with an error",
		Elapsed:            "Elapsed",
		VideoStat:          "Video",
		AudioLevel:         "Audio level",
		PacketsSent:        "Packets sent",
		LossReported:       "Loss (relay)",
		Viewers:            "Viewers",
		ViewerLink:         "Viewer link",
		NoInternet:         "No internet connection",
		RelayUnreachable:   "Relay unreachable: %s",
		ReasonTimeout:      "no answer (timed out)",
		ReasonRefused:      "connection refused (is the relay running on that port?)",
		ReasonNoRoute:      "no route to its network",
		ReasonName:         "host name %s not found",
		RelayUntrusted:     "Relay not trusted. Compare its CA's SHA-256 with what the relay printed: %s",
		RelayOK:            "Relay reachable, round trip %s",
		Checking:           "Checking the network…",
		ErrBadKey:          "The relay refused the publish key. Check the key and the stream's name.",
		ErrNoStream:        "The relay has no stream with this name.",
		ErrDevice:          "The %s cannot be opened: it may be in use by another program (%s).",
		ErrDeviceGone:      "The %s stopped working: unplugged or taken by another program (%s).",
		ErrRelayGone:       "The relay stopped answering. Check the network, then start again.",
		ErrFile:            "The file cannot be read: %s",
		ErrFields:          "Fill in the relay address, the stream name and the publish key.",
		StatusReconnecting: "Reconnecting (attempt %d, next in %d s)…",
		ErrStreamLive:      "Another sender is live on this stream. Take it over, or stop the other sender first.",
		ErrTakenOver:       "Another sender took this stream over.",
		ErrRevoked:         "The relay revoked this publish key. Ask for the new one.",
		Takeover:           "Take over",
		CAFile:             "Relay's CA file",
		CAFileHint:         "optional: its ca.pem",
		ReasonIntercepted:  "answered by something else (captive portal or proxy?)",
		ModeBroadcast:      "Broadcast",
		ModeCall:           "Call",
		Room:               "Room",
		CallUser:           "Your name",
		CallPassword:       "Your password",
		StartCall:          "Start call",
		HangUp:             "Hang up",
		CallConnecting:     "Calling…",
		CallWaiting:        "Waiting for their picture…",
		CallPartyLost:      "Reconnecting…",
		You:                "You",
		CallIn:             "In call with %s",
		CallEnded:          "Call ended",
		ErrCallFields:      "Fill in the relay, the room, and your name and password on the relay.",
		ErrCall:            "The call cannot go on: %s",
		ErrSpeaker:         "No sound output (%s): their picture only.",
		TheirPicture:       "Their picture",
		TheirPictureStat:   "%d ms from their camera, %d frames, %.0f kbit/s",
		TheirSound:         "Their sound",
		TheirSoundStat:     "%d ms buffered, %d packets lost",
		Network:            "Network",
		NetworkStat:        "round trip %s, %.1f %% lost, sending %.0f kbit/s",
		CallReconnecting:   "Their stream was lost: reconnecting (attempt %d)…",
		Mute:               "Mute",
		Unmute:             "Unmute",
		CameraOff:          "Camera off",
		CameraOn:           "Camera on",
		CallAlone:          "Nobody else is in room %s yet: waiting for them to join…",
		ViaRelay:           "Through a relay",
		ViaDirect:          "Direct (LAN)",
		TheirAddress:       "Their address",
		TheirCode:          "Their code",
		CallsToYou:         "Calls to you: %s   code %s",
		Ringing:            "%s is calling",
		Answer:             "Answer",
		Decline:            "Decline",
		MissedCall:         "Missed call from %s at %s",
		ErrDirectFields:    "Fill in their address and the code their window shows, and your name.",
		CallHungUp:         "Reason: %s",
		DirectNAT:          "A direct call needs each side to reach the other's port (TCP and UDP): a LAN or a VPN. Across the internet, call through a relay.",
		ErrListen:          "Cannot take direct calls: %s",
		RingMe:             "Ring me here when someone calls me on this relay",
		CallsYouTo:         "%s is calling you to room %s",
		CallSomeone:        "Call someone to this room",
		Ring:               "Ring",
		InviteRinging:      "Ringing %s…",
		InviteAnswered:     "%s answered and is joining",
		InviteDeclined:     "%s declined the call",
		InviteMissed:       "%s did not answer",
		ErrInvite:          "Cannot call %s: %s",
		ErrRinger:          "Cannot wait for calls: %s",
		MissedCallRoom:     "Missed call from %s (room %s) at %s",
		CallSilent:         "Nothing from %s for %d s: the network between you may be down. Waiting for it…",
		Headphones:         "With a microphone the call cancels the loudspeaker's echo (speexdsp); headphones still sound best.",
	},
	Chinese: {
		Title:              "quicast",
		Camera:             "摄像头",
		Microphone:         "麦克风",
		NoDevice:           "没有可用的设备",
		TestPicture:        "测试画面（内置）",
		TestTone:           "测试音（内置）",
		AFile:              "文件…",
		Off:                "关闭",
		FilePath:           "文件路径（.y4m、.wav 或 ffmpeg 能读的格式）",
		Relay:              "中继服务器",
		Stream:             "直播流",
		PublishKey:         "推流密钥",
		Quality:            "画质",
		Start:              "开始直播",
		Stop:               "停止",
		Quit:               "退出",
		Copy:               "复制",
		Copied:             "已复制",
		Pin:                "信任此中继服务器",
		Language:           "语言",
		Preview:            "显示本地画面",
		PreviewOff:         "没有摄像头预览",
		PreviewHidden:      "本地画面已隐藏",
		StatusIdle:         "就绪",
		StatusStarting:     "正在开始…",
		StatusLive:         "直播中",
		StatusStopping:     "正在停止…",
		StatusFailed:       "因错误而停止",
		Elapsed:            "已用时间",
		VideoStat:          "视频",
		AudioLevel:         "音量",
		PacketsSent:        "已发送数据包",
		LossReported:       "丢包（中继报告）",
		Viewers:            "观众",
		ViewerLink:         "观看链接",
		NoInternet:         "没有网络连接",
		RelayUnreachable:   "无法连接中继服务器：%s",
		ReasonTimeout:      "无应答（超时）",
		ReasonRefused:      "连接被拒绝（该端口上有中继服务器在运行吗？）",
		ReasonNoRoute:      "无法到达其网络",
		ReasonName:         "找不到主机名 %s",
		RelayUntrusted:     "中继服务器不受信任。请将其 CA 的 SHA-256 与中继服务器显示的核对：%s",
		RelayOK:            "中继服务器可达，往返时间 %s",
		Checking:           "正在检查网络…",
		ErrBadKey:          "中继服务器拒绝了推流密钥，请检查密钥和直播流名称。",
		ErrNoStream:        "中继服务器上没有这个名称的直播流。",
		ErrDevice:          "无法打开%s：可能正被其他程序使用（%s）。",
		ErrDeviceGone:      "%s停止工作：已拔出或被其他程序占用（%s）。",
		ErrRelayGone:       "中继服务器没有响应。请检查网络后重新开始。",
		ErrFile:            "无法读取文件：%s",
		ErrFields:          "请填写中继服务器地址、直播流名称和推流密钥。",
		StatusReconnecting: "正在重新连接（第 %d 次尝试，%d 秒后）…",
		ErrStreamLive:      "另一个推流端正在此直播流上直播。可以接管，或先停止另一个推流端。",
		ErrTakenOver:       "另一个推流端接管了此直播流。",
		ErrRevoked:         "中继服务器已吊销此推流密钥，请索取新的密钥。",
		Takeover:           "接管",
		CAFile:             "中继服务器的 CA 文件",
		CAFileHint:         "可选：其 ca.pem",
		ReasonIntercepted:  "应答来自其他设备（强制门户或代理？）",
		ModeBroadcast:      "直播",
		ModeCall:           "通话",
		Room:               "房间",
		CallUser:           "您的用户名",
		CallPassword:       "您的密码",
		StartCall:          "开始通话",
		HangUp:             "挂断",
		CallConnecting:     "正在呼叫…",
		CallWaiting:        "正在等待对方的画面…",
		CallPartyLost:      "正在重新连接…",
		You:                "你",
		CallIn:             "与 %s 通话中",
		CallEnded:          "通话已结束",
		ErrCallFields:      "请填写中继服务器、房间，以及您在中继服务器上的用户名和密码。",
		ErrCall:            "通话无法继续：%s",
		ErrSpeaker:         "没有声音输出（%s）：只有画面。",
		TheirPicture:       "对方的画面",
		TheirPictureStat:   "距对方摄像头 %d 毫秒，%d 帧，%.0f kbit/s",
		TheirSound:         "对方的声音",
		TheirSoundStat:     "缓冲 %d 毫秒，丢失 %d 个包",
		Network:            "网络",
		NetworkStat:        "往返 %s，丢包 %.1f %%，发送 %.0f kbit/s",
		CallReconnecting:   "与对方的直播流断开：正在重新连接（第 %d 次）…",
		Mute:               "静音",
		Unmute:             "取消静音",
		CameraOff:          "关闭摄像头",
		CameraOn:           "打开摄像头",
		CallAlone:          "房间 %s 里还没有其他人：正在等待对方加入…",
		ViaRelay:           "通过中继服务器",
		ViaDirect:          "直连（局域网）",
		TheirAddress:       "对方的地址",
		TheirCode:          "对方的通话码",
		CallsToYou:         "呼叫您的地址：%s   通话码 %s",
		Ringing:            "%s 正在呼叫您",
		Answer:             "接听",
		Decline:            "拒绝",
		MissedCall:         "未接来电：%s（%s）",
		ErrDirectFields:    "请填写对方的地址、对方窗口显示的通话码以及您的名字。",
		CallHungUp:         "原因：%s",
		DirectNAT:          "直连通话要求双方能访问对方的端口（TCP 和 UDP）：局域网或 VPN。跨越互联网时请通过中继服务器通话。",
		ErrListen:          "无法接听直连呼叫：%s",
		RingMe:             "有人通过此中继服务器呼叫我时在这里响铃",
		CallsYouTo:         "%s 正在呼叫您加入房间 %s",
		CallSomeone:        "呼叫某人加入此房间",
		Ring:               "呼叫",
		InviteRinging:      "正在呼叫 %s…",
		InviteAnswered:     "%s 已接听，正在加入",
		InviteDeclined:     "%s 拒绝了通话",
		InviteMissed:       "%s 没有接听",
		ErrInvite:          "无法呼叫 %s：%s",
		ErrRinger:          "无法等待来电：%s",
		MissedCallRoom:     "未接来电：%s（房间 %s，%s）",
		CallSilent:         "%s 已有 %d 秒没有声音和画面传来：你们之间的网络可能断了。正在等待…",
		Headphones:         "使用麦克风时通话会消除扬声器的回声（speexdsp）；耳机效果仍然最好。",
	},
}

// T returns the text of m in l, formatted with args when it has verbs.
func (l Lang) T(m Msg, args ...any) string {
	s := texts[l][m]
	if len(args) > 0 {
		return fmt.Sprintf(s, args...)
	}
	return s
}
