// Package b64url tells the characters of base64url (RFC 4648 §5), the alphabet of a
// compact JWS's segments, by a table: a token's characters follow no pattern, and a test
// per range of characters makes the processor guess wrong at many of them, which made
// reading a token's characters cost a tenth of verifying its signature.
package b64url

// alphabet marks the 64 characters of base64url.
var alphabet = func() (t [256]bool) {
	for _, c := range []byte("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") {
		t[c] = true
	}
	return t
}()

// Is reports whether c is one of base64url's 64 characters (padding is not).
func Is(c byte) bool { return alphabet[c] }
