package providers

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// splitCompact checks the shape of a compact JWS without allocating: at most max bytes,
// exactly three non-empty segments, base64url characters only, each segment of a length
// base64 can have. It stops at the first offending byte, so 100,000 dots cost three.
func splitCompact(raw string, max int) (header, payload string, err error) {
	if len(raw) > max {
		return "", "", fmt.Errorf("%w: token is %d bytes, the limit is %d", ErrMalformed, len(raw), max)
	}
	var dots [2]int
	n := 0
	for i := 0; i < len(raw); i++ {
		switch c := raw[i]; {
		case 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '-', c == '_':
		case c == '.':
			if n == len(dots) {
				return "", "", fmt.Errorf("%w: more than three segments", ErrMalformed)
			}
			dots[n] = i
			n++
		default:
			return "", "", fmt.Errorf("%w: byte 0x%02x at offset %d is not base64url", ErrMalformed, c, i)
		}
	}
	if n != len(dots) {
		return "", "", fmt.Errorf("%w: %d segments, want 3", ErrMalformed, n+1)
	}
	segs := [3]string{raw[:dots[0]], raw[dots[0]+1 : dots[1]], raw[dots[1]+1:]}
	for i, s := range segs {
		if len(s) == 0 {
			return "", "", fmt.Errorf("%w: segment %d is empty", ErrMalformed, i+1)
		}
		if len(s)%4 == 1 {
			return "", "", fmt.Errorf("%w: segment %d has an impossible base64 length", ErrMalformed, i+1)
		}
	}
	return segs[0], segs[1], nil
}

// decodeSegment decodes a header or payload segment: strict base64url (no padding, no
// stray bits, so one token has one spelling) holding UTF-8 JSON.
func decodeSegment(name, seg string) ([]byte, error) {
	b, err := base64.RawURLEncoding.Strict().DecodeString(seg)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrMalformed, name, err)
	}
	if !utf8.Valid(b) {
		return nil, fmt.Errorf("%w: %s is not UTF-8", ErrMalformed, name)
	}
	return b, nil
}

// object is a JSON object's members, undecoded.
type object map[string]json.RawMessage

// parseObject reads a JSON object whose member names are unique even ignoring case.
// encoding/json matches struct fields case-insensitively and keeps the last duplicate,
// so {"iss":"A","ISS":"B"} would read as A here and B in a struct; refusing such
// objects means every reader of the token sees the same claims.
//
// json.Valid proves first that b is one JSON value and nothing more, so the scan after it
// only has to find where each member starts and ends. (Reading it with encoding/json's
// Decoder.Token cost more than the RSA check of the signature.)
func parseObject(name string, b []byte) (object, error) {
	if !json.Valid(b) {
		return nil, fmt.Errorf("%w: %s is not a JSON value", ErrMalformed, name)
	}
	i := skipSpace(b, 0)
	if b[i] != '{' {
		return nil, fmt.Errorf("%w: %s is not a JSON object", ErrMalformed, name)
	}
	obj := object{}
	folded := map[string]bool{}
	for i = skipSpace(b, i+1); b[i] != '}'; {
		end := stringEnd(b, i)
		key, err := memberName(b[i:end])
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %v", ErrMalformed, name, err)
		}
		f := foldName(key)
		if folded[f] {
			return nil, fmt.Errorf("%w: %s has member %s twice", ErrMalformed, name, clip(key))
		}
		folded[f] = true
		i = skipSpace(b, skipSpace(b, end)+1) // past the colon
		end = valueEnd(b, i)
		obj[key] = json.RawMessage(b[i:end:end])
		if i = skipSpace(b, end); b[i] == ',' {
			i = skipSpace(b, i+1)
		}
	}
	return obj, nil
}

// The scanning helpers below work on valid JSON only, which parseObject has checked.

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// stringEnd returns the index after the closing quote of the string starting at b[i].
func stringEnd(b []byte, i int) int {
	for i++; b[i] != '"'; i++ {
		if b[i] == '\\' {
			i++
		}
	}
	return i + 1
}

// valueEnd returns the index after the value starting at b[i].
func valueEnd(b []byte, i int) int {
	switch b[i] {
	case '"':
		return stringEnd(b, i)
	case '{', '[':
		depth := 0
		for ; ; i++ {
			switch b[i] {
			case '"':
				i = stringEnd(b, i) - 1
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return i + 1
				}
			}
		}
	}
	for i < len(b) && !strings.ContainsRune(",}] \t\n\r", rune(b[i])) {
		i++
	}
	return i
}

// memberName is the name a quoted member name stands for, escapes resolved.
func memberName(quoted []byte) (string, error) {
	if !bytes.ContainsRune(quoted, '\\') {
		return string(quoted[1 : len(quoted)-1]), nil
	}
	var s string
	err := json.Unmarshal(quoted, &s)
	return s, err
}

// foldName maps every rune to the smallest rune of its case-folding orbit, so that two
// names are equal under foldName exactly when strings.EqualFold says so, which is how
// encoding/json matches names.
func foldName(s string) string {
	ascii := true
	for i := 0; i < len(s) && ascii; i++ {
		ascii = s[i] < utf8.RuneSelf
	}
	if ascii {
		// The smallest rune of an ASCII letter's orbit is its upper case; the others
		// (the Kelvin sign for k, the long s for s) lie above 0x7f.
		return strings.ToUpper(s)
	}
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		least := r
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			if f < least {
				least = f
			}
		}
		b.WriteRune(least)
	}
	return b.String()
}

var errAbsent = errors.New("absent")

// str reads a string member; errAbsent when it is missing.
func (o object) str(name string) (string, error) {
	v, ok := o[name]
	if !ok {
		return "", errAbsent
	}
	var s string
	if len(v) == 0 || v[0] != '"' {
		return "", fmt.Errorf("%s is not a string", name)
	}
	if err := json.Unmarshal(v, &s); err != nil {
		return "", fmt.Errorf("%s: %v", name, err)
	}
	return s, nil
}

// date reads a NumericDate (RFC 7519): a JSON number of seconds, never a string, which
// encoding/json would quietly accept for a json.Number.
func (o object) date(name string) (time.Time, error) {
	v, ok := o[name]
	if !ok {
		return time.Time{}, errAbsent
	}
	// v is one JSON value, and ParseFloat reads JSON numbers exactly and refuses
	// strings, literals, objects and arrays.
	f, err := strconv.ParseFloat(string(v), 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("%s is not a number", name)
	}
	// 1e11 seconds is the year 5138; beyond it time.Unix would overflow on the way in.
	if f < 0 || f > 1e11 {
		return time.Time{}, fmt.Errorf("%s is not a plausible date", name)
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)).UTC(), nil
}

// clip quotes a string taken from a token for an error message, at most 64 bytes of it:
// logs should say what was wrong, not replay 10 KB of an attacker's choosing.
func clip(s string) string {
	const max = 64
	if len(s) <= max {
		return strconv.Quote(s)
	}
	return strconv.Quote(s[:max]) + "…"
}
