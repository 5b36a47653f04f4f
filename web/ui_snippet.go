package web

import (
	"fmt"
	"strings"

	"github.com/tpx-dev/tpx/policy"
	"github.com/tpx-dev/tpx/store"
)

// This file writes the CI configuration an owner copies after adding a publisher: the
// job that publisher accepts, exactly, with the permission or ID token it needs.

// uploadPlaceholder stands for the index's upload endpoint, which tpx is not told: the
// snippet marks it for the owner to fill in.
const uploadPlaceholder = "https://upload.example.org/legacy/   # your index's upload endpoint"

// snippet is the CI configuration for publisher p: its file name and its text. Platforms
// without a snippet here get none.
func (h *ui) snippet(p store.Publisher) (file, text string, ok bool) {
	var b strings.Builder
	switch p.Kind {
	case policy.GitHub:
		file = ".github/workflows/" + p.Workflow
		b.WriteString("jobs:\n  publish:\n    runs-on: ubuntu-latest\n")
		if p.Environment != "" {
			fmt.Fprintf(&b, "    environment: %s\n", yamlString(p.Environment))
		}
		b.WriteString("    permissions:\n      id-token: write             # lets the job ask GitHub for an OIDC token\n")
		b.WriteString("    steps:\n      - uses: actions/checkout@v4\n      - run: python -m pip install build && python -m build\n")
		b.WriteString("      - uses: pypa/gh-action-pypi-publish@release/v1\n        with:\n")
		fmt.Fprintf(&b, "          repository-url: %s\n", uploadPlaceholder)
	case policy.GitLab:
		file = p.Workflow
		b.WriteString("publish:\n  stage: deploy\n")
		if p.Environment != "" {
			fmt.Fprintf(&b, "  environment: %s\n", yamlString(p.Environment))
		}
		b.WriteString("  image: python:3.12\n  id_tokens:\n    TPX_ID_TOKEN:\n")
		fmt.Fprintf(&b, "      aud: %s\n", yamlString(h.cfg.Audience))
		b.WriteString("  script:\n    - python -m pip install build twine && python -m build\n")
		fmt.Fprintf(&b, "    - 'UPLOAD_TOKEN=$(curl -sS --fail-with-body -X POST %s/_/oidc/mint-token -d \"{\\\"token\\\": \\\"$TPX_ID_TOKEN\\\"}\" | python -c \"import json,sys; print(json.load(sys.stdin)[\\\"token\\\"])\")'\n", h.origin)
		b.WriteString("    - twine upload --repository-url " + strings.TrimSuffix(uploadPlaceholder, "   # your index's upload endpoint") + " -u __token__ -p \"$UPLOAD_TOKEN\" dist/*\n")
	default:
		return "", "", false
	}
	return file, b.String(), true
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
