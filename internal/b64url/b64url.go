// Package b64url tells the characters of base64url (RFC 4648 §5), the alphabet of a
// compact JWS's segments, by a table: a token's characters follow no pattern, and testing
// each against the alphabet's ranges makes the processor mispredict many of those tests,
// on every byte of every token an exchange reads.
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
