package policy

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Helpers for the platforms' Claims.Validate. Their errors quote token values clipped, since
// they end up in logs.

// numericID checks a platform id: decimal digits, as GitHub and GitLab send them, short
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

// clip quotes a claim value for an error, cut to 64 bytes.
func clip(s string) string {
	const max = 64
	if len(s) <= max {
		return strconv.Quote(s)
	}
	return strconv.Quote(s[:max]) + "…"
}
