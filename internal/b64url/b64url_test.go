package b64url_test

import (
	"encoding/base64"
	"strings"
	"testing"

	"github.com/tpx-dev/tpx/internal/b64url"
)

func TestIsHoldsExactlyTheAlphabetOfBase64URL(t *testing.T) {
	// The standard library's encoder spells each 6-bit value v, the top of the byte v<<2,
	// as the first character of its encoding.
	var alphabet strings.Builder
	for v := range byte(64) {
		alphabet.WriteByte(base64.RawURLEncoding.EncodeToString([]byte{v << 2})[0])
	}
	for c := range 256 {
		if got, want := b64url.Is(byte(c)), strings.IndexByte(alphabet.String(), byte(c)) >= 0; got != want {
			t.Errorf("Is(%q) = %v, want %v", byte(c), got, want)
		}
	}
}
