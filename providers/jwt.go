package providers

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/tpx-dev/tpx/internal/b64url"
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
		case b64url.Is(c):
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

// object is a JSON object's members in document order, their values undecoded. Member
// names are unique even ignoring case (parseObject refuses others), so a lookup by name
// finds at most one.
type object []member

type member struct {
	name  string // escapes resolved
	value string // the raw JSON value
	// fold is name when name is ASCII, else foldName(name): compared with foldCompare,
	// two members' folds are equal exactly when their names are under strings.EqualFold.
	fold string
}

// get returns the raw value of the member named name exactly.
func (o object) get(name string) (string, bool) {
	for i := range o {
		if o[i].name == name {
			return o[i].value, true
		}
	}
	return "", false
}

// parseObject reads a JSON object whose member names are unique even ignoring case.
// encoding/json matches struct fields case-insensitively and keeps the last duplicate,
// so {"iss":"A","ISS":"B"} would read as A here and B in a struct; refusing such
// objects means every reader of the token sees the same claims.
//
// json.Valid proves first that b is one JSON value and nothing more, so the scan after it
// only has to find where each member starts and ends. Names and values are slices of one
// copy of b: a token's thirty-odd claims cost one allocation, not one each.
func parseObject(name string, b []byte) (object, error) {
	if !json.Valid(b) {
		return nil, fmt.Errorf("%w: %s is not a JSON value", ErrMalformed, name)
	}
	s := string(b)
	i := skipSpace(s, 0)
	if s[i] != '{' {
		return nil, fmt.Errorf("%w: %s is not a JSON object", ErrMalformed, name)
	}
	obj := make(object, 0, strings.Count(s, ":"))
	for i = skipSpace(s, i+1); s[i] != '}'; {
		end := stringEnd(s, i)
		key, err := memberName(s[i:end])
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %v", ErrMalformed, name, err)
		}
		i = skipSpace(s, skipSpace(s, end)+1) // past the colon
		end = valueEnd(s, i)
		obj = append(obj, member{name: key, value: s[i:end], fold: foldKey(key)})
		if i = skipSpace(s, end); s[i] == ',' {
			i = skipSpace(s, i+1)
		}
	}
	// Sorted by folded name, equal names are neighbours. The order of members carries no
	// meaning once each name is known to be unique.
	slices.SortFunc(obj, func(a, b member) int { return foldCompare(a.fold, b.fold) })
	for j := 1; j < len(obj); j++ {
		if foldCompare(obj[j-1].fold, obj[j].fold) == 0 {
			return nil, fmt.Errorf("%w: %s has member %s twice", ErrMalformed, name, clip(obj[j].name))
		}
	}
	return obj, nil
}

// foldKey is what foldCompare compares for name: name itself when it is ASCII (folded as
// it is compared), else foldName(name).
func foldKey(name string) string {
	for i := 0; i < len(name); i++ {
		if name[i] >= utf8.RuneSelf {
			return foldName(name)
		}
	}
	return name
}

// foldCompare orders fold keys as their foldName forms order bytewise: ASCII letters
// compare as upper case, every other byte as itself (foldName has already mapped the
// runes outside ASCII to the least of their case-folding orbit).
func foldCompare(a, b string) int {
	for i := 0; i < len(a) && i < len(b); i++ {
		x, y := upperASCII(a[i]), upperASCII(b[i])
		if x != y {
			return int(x) - int(y)
		}
	}
	return len(a) - len(b)
}

func upperASCII(c byte) byte {
	if 'a' <= c && c <= 'z' {
		return c - ('a' - 'A')
	}
	return c
}

// The scanning helpers below work on valid JSON only, which parseObject has checked.

func skipSpace(b string, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// stringEnd returns the index after the closing quote of the string starting at b[i].
func stringEnd(b string, i int) int {
	for i++; b[i] != '"'; i++ {
		if b[i] == '\\' {
			i++
		}
	}
	return i + 1
}

// valueEnd returns the index after the value starting at b[i].
func valueEnd(b string, i int) int {
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
func memberName(quoted string) (string, error) { return unquote(quoted) }

// unquote is the string a JSON string literal (valid, as parseObject has checked) stands
// for. Without escapes it is the literal's inside, shared, not copied; with them,
// encoding/json resolves them, so that every reader agrees on what a claim says. A NUL
// character, which JSON allows only escaped, is refused: no claim needs one, and the
// database stores none in text.
func unquote(quoted string) (string, error) {
	if !strings.Contains(quoted, "\\") {
		return quoted[1 : len(quoted)-1], nil
	}
	var s string
	if err := json.Unmarshal([]byte(quoted), &s); err != nil {
		return "", err
	}
	if strings.IndexByte(s, 0) >= 0 {
		return "", errors.New("a string holds a NUL character")
	}
	return s, nil
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
	v, ok := o.get(name)
	if !ok {
		return "", errAbsent
	}
	if v[0] != '"' {
		return "", fmt.Errorf("%s is not a string", name)
	}
	s, err := unquote(v)
	if err != nil {
		return "", fmt.Errorf("%s: %v", name, err)
	}
	return s, nil
}

// date reads a NumericDate (RFC 7519): a JSON number of seconds, never a string, which
// encoding/json would quietly accept for a json.Number.
func (o object) date(name string) (time.Time, error) {
	v, ok := o.get(name)
	if !ok {
		return time.Time{}, errAbsent
	}
	// v is one JSON value, and ParseFloat reads JSON numbers exactly and refuses
	// strings, literals, objects and arrays.
	f, err := strconv.ParseFloat(v, 64)
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
