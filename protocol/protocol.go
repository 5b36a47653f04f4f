package protocol

import (
	"fmt"
	"net/url"
	"slices"
	"strings"

	"github.com/tpx-dev/tpx/verify"
)

// Protocol is one client protocol of trusted publishing.
type Protocol string

// The protocols tpx speaks.
const (
	// PyPI: POST /_/oidc/mint-token {"token"}; the audience is TPX_AUDIENCE, which
	// clients read from GET /_/oidc/audience.
	PyPI Protocol = "pypi"
	// NPM: POST /-/npm/v1/oidc/token/exchange/package/NAME with the CI token as bearer;
	// the audience is "npm:" and the registry's host name.
	NPM Protocol = "npm"
	// Cargo: POST /api/v1/trusted_publishing/tokens {"jwt"}; the audience is the
	// registry's URL without its scheme.
	Cargo Protocol = "cargo"
)

// Parse reads TPX_PROTOCOLS: a comma-separated list of pypi, npm and cargo, each at most
// once. Empty is pypi alone, as tpx always served.
func Parse(list string) ([]Protocol, error) {
	if strings.TrimSpace(list) == "" {
		return []Protocol{PyPI}, nil
	}
	var out []Protocol
	for _, f := range strings.Split(list, ",") {
		p := Protocol(strings.TrimSpace(f))
		switch p {
		case PyPI, NPM, Cargo:
		default:
			return nil, fmt.Errorf("protocol %q: use pypi, npm or cargo, separated by commas", string(p))
		}
		if slices.Contains(out, p) {
			return nil, fmt.Errorf("protocol %s is listed twice", p)
		}
		out = append(out, p)
	}
	return out, nil
}

// Names is the naming rule of the index a deployment serving protocols stands in front
// of: npm's when it speaks npm, crates.io's when it speaks cargo, else PyPI's. One
// deployment serves one index, so a list with both npm and cargo has no rule of its own
// (the operator names one, TPX_NAMES).
func Names(ps []Protocol) (verify.Names, error) {
	npm, cargo := slices.Contains(ps, NPM), slices.Contains(ps, Cargo)
	switch {
	case npm && cargo:
		return "", fmt.Errorf("protocols npm and cargo serve two indexes with two naming rules; run one deployment per index, or set TPX_NAMES")
	case npm:
		return verify.NPMNames, nil
	case cargo:
		return verify.CargoNames, nil
	}
	return verify.PyPINames, nil
}

// Audience is the audience p's clients request CI tokens for when the index is at
// public; pypi is the service's own audience (TPX_AUDIENCE), which its clients ask for.
func (p Protocol) Audience(public *url.URL, pypi string) string {
	switch p {
	case NPM:
		return NPMAudience(public)
	case Cargo:
		return CargoAudience(public)
	}
	return pypi
}

// NPMAudience is "npm:" and the registry's host name, without port or path, as the npm
// CLI asks GitHub for it: `npm:${new URL(registry).hostname}`. URL host names are
// lower-case.
func NPMAudience(registry *url.URL) string {
	return "npm:" + strings.ToLower(registry.Hostname())
}

// CargoAudience is the registry's URL without its scheme, its port and path kept, as
// crates-io-auth-action derives it (crates.io's is "crates.io"); a trailing slash is not
// part of it. The action cuts the scheme off the URL as the workflow writes it, case and
// all, so the host keeps the case TPX_PUBLIC_URL gives it.
func CargoAudience(registry *url.URL) string {
	return registry.Host + strings.TrimRight(registry.EscapedPath(), "/")
}
