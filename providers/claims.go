package providers

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/tpx-dev/tpx/policy"
)

// decodeClaims decodes a verified payload into a platform's typed claims; a claim of the
// wrong JSON type makes the token malformed.
func decodeClaims(payload []byte, v any) error {
	if err := json.Unmarshal(payload, v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return fmt.Errorf("%w: claim %s is a JSON %s, want %s", ErrMalformed, te.Field, te.Value, te.Type)
		}
		return fmt.Errorf("%w: claims: %v", ErrMalformed, err)
	}
	return nil
}

// fill copies the platform's fields of from into id, keeping the issuer, jti and times
// that the common checks already set.
func fill(id *policy.Identity, from policy.Identity) {
	from.Issuer, from.JTI, from.IssuedAt, from.Expiry = id.Issuer, id.JTI, id.IssuedAt, id.Expiry
	*id = from
}
