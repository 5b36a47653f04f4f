package web_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// lockedLog collects log lines from concurrent requests.
type lockedLog struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *lockedLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *lockedLog) lines(t *testing.T) []map[string]any {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(l.buf.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		out = append(out, m)
	}
	return out
}

// TestAFloodOfRefusalsCostsTheLogAFewLines: refusals anyone can cause for free are logged up
// to a burst and then counted, not logged; the next one logged says how many were not; a
// refusal after verification is always logged.
func TestAFloodOfRefusalsCostsTheLogAFewLines(t *testing.T) {
	var logs lockedLog
	env := newMintEnv(t, &logs)
	logs.mu.Lock()
	logs.buf.Reset()
	logs.mu.Unlock()
	const flood = 1000
	for range flood {
		env.post(t, `{"token":"not.a.jwt"}`, http.StatusUnprocessableEntity)
	}
	count := func(msg string) (n int) {
		for _, l := range logs.lines(t) {
			if l["msg"] == msg {
				n++
			}
		}
		return n
	}
	failed, requests := count("exchange failed"), count("request")
	t.Logf("%d refusals: %d 'exchange failed' lines, %d request lines", flood, failed, requests)
	if failed > 300 || requests > 300 {
		t.Fatalf("%d refusals logged %d and %d lines, want at most a burst of them", flood, failed, requests)
	}
	if failed < 100 || failed != requests {
		t.Fatalf("%d 'exchange failed' and %d request lines: the first refusals must be logged, both lines of each", failed, requests)
	}

	t.Run("The next refusal logged says how many were not", func(t *testing.T) {
		time.Sleep(200 * time.Millisecond) // the budget refills at 20 lines a second
		env.post(t, `{"token":"not.a.jwt"}`, http.StatusUnprocessableEntity)
		var unlogged float64
		for _, l := range logs.lines(t) {
			if n, ok := l["unlogged_refusals"].(float64); ok {
				unlogged += n
			}
		}
		if int(unlogged)+failed != flood {
			t.Fatalf("%d logged and %v counted as unlogged, want %d in all", failed, unlogged, flood)
		}
	})
	t.Run("A refusal after verification is always logged", func(t *testing.T) {
		// The token verifies, but no publisher of its repository matches.
		env.post(t, `{"token":"`+env.iss.Sign(env.iss.GitHubClaims(map[string]any{"repository": "octo-org/other"}))+`"}`, http.StatusUnprocessableEntity)
		var found bool
		for _, l := range logs.lines(t) {
			if l["msg"] == "exchange failed" && strings.HasPrefix(l["class"].(string), "invalid-publisher") {
				found = true
			}
		}
		if !found {
			t.Fatal("the refusal of a verified token was not logged")
		}
	})
}
