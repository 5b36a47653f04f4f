package account

import (
	"strings"
	"testing"
	"time"

	"github.com/tpx-dev/tpx/policy"
	"github.com/tpx-dev/tpx/store"
)

func TestRetentionWordsNameThePendingPublisherAndItsExpiry(t *testing.T) {
	pp := store.PendingPublisher{
		Publisher: policy.Publisher{ID: 42, Kind: policy.GitHub, Issuer: "https://token.actions.githubusercontent.com",
			Owner: "octo-org", Name: "octo-repo", Workflow: "release.yml", Environment: "pypi"},
		ProjectName: "newproj",
		ExpiresAt:   time.Date(2026, 3, 31, 12, 0, 0, 0, time.FixedZone("CEST", 2*3600)),
	}
	what := Describe(pp.Publisher)
	n := RetentionWords{}.ExpiryNotice(pp)
	for _, tc := range []struct{ name, text string }{
		{"the notice's audit detail", n.Detail},
		{"the notice's mail", n.Body},
		{"the expiry's audit detail", RetentionWords{}.Expired(pp)},
	} {
		t.Run(tc.name+" names the project and the publisher as the owner registered it", func(t *testing.T) {
			if !strings.Contains(tc.text, "newproj") || !strings.Contains(tc.text, what) {
				t.Fatalf("%q lacks newproj or %q", tc.text, what)
			}
		})
	}
	if !strings.Contains(n.Detail, "pending publisher 42") || !strings.Contains(n.Detail, "2026-03-31 10:00:00 UTC") {
		t.Fatalf("notice %q does not name publisher 42 and its expiry in UTC", n.Detail)
	}
	if n.Subject != "Your pending publisher for newproj expires on 2026-03-31" {
		t.Fatalf("subject %q", n.Subject)
	}
	if !strings.Contains(n.Body, "2026-03-31 10:00:00 UTC") || !strings.Contains(n.Body, "register it again") {
		t.Fatalf("body %q does not say when it expires and what to do", n.Body)
	}
}
