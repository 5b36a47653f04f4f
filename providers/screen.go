package providers

import (
	"fmt"
	"slices"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/tpx-dev/tpx/verify/keycache"
)

// Screen refuses, before any signature, go-jose parse or key fetch, the tokens whose key id
// their issuer's key cache does not hold while that cache may not fetch (keycache's
// Unknown): the refusal Verify would give them, in the same words. It returns a nil error
// for every other token, which Verify must judge, and issuer names the configured issuer
// the token named, if any, for counting the refusal against it. It never fetches and never
// waits, so a flood of made-up key ids costs a few microseconds a token, not a verification.
// fetch says that Verify would fetch the issuer's keys for the token, or wait for a fetch
// in flight, because its issuer does not hold its key id: such a token waits on the
// issuer, not on a processor.
//
// Verify checks, in order, the token's shape, its payload's iss, its header (by go-jose:
// the algorithm allowlist, the members it understands) and then the key. Screen refuses
// only tokens that pass the first three as Verify would: a header of alg (one of the
// issuer's algorithms), kid and typ alone, all strings, so its refusal is never one Verify
// would have given another reason for.
func (s *Set) Screen(raw string) (issuer string, fetch bool, err error) {
	hseg, pseg, err := splitCompact(raw, s.cfg.MaxTokenBytes)
	if err != nil {
		return "", false, nil
	}
	hb, err := decodeSegment("header", hseg)
	if err != nil {
		return "", false, nil
	}
	h, err := parseObject("header", hb)
	if err != nil {
		return "", false, nil
	}
	kid, ok := plainHeader(h)
	if !ok {
		return "", false, nil
	}
	// A key id some issuer holds is a valid token's, nearly always: Verify judges it, and
	// the payload is not read twice.
	for _, is := range s.issuers {
		if is.keys.Holds(kid) {
			return "", false, nil
		}
	}
	payload, err := decodeSegment("payload", pseg)
	if err != nil {
		return "", false, nil
	}
	claims, err := parseObject("payload", payload)
	if err != nil {
		return "", false, nil
	}
	iss, err := claims.str("iss")
	if err != nil {
		return "", false, nil
	}
	is, ok := s.byIss[iss]
	if !ok || is.Disabled {
		return "", false, nil
	}
	alg, _ := h.str("alg")
	switch {
	case !slices.ContainsFunc(is.algs, func(a jose.SignatureAlgorithm) bool { return string(a) == alg }):
		return is.Issuer, false, nil
	case !is.keys.Unknown(kid):
		return is.Issuer, !is.keys.Holds(kid), nil
	}
	return is.Issuer, false, &CheckError{
		Public: fmt.Sprintf("the token is signed with key %s, which is not among the keys its issuer publishes; request a fresh token", clip(kid)),
		Err:    fmt.Errorf("%s: %w: kid %s, refused within the key cache's cooldown", is.Issuer, keycache.ErrUnknownKey, clip(kid))}
}

// plainHeader returns the kid of a header whose members are alg, kid and typ alone, each
// a string, the kid of the length Verify accepts.
func plainHeader(h object) (kid string, ok bool) {
	for _, m := range h {
		switch m.name {
		case "alg", "kid", "typ":
			if m.value[0] != '"' {
				return "", false
			}
		default:
			return "", false
		}
	}
	kid, err := h.str("kid")
	if err != nil || kid == "" || len(kid) > maxKidBytes {
		return "", false
	}
	if _, err := h.str("alg"); err != nil {
		return "", false
	}
	return kid, true
}
