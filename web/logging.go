package web

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"unicode/utf8"
)

// requestIDKey carries a request's id in its context, for packages below web that log
// with that context but know nothing of requests.
type requestIDKey struct{}

// LogHandler wraps h so that every record logged with a request's context (InfoContext
// and the like) carries the request's id, whichever package logs it, and so that no
// logged value is longer than maxLogValue bytes. Wrapping twice is wrapping once.
func LogHandler(h slog.Handler) slog.Handler {
	if _, ok := h.(requestIDHandler); ok {
		return h
	}
	return requestIDHandler{h: h}
}

type requestIDHandler struct {
	h slog.Handler
	// has is set once the logger was given a request_id of its own (web's request
	// loggers are), so the record does not carry it twice.
	has bool
}

func (r requestIDHandler) Enabled(ctx context.Context, l slog.Level) bool { return r.h.Enabled(ctx, l) }

func (r requestIDHandler) Handle(ctx context.Context, rec slog.Record) error {
	long := false
	rec.Attrs(func(a slog.Attr) bool {
		long = tooLong(a)
		return !long
	})
	if long {
		bounded := slog.NewRecord(rec.Time, rec.Level, rec.Message, rec.PC)
		rec.Attrs(func(a slog.Attr) bool {
			bounded.AddAttrs(bound(a))
			return true
		})
		rec = bounded
	}
	if id, ok := ctx.Value(requestIDKey{}).(string); ok && !r.has {
		if !long {
			rec = rec.Clone()
		}
		rec.AddAttrs(slog.String("request_id", id))
	}
	return r.h.Handle(ctx, rec)
}

func (r requestIDHandler) WithAttrs(as []slog.Attr) slog.Handler {
	has := r.has || slices.ContainsFunc(as, func(a slog.Attr) bool { return a.Key == "request_id" })
	bounded := make([]slog.Attr, len(as))
	for i, a := range as {
		bounded[i] = bound(a)
	}
	return requestIDHandler{h: r.h.WithAttrs(bounded), has: has}
}

// maxLogValue bounds each logged value. Many come from callers — a token's claims, an
// error quoting what was sent, a form field — and a request must not be able to write
// more than this into the log per field, whatever it sends.
const maxLogValue = 1024

// text is the text of a value that can be long: a string, or an error's message.
func text(v slog.Value) (string, bool) {
	switch v.Kind() {
	case slog.KindString:
		return v.String(), true
	case slog.KindAny:
		if err, ok := v.Any().(error); ok {
			return err.Error(), true
		}
	}
	return "", false
}

func tooLong(a slog.Attr) bool {
	v := a.Value.Resolve()
	if v.Kind() == slog.KindGroup {
		return slices.ContainsFunc(v.Group(), tooLong)
	}
	s, ok := text(v)
	return ok && len(s) > maxLogValue
}

// bound returns a with every text in it cut to maxLogValue bytes, saying how long it was.
func bound(a slog.Attr) slog.Attr {
	v := a.Value.Resolve()
	if v.Kind() == slog.KindGroup {
		group := v.Group()
		out := make([]slog.Attr, len(group))
		for i, g := range group {
			out[i] = bound(g)
		}
		return slog.Attr{Key: a.Key, Value: slog.GroupValue(out...)}
	}
	s, ok := text(v)
	if !ok || len(s) <= maxLogValue {
		return a
	}
	cut := maxLogValue
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return slog.String(a.Key, fmt.Sprintf("%s…[%d bytes]", s[:cut], len(s)))
}

func (r requestIDHandler) WithGroup(name string) slog.Handler {
	return requestIDHandler{h: r.h.WithGroup(name), has: r.has}
}
