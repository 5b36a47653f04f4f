package web

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
)

func TestLogHandlerPutsTheRequestIDOnEveryLineOnce(t *testing.T) {
	inRequest := context.WithValue(context.Background(), requestIDKey{}, "0123abcd")
	cases := []struct {
		name string
		log  func(l *slog.Logger)
		want []string // the request_id values of the line, in order
	}{
		{"A line logged with a request's context carries its id", func(l *slog.Logger) {
			l.InfoContext(inRequest, "exchange succeeded")
		}, []string{"0123abcd"}},
		{"A line logged without a context carries none", func(l *slog.Logger) {
			l.Info("issuer keys fetched")
		}, nil},
		{"A logger that has the id already does not repeat it", func(l *slog.Logger) {
			l.With("request_id", "0123abcd").InfoContext(inRequest, "request")
		}, []string{"0123abcd"}},
		{"Attributes added to the logger stay", func(l *slog.Logger) {
			l.With("issuer", "https://gitlab.com").InfoContext(inRequest, "exchange refused")
		}, []string{"0123abcd"}},
		{"Wrapping twice is wrapping once", func(l *slog.Logger) {
			slog.New(LogHandler(l.Handler())).InfoContext(inRequest, "exchange succeeded")
		}, []string{"0123abcd"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var buf bytes.Buffer
			c.log(slog.New(LogHandler(slog.NewTextHandler(&buf, nil))))
			line := strings.TrimSpace(buf.String())
			var got []string
			for _, f := range strings.Fields(line) {
				if v, ok := strings.CutPrefix(f, "request_id="); ok {
					got = append(got, v)
				}
			}
			if strings.Join(got, ",") != strings.Join(c.want, ",") {
				t.Fatalf("line %q has request ids %v, want %v", line, got, c.want)
			}
			var js bytes.Buffer
			c.log(slog.New(LogHandler(slog.NewJSONHandler(&js, nil))))
			var m map[string]any
			if err := json.Unmarshal(js.Bytes(), &m); err != nil {
				t.Fatalf("JSON line %q: %v", js.String(), err)
			}
		})
	}
}
