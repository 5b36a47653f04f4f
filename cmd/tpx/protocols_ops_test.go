package main

import (
	"context"
	"net/http"
	"testing"

	"github.com/tpx-dev/tpx/policy"
	"github.com/tpx-dev/tpx/protocol"
)

// TestNPMExchangesAreCountedAndRecordedAsPyPIs: the npm route is a front on the same
// exchange, so its successes and refusals land in the same metric series, and a publisher
// that refused the job is in its owners' list of failed exchanges.
func TestNPMExchangesAreCountedAndRecordedAsPyPIs(t *testing.T) {
	t.Parallel()
	h := protocolHarness(t, backends()[0], []protocol.Protocol{protocol.NPM}, nil)
	h.github("sampleproject", nil)
	other := h.github("otherproject", func(p *policy.Publisher) { p.Workflow = "other.yml" })
	npmAud, _ := audiences(t, h)
	tok := func() string { return h.gh.Sign(h.gh.GitHubClaims(map[string]any{"aud": npmAud})) }

	once := tok()
	if r := npmExchange(t, h, "sampleproject", once); r.Status != http.StatusOK {
		t.Fatalf("exchange: %d %s", r.Status, r.raw)
	}
	npmExchange(t, h, "sampleproject", once)
	if r := npmExchange(t, h, "otherproject", tok()); r.Status != http.StatusForbidden {
		t.Fatalf("otherproject's publisher names another workflow, yet: %d %s", r.Status, r.raw)
	}
	m := scrapeMetrics(t, h.url)
	for outcome, want := range map[string]float64{"success": 1, "invalid-reuse-token": 1, "invalid-publisher": 1} {
		if n := m.value(t, "tpx_exchanges_total", "issuer", h.gh.URL(), "outcome", outcome); n != want {
			t.Errorf("tpx_exchanges_total{outcome=%s} = %v, want %v", outcome, n, want)
		}
	}
	// The job refused for otherproject is in its owners' list, as on PyPI's route; the one
	// that asked for sampleproject read sampleproject's publishers alone, and the replay
	// was refused before any publisher was read.
	h.svc.ex.Wait()
	failures, err := h.store.FailedExchanges(context.Background(), other.ProjectID)
	if err != nil || len(failures) != 1 {
		t.Fatalf("otherproject's failed exchanges: %+v, %v; want the job its publisher refused", failures, err)
	}
}
