package audit

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/mcpwrap/mcpwrap/store"
)

// Batching defaults (DESIGN.md §10).
const (
	DefaultFlushInterval = 100 * time.Millisecond
	DefaultBatchSize     = 256
	defaultBuffer        = 4096
	// retryInterval is how soon a batch that could be neither appended nor
	// spooled is tried again.
	retryInterval = time.Second
)

// Writer appends entries to the audit log in batches from one goroutine of
// its own. Write, Flush and Close are safe for concurrent use.
type Writer struct {
	st        *store.Store
	log       *slog.Logger
	now       func() time.Time
	interval  time.Duration
	batchSize int
	buffer    int
	retention time.Duration

	// ch carries pointers: a buffer of defaultBuffer whole entries would be
	// 1.5 MiB that every launch allocates before its server starts, most of
	// the way to the heap size at which the first garbage collection runs.
	ch chan *Entry
	// kick wakes the writer while it waits for a batch's timer, once a
	// batch's worth of entries is queued.
	kick    chan struct{}
	flushCh chan chan error
	closing chan struct{} // closed when Close starts: drain everything
	done    chan struct{} // closed when the loop has ended

	mu        sync.RWMutex // guards closed against sends on ch
	closed    bool
	closeOnce sync.Once

	errMu sync.Mutex
	lost  int   // entries that could be neither appended nor spooled
	err   error // the last reason for a loss
}

// Option configures a Writer.
type Option func(*Writer)

// WithLogger sets where the writer reports spooling and failures (nothing
// when unset).
func WithLogger(l *slog.Logger) Option {
	return func(w *Writer) {
		if l != nil {
			w.log = l
		}
	}
}

// WithClock sets the clock that stamps entries without a time and drives
// retention (time.Now when unset).
func WithClock(now func() time.Time) Option {
	return func(w *Writer) {
		if now != nil {
			w.now = now
		}
	}
}

// WithRetention prunes entries older than d (audit.retention) after the
// writer's first successful batch (the one written by Close included) and
// then hourly; the store's marker keeps all processes together to at most one
// run an hour. d <= 0 keeps entries forever (the default).
func WithRetention(d time.Duration) Option {
	return func(w *Writer) { w.retention = d }
}

// WithBatch overrides the flush interval and batch size (values <= 0 keep the
// defaults). Tests use it; the proxy should not.
func WithBatch(interval time.Duration, size int) Option {
	return func(w *Writer) {
		if interval > 0 {
			w.interval = interval
		}
		if size > 0 {
			w.batchSize = size
		}
	}
}

// NewWriter starts a writer on st's audit log. Close it on every exit path.
func NewWriter(st *store.Store, opts ...Option) *Writer {
	w := &Writer{
		st:        st,
		log:       slog.New(slog.DiscardHandler),
		now:       time.Now,
		interval:  DefaultFlushInterval,
		batchSize: DefaultBatchSize,
		buffer:    defaultBuffer,
		flushCh:   make(chan chan error),
		kick:      make(chan struct{}, 1),
		closing:   make(chan struct{}),
		done:      make(chan struct{}),
	}
	for _, o := range opts {
		o(w)
	}
	w.ch = make(chan *Entry, w.buffer)
	go w.run()
	return w
}

// Write queues e; it stamps e.Time with the writer's clock when it is zero.
// Seq, PrevHash and Hash are ignored (assigned when the entry is appended).
// Write returns at once unless the buffer is full, in which case it waits:
// entries are never dropped. After Close, Write appends e synchronously.
func (w *Writer) Write(e Entry) {
	if e.Time.IsZero() {
		e.Time = w.now()
	}
	w.mu.RLock()
	if !w.closed {
		w.ch <- &e
		if len(w.ch) >= w.batchSize {
			// A batch's worth waits: wake the writer before its timer.
			select {
			case w.kick <- struct{}{}:
			default:
			}
		}
		w.mu.RUnlock()
		return
	}
	w.mu.RUnlock()
	if err := w.persist([]Entry{e}); err != nil {
		w.recordLoss(1, err)
	}
}

// Flush returns once everything queued before the call is in audit.db or a
// spool file. When that failed, the entries stay queued for another attempt
// and Flush returns the reason; after Close it reports what Close does.
func (w *Writer) Flush() error {
	reply := make(chan error, 1)
	select {
	case w.flushCh <- reply:
		return <-reply
	case <-w.done:
		return w.Err()
	}
}

// Close writes everything queued, stops the writer and reports whether
// entries were lost: an error when some batch could be neither appended to
// audit.db nor spooled (each such failure is also logged). Close is
// idempotent.
func (w *Writer) Close() error {
	// Tell the loop first: a Write blocked on a full buffer holds the read
	// lock, and only a draining loop lets it go.
	w.closeOnce.Do(func() { close(w.closing) })
	w.mu.Lock()
	if !w.closed {
		w.closed = true
		close(w.ch)
	}
	w.mu.Unlock()
	<-w.done
	return w.Err()
}

// Err reports entries lost so far, as Close does.
func (w *Writer) Err() error {
	w.errMu.Lock()
	defer w.errMu.Unlock()
	if w.lost == 0 {
		return nil
	}
	return fmt.Errorf("audit: %d entries could not be written: %w", w.lost, w.err)
}

