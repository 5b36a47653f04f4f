package exchange

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"

	"github.com/tpx-dev/tpx/providers"
)

// issuerOf reads the iss claim of raw without verifying anything, only to route the
// token: to the kill switch, and to a per-issuer count of outcomes. It returns a
// configured issuer (enabled or switched off) or "", never any other string a caller
// put in a token. Verify parses the token again, strictly; and since switched-off
// issuers are unknown to the Verifier, a token this reading gets wrong is refused all the
// same.
func (s *Service) issuerOf(raw string) string {
	if len(raw) > providers.DefaultMaxTokenBytes {
		return ""
	}
	parts := strings.SplitN(raw, ".", 4)
	if len(parts) != 3 {
		return ""
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return ""
	}
	// A map, not a struct: encoding/json matches struct fields without case, and the
	// claim is "iss" exactly.
	var claims map[string]json.RawMessage
	var iss string
	if json.Unmarshal(payload, &claims) != nil || json.Unmarshal(claims["iss"], &iss) != nil {
		return ""
	}
	if s.disabled[iss] {
		return iss
	}
	if _, ok := s.cfg.Verifier.Lookup(iss); ok {
		return iss
	}
	return ""
}

// attribute names the issuer on an exchange's failure; a success names the verified one.
func attribute(err error, iss string) {
	var e *Error
	if errors.As(err, &e) && e.Issuer == "" {
		e.Issuer = iss
	}
}
