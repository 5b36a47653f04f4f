package notify

import (
	"bufio"
	"bytes"
	"context"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tpx-dev/tpx/internal/uitest"
	"github.com/tpx-dev/tpx/store"
)

// smtpServer is a minimal SMTP server on the loopback interface that keeps what it gets.
type smtpServer struct {
	ln   net.Listener
	mu   sync.Mutex
	msgs []string
	rcpt []string
}

func newSMTPServer(t *testing.T) *smtpServer {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &smtpServer{ln: ln}
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go s.serve(conn)
		}
	}()
	t.Cleanup(func() { ln.Close() })
	return s
}

func (s *smtpServer) serve(conn net.Conn) {
	defer conn.Close()
	r := bufio.NewReader(conn)
	say := func(line string) { conn.Write([]byte(line + "\r\n")) }
	say("220 localhost test server")
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		cmd := strings.ToUpper(strings.TrimSpace(line))
		switch {
		case strings.HasPrefix(cmd, "EHLO"), strings.HasPrefix(cmd, "HELO"):
			say("250-localhost")
			say("250 8BITMIME")
		case strings.HasPrefix(cmd, "RCPT TO:"):
			s.mu.Lock()
			s.rcpt = append(s.rcpt, strings.Trim(strings.TrimSpace(line)[8:], "<>"))
			s.mu.Unlock()
			say("250 ok")
		case cmd == "DATA":
			say("354 go on")
			var msg strings.Builder
			for {
				l, err := r.ReadString('\n')
				if err != nil {
					return
				}
				if l == ".\r\n" {
					break
				}
				msg.WriteString(l)
			}
			s.mu.Lock()
			s.msgs = append(s.msgs, msg.String())
			s.mu.Unlock()
			say("250 queued")
		case cmd == "QUIT":
			say("221 bye")
			return
		default:
			say("250 ok")
		}
	}
}

func TestSender(t *testing.T) {
	uitest.ForEach(t, func(t *testing.T, b uitest.Backend) {
		st := b.Open(t)
		ctx := context.Background()
		now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
		enqueue := func(to, subject, body string) {
			if err := st.EnqueueMail(ctx, []store.Mail{{To: to, Subject: subject, Body: body, CreatedAt: now}}); err != nil {
				t.Fatal(err)
			}
		}
		t.Run("Without TPX_SMTP_URL a message is logged, link included, and counts as sent", func(t *testing.T) {
			var log bytes.Buffer
			s, err := New(Config{Store: st, Logger: slog.New(slog.NewTextHandler(&log, nil)), Now: func() time.Time { return now }})
			if err != nil {
				t.Fatal(err)
			}
			enqueue("a@example.org", "verify", "open https://tpx.example.org/account/verify-email?token=abc")
			n, err := s.Flush(ctx)
			if err != nil || n != 1 {
				t.Fatalf("Flush = %d, %v", n, err)
			}
			if !strings.Contains(log.String(), "verify-email?token=abc") {
				t.Fatalf("log: %s", log.String())
			}
			if n, _ := s.Flush(ctx); n != 0 {
				t.Fatal("a sent message was sent again")
			}
		})
		t.Run("With an SMTP server the message goes there, once", func(t *testing.T) {
			srv := newSMTPServer(t)
			s, err := New(Config{Store: st, SMTPURL: "smtp://" + srv.ln.Addr().String() + "?from=tpx@example.org", Now: func() time.Time { return now }})
			if err != nil {
				t.Fatal(err)
			}
			enqueue("owner@example.org", "publisher added", "line one\nline two")
			n, err := s.Flush(ctx)
			if err != nil || n != 1 {
				t.Fatalf("Flush = %d, %v", n, err)
			}
			srv.mu.Lock()
			defer srv.mu.Unlock()
			if len(srv.msgs) != 1 || srv.rcpt[0] != "owner@example.org" || !strings.Contains(srv.msgs[0], "Subject: publisher added\r\n") || !strings.Contains(srv.msgs[0], "line one\r\nline two") {
				t.Fatalf("server got %q to %q", srv.msgs, srv.rcpt)
			}
		})
		t.Run("A server that is down leaves the message for a later try", func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			addr := ln.Addr().String()
			ln.Close()
			s, err := New(Config{Store: st, SMTPURL: "smtp://" + addr + "?from=tpx@example.org", Logger: slog.New(slog.DiscardHandler), Now: func() time.Time { return now }})
			if err != nil {
				t.Fatal(err)
			}
			enqueue("late@example.org", "later", "body")
			if n, err := s.Flush(ctx); err != nil || n != 0 {
				t.Fatalf("Flush = %d, %v", n, err)
			}
			later, err := st.ClaimMail(ctx, now.Add(lease), time.Minute, 10)
			if err != nil || len(later) != 1 || later[0].To != "late@example.org" {
				t.Fatalf("after the lease: %+v %v", later, err)
			}
		})
	})
	for _, c := range []struct{ name, url string }{
		{"A URL of another scheme", "http://mail.example.org"},
		{"A URL without a sender", "smtp://mail.example.org"},
	} {
		t.Run(c.name+" is refused without repeating the password", func(t *testing.T) {
			_, err := New(Config{SMTPURL: strings.Replace(c.url, "://", "://u:s3cret@", 1)})
			if err == nil || strings.Contains(err.Error(), "s3cret") {
				t.Fatalf("err = %v", err)
			}
		})
	}
}
