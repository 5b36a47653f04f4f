package notify

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"net"
	"net/mail"
	"net/smtp"
	"net/url"
	"strings"
	"time"

	"github.com/tpx-dev/tpx/store"
)

// Store is the part of store.Store a Sender uses.
type Store interface {
	ClaimMail(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]store.Mail, error)
	MarkMailSent(ctx context.Context, id int64, at time.Time) error
	MarkMailFailed(ctx context.Context, id int64, reason string) error
}

// Config wires a Sender.
type Config struct {
	Store Store
	// SMTPURL is smtp://[user:password@]host[:port]?from=ADDRESS (STARTTLS, required
	// except to a loopback host) or smtps://… (TLS from the start); empty logs messages.
	SMTPURL string
	// TLS, if set, is used for the server's certificate (tests); else the system's roots.
	TLS    *tls.Config
	Logger *slog.Logger
	Now    func() time.Time
	// Every is how often the outbox is read; 5 s by default.
	Every time.Duration
}

// lease is how long a claimed message is this sender's: longer than a slow SMTP session,
// short enough that a message of a sender that died goes out soon after.
const lease = 2 * time.Minute

// batch bounds the messages one round sends.
const batch = 20

// Sender delivers the outbox.
type Sender struct {
	cfg       Config
	smtp      *url.URL
	from      string
	host      string
	implicit  bool
	loopback  bool
	user, pwd string
}

// New checks cfg's SMTP URL and returns a Sender.
func New(cfg Config) (*Sender, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Every <= 0 {
		cfg.Every = 5 * time.Second
	}
	s := &Sender{cfg: cfg}
	if cfg.SMTPURL == "" {
		return s, nil
	}
	// The URL holds a password: no error below quotes it.
	u, err := url.Parse(cfg.SMTPURL)
	if err != nil || u.Hostname() == "" || (u.Scheme != "smtp" && u.Scheme != "smtps") {
		return nil, errors.New("TPX_SMTP_URL must be smtp://[user:password@]host[:port]?from=ADDRESS or smtps://…")
	}
	from, err := mail.ParseAddress(u.Query().Get("from"))
	if err != nil {
		return nil, errors.New("TPX_SMTP_URL needs ?from=ADDRESS, the sender of tpx's messages")
	}
	s.smtp, s.from, s.implicit = u, from.Address, u.Scheme == "smtps"
	port := u.Port()
	if port == "" {
		port = "587"
		if s.implicit {
			port = "465"
		}
	}
	s.host = net.JoinHostPort(u.Hostname(), port)
	ip := net.ParseIP(u.Hostname())
	s.loopback = strings.EqualFold(u.Hostname(), "localhost") || (ip != nil && ip.IsLoopback())
	if u.User != nil {
		s.user = u.User.Username()
		s.pwd, _ = u.User.Password()
	}
	return s, nil
}

// Run sends what the outbox holds every cfg.Every until ctx ends.
func (s *Sender) Run(ctx context.Context) {
	t := time.NewTicker(s.cfg.Every)
	defer t.Stop()
	for {
		if _, err := s.Flush(ctx); err != nil && ctx.Err() == nil {
			s.cfg.Logger.Warn("outbox not read", "error", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Flush sends the messages due now, one batch, and returns how many went out. A message
// that fails stays in the outbox and is tried again when its lease ends.
func (s *Sender) Flush(ctx context.Context) (int, error) {
	msgs, err := s.cfg.Store.ClaimMail(ctx, s.cfg.Now(), lease, batch)
	if err != nil {
		return 0, err
	}
	sent := 0
	for _, m := range msgs {
		if err := s.send(ctx, m); err != nil {
			s.cfg.Logger.Warn("message not sent; it will be tried again", "mail", m.ID, "attempt", m.Attempts, "error", err)
			if err := s.cfg.Store.MarkMailFailed(ctx, m.ID, err.Error()); err != nil {
				s.cfg.Logger.Error("outbox not updated", "mail", m.ID, "error", err)
			}
			continue
		}
		if err := s.cfg.Store.MarkMailSent(ctx, m.ID, s.cfg.Now()); err != nil {
			s.cfg.Logger.Error("outbox not updated; the message may go out twice", "mail", m.ID, "error", err)
			continue
		}
		sent++
	}
	return sent, nil
}

func (s *Sender) send(ctx context.Context, m store.Mail) error {
	if s.smtp == nil {
		// The body is what the recipient would read: links, never a password or a code.
		s.cfg.Logger.Info("mail not sent (TPX_SMTP_URL is unset); here it is", "mail", m.ID, "to", m.To, "subject", m.Subject, "body", m.Body)
		return nil
	}
	return s.smtpSend(ctx, m)
}

// clean keeps a header value on one line, so that no value can add a header.
func clean(s string) string { return strings.NewReplacer("\r", " ", "\n", " ").Replace(s) }

func (s *Sender) message(m store.Mail) []byte {
	id := make([]byte, 12)
	rand.Read(id)
	domain := s.from[strings.LastIndex(s.from, "@")+1:]
	var b strings.Builder
	fmt.Fprintf(&b, "From: %s\r\n", (&mail.Address{Name: "tpx", Address: s.from}).String())
	fmt.Fprintf(&b, "To: %s\r\n", clean(m.To))
	fmt.Fprintf(&b, "Subject: %s\r\n", mime.QEncoding.Encode("utf-8", clean(m.Subject)))
	fmt.Fprintf(&b, "Date: %s\r\n", s.cfg.Now().UTC().Format(time.RFC1123Z))
	fmt.Fprintf(&b, "Message-ID: <%s@%s>\r\n", hex.EncodeToString(id), domain)
	b.WriteString("MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n")
	b.WriteString(strings.ReplaceAll(strings.ReplaceAll(m.Body, "\r\n", "\n"), "\n", "\r\n"))
	return []byte(b.String())
}

func (s *Sender) tlsConfig() *tls.Config {
	if s.cfg.TLS != nil {
		c := s.cfg.TLS.Clone()
		c.ServerName = s.smtp.Hostname()
		return c
	}
	return &tls.Config{ServerName: s.smtp.Hostname(), MinVersion: tls.VersionTLS12}
}

func (s *Sender) smtpSend(ctx context.Context, m store.Mail) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	d := net.Dialer{}
	var conn net.Conn
	var err error
	if s.implicit {
		conn, err = (&tls.Dialer{NetDialer: &d, Config: s.tlsConfig()}).DialContext(ctx, "tcp", s.host)
	} else {
		conn, err = d.DialContext(ctx, "tcp", s.host)
	}
	if err != nil {
		return err
	}
	deadline, _ := ctx.Deadline()
	conn.SetDeadline(deadline)
	c, err := smtp.NewClient(conn, s.smtp.Hostname())
	if err != nil {
		conn.Close()
		return err
	}
	defer c.Close()
	if !s.implicit {
		if ok, _ := c.Extension("STARTTLS"); ok {
			if err := c.StartTLS(s.tlsConfig()); err != nil {
				return err
			}
		} else if !s.loopback {
			return errors.New("the SMTP server offers no STARTTLS; tpx sends mail only encrypted, except to a server on this machine")
		}
	}
	if s.user != "" {
		if err := c.Auth(smtp.PlainAuth("", s.user, s.pwd, s.smtp.Hostname())); err != nil {
			return fmt.Errorf("SMTP authentication: %w", err)
		}
	}
	if err := c.Mail(s.from); err != nil {
		return err
	}
	if err := c.Rcpt(m.To); err != nil {
		return err
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := w.Write(s.message(m)); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	return c.Quit()
}
