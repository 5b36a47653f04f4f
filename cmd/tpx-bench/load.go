package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// server is a tpx-bench child process serving tpx.
type server struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stdout *bufio.Reader
	url    string // of the exchange route
}

// startServer runs this program as a child serving tpx with args (see runChild); name
// names its CPU profile when -profile is given.
func (b *bench) startServer(ctx context.Context, name string, args ...string) (*server, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	if b.opts.profile != "" {
		args = append(args, "-profile", b.opts.profile, "-profile-name", name)
	}
	cmd := exec.CommandContext(ctx, exe, append([]string{childCommand, "-issuer", b.iss.URL()}, args...)...)
	cmd.Env = append(os.Environ(), secretEnv+"="+b.secret)
	cmd.Stderr = b.log
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s := &server{cmd: cmd, stdin: stdin, stdout: bufio.NewReader(stdout)}
	line, err := s.stdout.ReadString('\n')
	addr, ok := strings.CutPrefix(strings.TrimSpace(line), "listening ")
	if err != nil || !ok {
		s.stop()
		return nil, fmt.Errorf("the server did not start (%q, %v)", line, err)
	}
	s.url = "http://" + addr + "/_/oidc/mint-token"
	return s, nil
}

func (s *server) stats() (childStats, error) {
	var st childStats
	if _, err := io.WriteString(s.stdin, "stats\n"); err != nil {
		return st, err
	}
	line, err := s.stdout.ReadBytes('\n')
	if err != nil {
		return st, err
	}
	return st, json.Unmarshal(line, &st)
}

// stop ends the child by closing its stdin; it is killed if it has not gone 10 s later.
func (s *server) stop() {
	s.stdin.Close()
	done := make(chan struct{})
	go func() {
		s.cmd.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		s.cmd.Process.Kill()
		<-done
	}
}

// newClient is a keep-alive HTTP client with a connection per concurrent request.
func newClient(conns int) *http.Client {
	return &http.Client{
		Transport: &http.Transport{
			Proxy:               nil,
			MaxIdleConns:        conns,
			MaxIdleConnsPerHost: conns,
			DisableCompression:  true,
		},
		Timeout: 30 * time.Second,
	}
}

// Request bodies: tpx's exchange takes JSON, Dex's token endpoint a form.
const (
	jsonBody = "application/json"
	formBody = "application/x-www-form-urlencoded"
)

// post sends one exchange request of the given content type and reports whether it got
// want.
func post(ctx context.Context, client *http.Client, url, ctype string, body []byte, want int) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", ctype)
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	reply, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return err
	}
	if resp.StatusCode != want {
		return &statusError{got: resp.StatusCode, want: want, reply: reply}
	}
	return nil
}

// statusError is a reply of another status than the one expected.
type statusError struct {
	got, want int
	reply     []byte
}

func (e *statusError) Error() string {
	return fmt.Sprintf("status %d, want %d: %.200s", e.got, e.want, e.reply)
}

// httpLoad sends every JSON body once from c concurrent connections, as fast as answers
// come, and expects status want for each. Failures are counted, not fatal.
func httpLoad(ctx context.Context, url string, bodies [][]byte, c, want int) runResult {
	return httpLoadOf(ctx, url, jsonBody, bodies, c, want)
}

// httpLoadOf is httpLoad for bodies of any content type.
func httpLoadOf(ctx context.Context, url, ctype string, bodies [][]byte, c, want int) runResult {
	client := newClient(c)
	defer client.CloseIdleConnections()
	r := eachOnce(ctx, len(bodies), c, func(i int) error { return post(ctx, client, url, ctype, bodies[i], want) })
	r.mallocs = 0 // the client's, not the server's
	return r
}

// eachOnce runs do(0) … do(n-1) from c goroutines, each taking the next index as soon
// as its previous call returns, and measures the whole and each successful call.
func eachOnce(ctx context.Context, n, c int, do func(i int) error) runResult {
	lat := make([]time.Duration, n)
	ok := make([]bool, n)
	var (
		next     atomic.Int64
		failures atomic.Int64
		first    sync.Once
		errText  string
		wg       sync.WaitGroup
	)
	m := startMeasure()
	for range c {
		wg.Go(func() {
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				t0 := time.Now()
				if err := do(i); err != nil {
					failures.Add(1)
					first.Do(func() { errText = err.Error() })
					continue
				}
				lat[i], ok[i] = time.Since(t0), true
			}
		})
	}
	wg.Wait()
	r := m.stop()
	for i, l := range lat {
		if ok[i] {
			r.lat = append(r.lat, l)
		}
	}
	r.n, r.errs, r.errText = len(r.lat), int(failures.Load()), errText
	r.sortLatencies()
	return r
}

// paced sends bodies at a fixed rate, each request on its own, whatever the answers'
// latency, until stop is closed or the bodies run out; latency counts from the moment a
// request was due, so a stalled server cannot hide its stall by slowing the sender.
func paced(ctx context.Context, url string, bodies [][]byte, perSecond float64, stop <-chan struct{}) runResult {
	client := newClient(64)
	defer client.CloseIdleConnections()
	var (
		mu       sync.Mutex
		lats     []time.Duration
		failures int
		errText  string
		wg       sync.WaitGroup
	)
	interval := time.Duration(float64(time.Second) / perSecond)
	m := startMeasure()
	t0 := m.t0
loop:
	for i, b := range bodies {
		due := t0.Add(time.Duration(i) * interval)
		select {
		case <-stop:
			break loop
		case <-ctx.Done():
			break loop
		case <-time.After(time.Until(due)):
		}
		wg.Go(func() {
			err := post(ctx, client, url, jsonBody, b, http.StatusOK)
			l := time.Since(due)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				failures++
				if errText == "" {
					errText = err.Error()
				}
				return
			}
			lats = append(lats, l)
		})
	}
	wg.Wait()
	r := m.stop()
	r.mallocs = 0
	r.lat, r.n, r.errs, r.errText = lats, len(lats), failures, errText
	r.sortLatencies()
	return r
}

// errRun turns a run with failures into an error naming the first.
func errRun(what string, r runResult) error {
	if r.errs == 0 {
		return nil
	}
	return errors.New(what + ": " + fmt.Sprint(r.errs) + " requests failed, the first: " + r.errText)
}
