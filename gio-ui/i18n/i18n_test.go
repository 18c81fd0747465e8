package i18n

import (
	"strings"
	"testing"
)

func TestEveryTextTranslated(t *testing.T) {
	for m := Msg(0); m < numMsgs; m++ {
		en, zh := texts[English][m], texts[Chinese][m]
		if en == "" || zh == "" {
			t.Errorf("message %d: en %q zh %q", m, en, zh)
		}
		if strings.Count(en, "%") != strings.Count(zh, "%") {
			t.Errorf("message %d: %q and %q take different arguments", m, en, zh)
		}
	}
}

func TestFromEnv(t *testing.T) {
	for env, want := range map[string]Lang{
		"LANG=zh_CN.UTF-8":                    Chinese,
		"LANG=en_US.UTF-8":                    English,
		"LC_ALL=zh_CN.UTF-8 LANG=en_US.UTF-8": Chinese,
		"LC_ALL=C LANG=zh_CN.UTF-8":           English,
		"LC_MESSAGES=zh_TW LANG=en_GB":        Chinese,
		"":                                    English,
	} {
		vars := map[string]string{}
		for _, kv := range strings.Fields(env) {
			k, v, _ := strings.Cut(kv, "=")
			vars[k] = v
		}
		if got := FromEnv(func(k string) string { return vars[k] }); got != want {
			t.Errorf("%q: %v, want %v", env, got.Name(), want.Name())
		}
	}
}
