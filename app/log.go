package app

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
)

// newLogger returns the logger for diagnostics on stderr. The text form reads
// `mcpwrap: warning: message key=value`, so it sits well next to the
// `mcpwrap: error:` lines; the json form is slog's.
func newLogger(w io.Writer, level, format string) (*slog.Logger, error) {
	var lv slog.Level
	switch strings.ToLower(level) {
	case "", "info":
		lv = slog.LevelInfo
	case "debug":
		lv = slog.LevelDebug
	case "warn", "warning":
		lv = slog.LevelWarn
	case "error":
		lv = slog.LevelError
	default:
		return nil, usageErr("--log-level %q: want debug, info, warn or error", level)
	}
	var h slog.Handler
	switch format {
	case "", "text":
		h = &lineHandler{w: w, level: lv, mu: new(sync.Mutex)}
	case "json":
		h = slog.NewJSONHandler(w, &slog.HandlerOptions{Level: lv})
	default:
		return nil, usageErr("--log-format %q: want text or json", format)
	}
	return slog.New(&onceHandler{Handler: h, seen: &seenSet{m: map[string]bool{}}}), nil
}

// onceHandler prints each distinct warning (message and attributes) once per
// invocation: the configuration is loaded and a token source built more than
// once by some commands, and the same plain-http or file-mode warning each
// time is noise.
type onceHandler struct {
	slog.Handler
	seen  *seenSet
	attrs string
}

type seenSet struct {
	mu sync.Mutex
	m  map[string]bool
}

func (h *onceHandler) Handle(ctx context.Context, r slog.Record) error {
	if r.Level == slog.LevelWarn {
		var b strings.Builder
		b.WriteString(h.attrs)
		b.WriteString(r.Message)
		r.Attrs(func(a slog.Attr) bool {
			fmt.Fprintf(&b, "\x00%s=%s", a.Key, a.Value.Resolve().String())
			return true
		})
		k := b.String()
		h.seen.mu.Lock()
		dup := h.seen.m[k]
		h.seen.m[k] = true
		h.seen.mu.Unlock()
		if dup {
			return nil
		}
	}
	return h.Handler.Handle(ctx, r)
}

func (h *onceHandler) WithAttrs(as []slog.Attr) slog.Handler {
	n := *h
	n.Handler = h.Handler.WithAttrs(as)
	for _, a := range as {
		n.attrs += a.Key + "=" + a.Value.Resolve().String() + "\x00"
	}
	return &n
}

func (h *onceHandler) WithGroup(name string) slog.Handler {
	n := *h
	n.Handler = h.Handler.WithGroup(name)
	n.attrs += name + ".\x00"
	return &n
}

type lineHandler struct {
	w     io.Writer
	level slog.Level
	mu    *sync.Mutex
	attrs []slog.Attr
}

func (h *lineHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= h.level }

func (h *lineHandler) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString("mcpwrap: ")
	switch {
	case r.Level >= slog.LevelError:
		b.WriteString("error: ")
	case r.Level >= slog.LevelWarn:
		b.WriteString("warning: ")
	case r.Level >= slog.LevelInfo:
	default:
		b.WriteString("debug: ")
	}
	b.WriteString(r.Message)
	write := func(a slog.Attr) bool {
		v := a.Value.Resolve().String()
		if strings.ContainsAny(v, " \t\"=") {
			v = fmt.Sprintf("%q", v)
		}
		fmt.Fprintf(&b, " %s=%s", a.Key, v)
		return true
	}
	for _, a := range h.attrs {
		write(a)
	}
	r.Attrs(write)
	b.WriteByte('\n')
	h.mu.Lock()
	defer h.mu.Unlock()
	_, err := io.WriteString(h.w, b.String())
	return err
}

func (h *lineHandler) WithAttrs(as []slog.Attr) slog.Handler {
	n := *h
	n.attrs = append(append([]slog.Attr(nil), h.attrs...), as...)
	return &n
}

func (h *lineHandler) WithGroup(string) slog.Handler { return h }
