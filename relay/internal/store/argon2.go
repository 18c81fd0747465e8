package store

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/argon2"
)

// argon2Params are the argon2id cost parameters (RFC 9106 §4).
type argon2Params struct {
	Memory  uint32 // KiB
	Time    uint32 // passes
	Threads uint8
	KeyLen  uint32 // bytes
}

// defaultParams: 19 MiB, 2 passes, 1 lane — the OWASP minimum for argon2id,
// ~30 ms per login on one core here, so a login storm cannot starve the
// media path of memory.
var defaultParams = argon2Params{Memory: 19 * 1024, Time: 2, Threads: 1, KeyLen: 32}

var errBadHash = errors.New("store: malformed argon2id hash")

// hashPassword returns the PHC string form of an argon2id hash:
// $argon2id$v=19$m=MEMORY,t=TIME,p=THREADS$SALT$HASH (salt and hash base64,
// no padding).
func hashPassword(password string, p argon2Params) string {
	salt := make([]byte, 16)
	rand.Read(salt)
	h := argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, p.KeyLen)
	enc := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.Memory, p.Time, p.Threads,
		enc.EncodeToString(salt), enc.EncodeToString(h))
}

// parseHash parses the PHC string form of an argon2id hash.
func parseHash(s string) (p argon2Params, salt, hash []byte, err error) {
	parts := strings.Split(s, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return p, nil, nil, fmt.Errorf("%w: want 6 $-separated fields starting $argon2id", errBadHash)
	}
	var v int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &v); err != nil || v != argon2.Version {
		return p, nil, nil, fmt.Errorf("%w: version %q", errBadHash, parts[2])
	}
	var threads uint32
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.Memory, &p.Time, &threads); err != nil {
		return p, nil, nil, fmt.Errorf("%w: parameters %q", errBadHash, parts[3])
	}
	// Bounds keep a tampered file from asking for absurd work.
	if p.Memory < 8 || p.Memory > 1<<21 || p.Time < 1 || p.Time > 16 || threads < 1 || threads > 16 {
		return p, nil, nil, fmt.Errorf("%w: parameters out of range %q", errBadHash, parts[3])
	}
	p.Threads = uint8(threads)
	enc := base64.RawStdEncoding
	if salt, err = enc.DecodeString(parts[4]); err != nil || len(salt) < 8 {
		return p, nil, nil, fmt.Errorf("%w: salt", errBadHash)
	}
	if hash, err = enc.DecodeString(parts[5]); err != nil || len(hash) < 16 || len(hash) > 64 {
		return p, nil, nil, fmt.Errorf("%w: hash", errBadHash)
	}
	p.KeyLen = uint32(len(hash))
	return p, salt, hash, nil
}

func verifyPassword(encoded, password string) (bool, error) {
	p, salt, want, err := parseHash(encoded)
	if err != nil {
		return false, err
	}
	got := argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, p.KeyLen)
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}
