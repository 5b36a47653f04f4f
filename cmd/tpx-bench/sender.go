package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"time"
)

// senderCommand runs tpx-bench as a sender of valid exchanges at a steady rate, in a
// process of its own: a flood sent from the bench process must not be able to delay the
// valid requests before they even leave, as it would if both shared one Go scheduler.
// It reads the request bodies from -bodies, one per line, sends until stdin ends or the
// bodies run out, and prints a senderResult as JSON.
const senderCommand = "send-child"

type senderResult struct {
	Latencies []time.Duration `json:"latencies"`
	Elapsed   time.Duration   `json:"elapsed"`
	Failures  int             `json:"failures"`
	FirstErr  string          `json:"first_error"`
}

func runSender(args []string, stdin io.Reader, stdout io.Writer) error {
	fs := flag.NewFlagSet(senderCommand, flag.ContinueOnError)
	url := fs.String("url", "", "the exchange route")
	rate := fs.Float64("rate", 100, "requests per second")
	file := fs.String("bodies", "", "file of request bodies, one per line")
	if err := fs.Parse(args); err != nil {
		return err
	}
	raw, err := os.ReadFile(*file)
	if err != nil {
		return err
	}
	bodies := bytes.Split(bytes.TrimSuffix(raw, []byte("\n")), []byte("\n"))
	stop := make(chan struct{})
	go func() {
		io.Copy(io.Discard, stdin)
		close(stop)
	}()
	r := paced(context.Background(), *url, bodies, *rate, stop)
	return json.NewEncoder(stdout).Encode(senderResult{Latencies: r.lat, Elapsed: r.elapsed, Failures: r.errs, FirstErr: r.errText})
}

// sender is a running send-child.
type sender struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stdout io.Reader
	file   string
}

// startSender starts a send-child sending bodies to url at perSecond.
func (b *bench) startSender(ctx context.Context, url string, bodies [][]byte, perSecond float64) (*sender, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	f, err := os.CreateTemp("", "tpx-bench-bodies-")
	if err != nil {
		return nil, err
	}
	_, err = f.Write(append(bytes.Join(bodies, []byte("\n")), '\n'))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(f.Name())
		return nil, err
	}
	cmd := exec.CommandContext(ctx, exe, senderCommand, "-url", url, "-rate", fmt.Sprint(perSecond), "-bodies", f.Name())
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
		os.Remove(f.Name())
		return nil, err
	}
	return &sender{cmd: cmd, stdin: stdin, stdout: bufio.NewReader(stdout), file: filepath.Clean(f.Name())}, nil
}

// stop tells the sender to stop, waits for the requests in flight and returns what it
// measured.
func (s *sender) stop() (runResult, error) {
	defer os.Remove(s.file)
	s.stdin.Close()
	var res senderResult
	derr := json.NewDecoder(s.stdout).Decode(&res)
	werr := s.cmd.Wait()
	if err := errors.Join(derr, werr); err != nil {
		return runResult{}, fmt.Errorf("the sender: %w", err)
	}
	r := runResult{lat: res.Latencies, n: len(res.Latencies), elapsed: res.Elapsed, errs: res.Failures, errText: res.FirstErr}
	r.sortLatencies()
	return r, nil
}
