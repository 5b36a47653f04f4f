package web_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tpx-dev/tpx/internal/oidctest"
	"github.com/tpx-dev/tpx/web"
)

// laneServer serves env over HTTP as tpx serve does (web.ConnContext), counting the
// connections opened to it.
type laneServer struct {
	env   *mintEnv
	srv   *httptest.Server
	conns atomic.Int64
}

func newLaneServer(t *testing.T, refused web.RefusedConnections) *laneServer {
	return newLaneServerWith(t, web.Config{Refused: refused})
}

func newLaneServerWith(t *testing.T, cfg web.Config) *laneServer {
	t.Helper()
	ls := &laneServer{env: newMintEnvWith(t, io.Discard, cfg)}
	ls.srv = httptest.NewUnstartedServer(ls.env.handler)
	ls.srv.Config.ConnContext = web.ConnContext
	ls.srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			ls.conns.Add(1)
		}
	}
	ls.srv.Start()
	t.Cleanup(ls.srv.Close)
	return ls
}

// conn is a client that keeps to one connection while its requests come one at a time.
func (ls *laneServer) conn(t *testing.T) *http.Client {
	tr := &http.Transport{MaxConnsPerHost: 1, MaxIdleConnsPerHost: 1}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

func (ls *laneServer) valid() string {
	return `{"token":"` + ls.env.iss.Sign(ls.env.iss.GitHubClaims(nil)) + `"}`
}

// forged is a token whose key id its issuer never published: refused for next to nothing.
func (ls *laneServer) forged() string {
	sig := make([]byte, 256)
	rand.Read(sig)
	return `{"token":"` + ls.env.iss.Sign(ls.env.iss.GitHubClaims(nil), oidctest.WithKid(rand.Text()), oidctest.WithSignature(sig)) + `"}`
}

type answer struct {
	status int
	retry  string
	code   string
	took   time.Duration
}

func (ls *laneServer) post(ctx context.Context, t *testing.T, c *http.Client, body string, header ...string) (answer, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, ls.srv.URL+"/_/oidc/mint-token", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	start := time.Now()
	res, err := c.Do(req)
	if err != nil {
		return answer{}, err
	}
	defer res.Body.Close()
	var reply struct {
		Errors []struct{ Code string }
	}
	b, _ := io.ReadAll(res.Body)
	a := answer{status: res.StatusCode, retry: res.Header.Get("Retry-After"), took: time.Since(start)}
	if res.StatusCode != http.StatusOK {
		if err := json.Unmarshal(b, &reply); err != nil || len(reply.Errors) != 1 {
			t.Fatalf("status %d, body %q: not the error shape", res.StatusCode, b)
		}
		a.code = reply.Errors[0].Code
	}
	return a, nil
}

func (ls *laneServer) expect(t *testing.T, c *http.Client, body string, status int, step string, header ...string) answer {
	t.Helper()
	a, err := ls.post(context.Background(), t, c, body, header...)
	if err != nil {
		t.Fatalf("%s: %v", step, err)
	}
	if a.status != status {
		t.Fatalf("%s: status %d (%s), want %d", step, a.status, a.code, status)
	}
	return a
}

// TestConnectionsWhoseLastExchangeWasRefusedTakeTurns: a connection whose last exchange
// request was refused waits for a turn of the one lane such connections share, paced at
// one start per interval; a success on it ends that; a new connection, or one whose last
// exchange succeeded, never waits for the lane; a request that finds no turn in time is
// answered 503 with Retry-After in the error shape.
func TestConnectionsWhoseLastExchangeWasRefusedTakeTurns(t *testing.T) {
	const wait = 300 * time.Millisecond
	ls := newLaneServer(t, web.RefusedConnections{Interval: time.Hour, Wait: wait})
	a, b, c := ls.conn(t), ls.conn(t), ls.conn(t)

	ls.expect(t, a, ls.forged(), http.StatusUnprocessableEntity, "a new connection's forged token")
	ls.expect(t, a, ls.valid(), http.StatusOK, "a valid token on the refused connection, in the lane's first turn")
	ls.expect(t, a, ls.forged(), http.StatusUnprocessableEntity, "a forged token after the success: the success ended the wait for turns")
	busy := ls.expect(t, a, ls.forged(), http.StatusServiceUnavailable, "a forged token after the refusal: the next turn starts in an hour")
	if busy.retry == "" || busy.code != "unavailable" || busy.took < wait {
		t.Fatalf("no turn: Retry-After %q, code %q, answered after %v; want Retry-After, unavailable, after at least %v", busy.retry, busy.code, busy.took, wait)
	}

	ls.expect(t, b, ls.valid(), http.StatusOK, "a new connection, while the lane's next turn is an hour away")
	ls.expect(t, b, ls.valid(), http.StatusOK, "a connection whose last exchange succeeded")
	ls.expect(t, b, ls.forged(), http.StatusUnprocessableEntity, "a forged token on a connection whose last exchange succeeded")
	ls.expect(t, c, ls.forged(), http.StatusUnprocessableEntity, "another new connection's forged token")
	ls.expect(t, c, ls.valid(), http.StatusServiceUnavailable, "a valid token on another refused connection: the one lane has no turn for it")
	ls.expect(t, b, ls.valid(), http.StatusServiceUnavailable, "a valid token on the connection refused last")
	if n := ls.conns.Load(); n != 3 {
		t.Fatalf("%d connections opened, want 3: the clients did not keep to their connections", n)
	}
}

// TestAProxysConnectionSendsOnlyTheRefusedClientToTheLane: on a connection from a trusted
// proxy, which carries many clients' requests, the client refused last waits for turns,
// and the proxy's other clients do not.
func TestAProxysConnectionSendsOnlyTheRefusedClientToTheLane(t *testing.T) {
	ls := newLaneServerWith(t, web.Config{Refused: web.RefusedConnections{Interval: time.Hour, Wait: 100 * time.Millisecond},
		RateLimit: web.RateLimit{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}})
	proxy := ls.conn(t)
	const xff = "X-Forwarded-For"
	ls.expect(t, proxy, ls.forged(), http.StatusUnprocessableEntity, "client 1's forged token", xff, "203.0.113.1")
	ls.expect(t, proxy, ls.valid(), http.StatusOK, "client 2's valid token after client 1's refusal", xff, "203.0.113.2")
	ls.expect(t, proxy, ls.forged(), http.StatusUnprocessableEntity, "client 1's forged token after client 2's success", xff, "203.0.113.1")
	ls.expect(t, proxy, ls.forged(), http.StatusUnprocessableEntity, "client 1's next forged token, in the lane's first turn", xff, "203.0.113.1")
	ls.expect(t, proxy, ls.valid(), http.StatusServiceUnavailable, "client 1's next token, with the next turn an hour away", xff, "203.0.113.1")
	ls.expect(t, proxy, ls.valid(), http.StatusOK, "client 3's valid token, refused client 1's the last on the connection", xff, "203.0.113.3")
	if n := ls.conns.Load(); n != 1 {
		t.Fatalf("%d connections opened, want the proxy's one", n)
	}
}

// TestRefusedConnectionsArePaced: requests on refused connections start at least the
// interval apart.
func TestRefusedConnectionsArePaced(t *testing.T) {
	const interval, n = 25 * time.Millisecond, 6
	ls := newLaneServer(t, web.RefusedConnections{Interval: interval})
	c := ls.conn(t)
	ls.expect(t, c, ls.forged(), http.StatusUnprocessableEntity, "a new connection's forged token")
	start := time.Now()
	for i := range n {
		ls.expect(t, c, ls.forged(), http.StatusUnprocessableEntity, "a forged token on a refused connection "+strconv.Itoa(i))
	}
	// The first turn starts at once, each next one an interval after the one before.
	if took, least := time.Since(start), (n-1)*interval; took < least {
		t.Fatalf("%d requests on a refused connection took %v, want at least %v", n, took, least)
	}
}

// TestARequestWaitingForItsTurnEndsWithItsClient: a client that gives up while its request
// waits for a turn leaves nothing behind: the turn it held goes to the next request, and
// no handler is left running (httptest.Server.Close waits for every handler).
func TestARequestWaitingForItsTurnEndsWithItsClient(t *testing.T) {
	const interval = 500 * time.Millisecond
	ls := newLaneServer(t, web.RefusedConnections{Interval: interval, Wait: time.Hour})
	c, d := ls.conn(t), ls.conn(t)
	ls.expect(t, c, ls.forged(), http.StatusUnprocessableEntity, "a new connection's forged token")
	ls.expect(t, d, ls.forged(), http.StatusUnprocessableEntity, "another new connection's forged token")
	ls.expect(t, c, ls.forged(), http.StatusUnprocessableEntity, "the lane's first turn")
	ctx, cancel := context.WithTimeout(context.Background(), interval/5)
	defer cancel()
	if a, err := ls.post(ctx, t, c, ls.forged()); err == nil {
		t.Fatalf("answered %d before the lane's next turn", a.status)
	}
	// Had the request that gave up kept its turn, this one would wait for an hour.
	ctx2, cancel2 := context.WithTimeout(context.Background(), time.Minute)
	defer cancel2()
	if a, err := ls.post(ctx2, t, d, ls.forged()); err != nil || a.status != http.StatusUnprocessableEntity {
		t.Fatalf("the next refused connection's request: %v %v; want 422 within a minute", a.status, err)
	}
	closed := make(chan struct{})
	go func() {
		ls.srv.Close()
		close(closed)
	}()
	select {
	case <-closed:
	case <-time.After(time.Minute):
		t.Fatal("the server still runs the request whose client gave up waiting for its turn")
	}
}

// TestFailuresThatAreNotTheClientsMarkNoConnection: a rate limit's 429 (and, alike, a 5xx)
// leaves the connection as it was: its next request does not wait for the lane.
func TestFailuresThatAreNotTheClientsMarkNoConnection(t *testing.T) {
	ls := newLaneServerWith(t, web.Config{Refused: web.RefusedConnections{Interval: time.Hour, Wait: 100 * time.Millisecond},
		RateLimit: web.RateLimit{Requests: 2, Per: time.Hour}})
	a, b := ls.conn(t), ls.conn(t)
	ls.expect(t, a, ls.forged(), http.StatusUnprocessableEntity, "a new connection's forged token")
	ls.expect(t, a, ls.forged(), http.StatusUnprocessableEntity, "the lane's first turn; the next is an hour away")
	ls.expect(t, b, ls.valid(), http.StatusTooManyRequests, "a new connection past the rate limit")
	ls.expect(t, b, ls.valid(), http.StatusTooManyRequests, "the rate-limited connection's next request, not sent to the lane")
	ls.expect(t, a, ls.valid(), http.StatusServiceUnavailable, "the refused connection's next request, sent to the lane")
}
