package providers

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

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

// numericID checks a platform id: decimal digits, as both platforms send them, short
// enough for any integer column.
func numericID(name, v string) error {
	if v == "" {
		return fmt.Errorf("%s is missing", name)
	}
	if len(v) > 19 || strings.Trim(v, "0123456789") != "" {
		return fmt.Errorf("%s %s is not a decimal id", name, clip(v))
	}
	return nil
}

// ownerSlashName checks "owner/name" with no empty segment; nested allows more segments
// in the owner part (GitLab subgroups).
func ownerSlashName(claim, v string, nested bool) error {
	if v == "" {
		return fmt.Errorf("%s is missing", claim)
	}
	parts := strings.Split(v, "/")
	if len(parts) < 2 || (!nested && len(parts) > 2) || slices.Contains(parts, "") {
		return fmt.Errorf("%s %s is not an owner/name path", claim, clip(v))
	}
	return nil
}
