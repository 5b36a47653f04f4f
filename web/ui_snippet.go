package web

import (
	"fmt"
	"strings"

	"github.com/tpx-dev/tpx/policy"
	"github.com/tpx-dev/tpx/protocol"
	"github.com/tpx-dev/tpx/store"
)

// This file writes the CI configuration an owner copies after adding a publisher: the
// job that publisher accepts, exactly, with the permission or ID token it needs, and the
// client of each protocol the deployment serves (PyPI's uploaders, npm, cargo).

// uploadPlaceholder stands for the index's upload endpoint, which tpx is not told: the
// snippet marks it for the owner to fill in.
const uploadPlaceholder = "https://upload.example.org/legacy/   # your index's upload endpoint"

// cargoRegistry is the name a cargo snippet gives the registry, which each repository's
// .cargo/config.toml chooses: the snippet marks it for the owner to fill in.
const cargoRegistry = "my-index"

// snippet is one CI configuration for a publisher: the file it goes in, its text, and
// whether it holds a placeholder for the owner to fill in.
type snippet struct {
	Protocol   protocol.Protocol
	File, Text string
	Fill       bool
}

// snippets are the CI configurations for publisher p, one for each protocol served, in
// the order they are configured. Platforms without snippets here get none.
func (h *ui) snippets(p store.Publisher) []snippet {
	var out []snippet
	for _, pr := range h.s.protocols() {
		if sn, ok := h.snippet(p, pr); ok {
			out = append(out, sn)
		}
	}
	return out
}

// snippet is the CI configuration for publisher p whose job's client speaks pr.
func (h *ui) snippet(p store.Publisher, pr Protocol) (snippet, bool) {
	var b strings.Builder
	sn := snippet{Protocol: pr.Protocol}
	registry := strings.TrimRight(h.cfg.PublicURL, "/")
	switch p.Kind {
	case policy.GitHub:
		sn.File = ".github/workflows/" + p.Workflow
		b.WriteString("on:\n  release:\n    types: [published]\njobs:\n  publish:\n    runs-on: ubuntu-latest\n")
		if p.Environment != "" {
			fmt.Fprintf(&b, "    environment: %s\n", yamlString(p.Environment))
		}
		b.WriteString("    permissions:\n      id-token: write             # lets the job ask GitHub for an OIDC token\n      contents: read\n")
		b.WriteString("    steps:\n      - uses: actions/checkout@v4\n")
		switch pr.Protocol {
		case protocol.NPM:
			fmt.Fprintf(&b, "      - uses: actions/setup-node@v4\n        with: {node-version: 22, registry-url: '%s/'}\n", registry)
			b.WriteString("      - run: npm install -g npm@latest   # trusted publishing needs npm 11.5.1 or later\n")
			b.WriteString("      - run: npm ci && npm publish\n")
		case protocol.Cargo:
			fmt.Fprintf(&b, "      - uses: rust-lang/crates-io-auth-action@v1\n        id: auth\n        with: {url: '%s'}\n", registry)
			fmt.Fprintf(&b, "      - run: cargo publish --registry %s   # the registry's name in .cargo/config.toml\n", cargoRegistry)
			fmt.Fprintf(&b, "        env:\n          %s: ${{ steps.auth.outputs.token }}   # the same name, upper-case, '-' as '_'\n", cargoTokenVariable(cargoRegistry))
			sn.Fill = true
		default:
			b.WriteString("      - run: python -m pip install build && python -m build\n")
			b.WriteString("      - uses: pypa/gh-action-pypi-publish@release/v1\n        with:\n")
			fmt.Fprintf(&b, "          repository-url: %s\n", uploadPlaceholder)
			sn.Fill = true
		}
	case policy.GitLab:
		sn.File = p.Workflow
		b.WriteString("publish:\n  stage: deploy\n")
		if p.Environment != "" {
			fmt.Fprintf(&b, "  environment: %s\n", yamlString(p.Environment))
		}
		switch pr.Protocol {
		case protocol.NPM:
			b.WriteString("  image: node:22\n  id_tokens:\n    NPM_ID_TOKEN:                 # npm reads the token from this variable\n")
			fmt.Fprintf(&b, "      aud: %s\n", yamlString(pr.Audience))
			b.WriteString("  script:\n    - npm install -g npm@latest   # trusted publishing needs npm 11.5.1 or later\n")
			fmt.Fprintf(&b, "    - npm ci && npm publish --registry %s/\n", registry)
		case protocol.Cargo:
			b.WriteString("  image: rust:latest\n  id_tokens:\n    CARGO_ID_TOKEN:\n")
			fmt.Fprintf(&b, "      aud: %s\n", yamlString(pr.Audience))
			b.WriteString("  script:\n")
			// The reply is kept in a file: a refusal's reason is printed and fails the job,
			// rather than becoming the token.
			fmt.Fprintf(&b, "    - 'curl -sS --fail-with-body -o tpx-reply.json -X POST %s/api/v1/trusted_publishing/tokens -H \"Content-Type: application/json\" -d \"{\\\"jwt\\\": \\\"$CARGO_ID_TOKEN\\\"}\" || { cat tpx-reply.json; exit 1; }'\n", registry)
			fmt.Fprintf(&b, "    - 'export %s=$(sed -nE \"s/.*\\\"token\\\": *\\\"([^\\\"]+)\\\".*/\\\\1/p\" tpx-reply.json)'   # the same name, upper-case, '-' as '_'\n",
				cargoTokenVariable(cargoRegistry))
			fmt.Fprintf(&b, "    - cargo publish --registry %s   # the registry's name in .cargo/config.toml\n", cargoRegistry)
			sn.Fill = true
		default:
			b.WriteString("  image: python:3.12\n  id_tokens:\n    TPX_ID_TOKEN:\n")
			fmt.Fprintf(&b, "      aud: %s\n", yamlString(pr.Audience))
			b.WriteString("  script:\n    - python -m pip install build twine && python -m build\n")
			fmt.Fprintf(&b, "    - 'UPLOAD_TOKEN=$(curl -sS --fail-with-body -X POST %s/_/oidc/mint-token -d \"{\\\"token\\\": \\\"$TPX_ID_TOKEN\\\"}\" | python -c \"import json,sys; print(json.load(sys.stdin)[\\\"token\\\"])\")'\n", h.origin)
			b.WriteString("    - twine upload -u __token__ -p \"$UPLOAD_TOKEN\" dist/* --repository-url " + uploadPlaceholder + "\n")
			sn.Fill = true
		}
	default:
		return snippet{}, false
	}
	sn.Text = b.String()
	return sn, true
}

// cargoTokenVariable is the environment variable cargo reads the token of the registry
// named name from: CARGO_REGISTRIES_<NAME>_TOKEN, the name upper-cased with '-' as '_'.
func cargoTokenVariable(name string) string {
	return "CARGO_REGISTRIES_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_")) + "_TOKEN"
}

// yamlString quotes s for YAML when it is not a plain word.
func yamlString(s string) string {
	if s != "" && !strings.ContainsFunc(s, func(r rune) bool {
		return !(r == '-' || r == '_' || r == '.' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z')
	}) {
		return s
	}
	return fmt.Sprintf("%q", s)
}