func (w *Writer) recordLoss(n int, err error) {
	w.log.Error("audit: entries could not be written to the audit log or a spool file", "entries", n, "error", err)
	w.errMu.Lock()
	w.lost += n
	w.err = err
	w.errMu.Unlock()
}

// run is the writer's goroutine. A batch is written when it reaches
// batchSize, interval after its first entry arrived, on Flush, and on Close.
// A batch that fails is kept and retried; while it is as large as the
// buffer, run stops taking entries so that Write blocks instead of growing
// memory without bound (Close still drains everything).
func (w *Writer) run() {
	defer close(w.done)
	var (
		batch    []Entry
		timer    = time.NewTimer(time.Hour)
		timerSet bool
		closing  bool
		failing  bool // the last attempt failed: wait for the retry timer
		closeCh  = w.closing
		retained bool
		lastRet  time.Time
	)
	timer.Stop()
	defer timer.Stop()
	arm := func(d time.Duration) {
		if timerSet {
			timer.Stop()
		}
		timer.Reset(d)
		timerSet = true
	}
	flush := func() error {
		if timerSet {
			timer.Stop()
			timerSet = false
		}
		if len(batch) == 0 {
			return nil
		}
		if err := w.persist(batch); err != nil {
			if closing {
				w.recordLoss(len(batch), err)
				batch = nil
				return err
			}
			w.log.Warn("audit: could not write a batch; will retry", "entries", len(batch), "error", err)
			failing = true
			arm(retryInterval)
			return err
		}
		batch, failing = nil, false
		if w.retention > 0 && (!retained || w.now().Sub(lastRet) >= retentionEvery) {
			retained, lastRet = true, w.now()
			if n, err := applyRetention(w.st, w.retention, lastRet); err != nil {
				w.log.Warn("audit: retention failed", "error", err)
			} else if n > 0 {
				w.log.Info("audit: retention pruned old entries", "entries", n, "retention", w.retention)
			}
		}
		return nil
	}
	drain := func() {
		for n := len(w.ch); n > 0; n-- {
			e, ok := <-w.ch
			if !ok {
				return
			}
			batch = append(batch, *e)
		}
	}
	for {
		in := w.ch
		if !closing && len(batch) >= w.buffer {
			in = nil // back-pressure: Write blocks until the batch is written
		}
		if timerSet && !closing && !failing {
			// A batch waits for its timer: later entries gather in the
			// channel without waking this goroutine for each one (on a
			// busy session that wake costs more than the entry); the
			// timer, a full batch (kick), Flush and Close end the wait.
			in = nil
		}
		select {
		case e, ok := <-in:
			if !ok {
				// Close closed the channel; this case may win the select
				// over closeCh, and a last batch that cannot be written
				// must then be reported lost, not retried by nobody.
				closing = true
				_ = flush()
				return
			}
			batch = append(batch, *e)
			if len(batch) >= w.batchSize && (!failing || closing) {
				_ = flush()
			} else if !timerSet {
				arm(w.interval)
			}
		case <-w.kick:
			drain()
			if len(batch) >= w.batchSize && !failing {
				_ = flush()
			}
		case <-timer.C:
			timerSet = false
			drain()
			_ = flush()
		case reply := <-w.flushCh:
			// Entries sent before Flush may still sit in the channel.
			for n := len(w.ch); n > 0; n-- {
				batch = append(batch, *<-w.ch)
			}
			reply <- flush()
		case <-closeCh:
			closing = true
			closeCh = nil // a nil channel: this case fires once
		}
	}
}

// persist appends entries to audit.db, or spools them when that fails.
func (w *Writer) persist(entries []Entry) error {
	raws := make([][]byte, 0, len(entries))
	// The entries by their encoding, so the seal need not decode them again
	// (spooled entries of other processes are decoded as usual).
	known := make(map[*byte]*Entry, len(entries))
	for i := range entries {
		e := &entries[i]
		normalize(e)
		raw, err := marshal(e)
		if err != nil {
			// Only arguments or a time out of range can fail to encode; keep
			// the entry without them rather than lose it.
			w.log.Warn("audit: entry could not be encoded; recording it without arguments", "error", err)
			e.Args = nil
			if e.Time.Year() < 0 || e.Time.Year() > 9999 {
				e.Time = w.now().UTC().Round(0)
			}
			if raw, err = marshal(e); err != nil {
				return err
			}
		}
		raws = append(raws, raw)
		known[&raw[0]] = e
	}
	sealKnown := func(raw []byte, seq uint64, prevHash string) ([]byte, string, error) {
		if len(raw) == 0 {
			return seal(raw, seq, prevHash)
		}
		if e := known[&raw[0]]; e != nil {
			return sealEntry(e, seq, prevHash)
		}
		return seal(raw, seq, prevHash)
	}
	_, err := w.st.AppendAudit(raws, sealKnown)
	if err == nil {
		return nil
	}
	if errors.Is(err, store.ErrLocked) {
		w.log.Debug("audit: audit log busy; spooling the batch", "entries", len(raws))
	} else {
		w.log.Warn("audit: could not append to the audit log; spooling the batch", "entries", len(raws), "error", err)
	}
	if _, serr := w.st.SpoolAudit(raws); serr != nil {
		return errors.Join(err, serr)
	}
	return nil
}
