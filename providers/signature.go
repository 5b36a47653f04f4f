package providers

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"

	jose "github.com/go-jose/go-jose/v4"
)

// verifySignature checks the signature of raw, a compact JWS whose header and payload
// segments are hseg and pseg, with key. The algorithm is RS256: checkHeader admitted no
// other. It reads the segments as they are, so the payload it covers is byte for byte the
// one Verify parsed; and it does no parsing of its own: a library verifier would decode the
// token again (go-oidc twice), which cost Verify three times the RSA check itself.
func verifySignature(raw, hseg, pseg string, key *rsa.PublicKey) error {
	input := raw[:len(hseg)+1+len(pseg)]
	sig, err := base64.RawURLEncoding.Strict().DecodeString(raw[len(input)+1:])
	if err != nil {
		return fmt.Errorf("signature: %v", err)
	}
	digest := sha256.Sum256([]byte(input))
	if err := rsa.VerifyPKCS1v15(key, crypto.SHA256, digest[:], sig); err != nil {
		return errors.New("signature does not verify")
	}
	return nil
}

// checkKeyHeaders refuses a header whose jwk, x5c or nonce is not what that name must
// hold: a public JWK, a chain of certificates, a string. None of them is ever used; a
// token that carries one malformed is refused all the same, as go-jose, which parsed
// them before, refuses it. A null counts as absent, as it does for go-jose.
func checkKeyHeaders(h object) error {
	present := func(name string) (json.RawMessage, bool) {
		v, ok := h[name]
		return v, ok && string(v) != "null"
	}
	if v, ok := present("jwk"); ok {
		var k jose.JSONWebKey
		if err := k.UnmarshalJSON(v); err != nil || !k.IsPublic() {
			return errors.New("header jwk is not a public JWK")
		}
	}
	if _, ok := present("nonce"); ok {
		if _, err := h.str("nonce"); err != nil {
			return errors.New("header nonce is not a string")
		}
	}
	if v, ok := present("x5c"); ok {
		var chain []string
		if err := json.Unmarshal(v, &chain); err != nil {
			return errors.New("header x5c is not a list of certificates")
		}
		for _, c := range chain {
			der, err := base64.StdEncoding.DecodeString(c)
			if err != nil {
				return errors.New("header x5c is not a list of certificates")
			}
			if _, err := x509.ParseCertificate(der); err != nil {
				return errors.New("header x5c is not a list of certificates")
			}
		}
	}
	return nil
}
