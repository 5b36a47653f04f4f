package web

import (
	"context"
	"log/slog"
	"slices"
)

// requestIDKey carries a request's id in its context, for packages below web that log
// with that context but know nothing of requests.
type requestIDKey struct{}

// LogHandler wraps h so that every record logged with a request's context (InfoContext
// and the like) carries the request's id, whichever package logs it. Wrapping twice is
// wrapping once.
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
	if id, ok := ctx.Value(requestIDKey{}).(string); ok && !r.has {
		rec = rec.Clone()
		rec.AddAttrs(slog.String("request_id", id))
	}
	return r.h.Handle(ctx, rec)
}

func (r requestIDHandler) WithAttrs(as []slog.Attr) slog.Handler {
	has := r.has || slices.ContainsFunc(as, func(a slog.Attr) bool { return a.Key == "request_id" })
	return requestIDHandler{h: r.h.WithAttrs(as), has: has}
}

func (r requestIDHandler) WithGroup(name string) slog.Handler {
	return requestIDHandler{h: r.h.WithGroup(name), has: r.has}
}
