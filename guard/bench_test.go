package guard

import (
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/mcpwrap/mcpwrap/audit"
	"github.com/mcpwrap/mcpwrap/config"
	"github.com/mcpwrap/mcpwrap/identity"
	"github.com/mcpwrap/mcpwrap/jsonrpc"
	"github.com/mcpwrap/mcpwrap/launcher"
	"github.com/mcpwrap/mcpwrap/policy"
	"github.com/mcpwrap/mcpwrap/store"
)

// BenchmarkCall is the guard's share of one audited tools/call: request,
// answer and audit entry, with allow and deny lists and a shared rate limit.
func BenchmarkCall(b *testing.B) {
	st, err := store.Open(b.TempDir(), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		b.Fatal(err)
	}
	p := &config.Principal{Name: "bot", Servers: []string{"ev"}, RateLimit: config.RateLimit{N: 1000000, Per: time.Second},
		Tools: config.Rules{Allow: []string{"echo", "blob"}, Deny: []string{"delete_*"}, AllowSet: true}}
	eng := policy.New(config.Deployment{}, map[string]*config.Principal{"bot": p}, nil)
	eng.ShareRates(st)
	aw := audit.NewWriter(st)
	g := &Guard{Session: "s", Server: "ev", Engine: eng, Tokens: st, Audit: aw, ArgsMode: "hash",
		Identity: &identity.Identity{Principal: "bot", AuthMethod: identity.MethodLocal, TrustLevel: identity.TrustLocal},
		Logger:   slog.New(slog.NewTextHandler(io.Discard, nil))}
	req := []byte(`{"jsonrpc":"2.0","id":12345,"method":"tools/call","params":{"name":"echo","arguments":{"message":"hello"}}}` + "\n")
	resp := []byte(`{"jsonrpc":"2.0","id":12345,"result":{"content":[{"type":"text","text":"hello"}]}}` + "\n")
	b.ReportAllocs()
	for b.Loop() {
		m, _ := jsonrpc.Parse(req, true)
		_, _, tag := g.Request(req, &m)
		rm, _ := jsonrpc.Parse(resp, false)
		pd := &launcher.Pending{ID: m.ID, Method: m.Method, Tag: tag}
		out := g.Response(resp, &rm, pd)
		pd.Response = out
		g.Finish(pd, launcher.Outcome{Result: "success", BytesOut: len(out)})
	}
	b.StopTimer()
	_ = aw.Close()
	_ = eng.Release()
}

// BenchmarkRoundTrip is one audited tools/call through the real launcher and
// guard to the stand-in server and back, as `mcpwrap run` does it (the
// stand-in's own time included).
func BenchmarkRoundTrip(b *testing.B) {
	p := &config.Principal{Name: "bot", RateLimit: config.RateLimit{N: 1000000, Per: time.Second},
		Tools: config.Rules{Allow: []string{"echo"}, Deny: []string{"delete_*"}, AllowSet: true}}
	l := startLiveB(b, p)
	req := `{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":"echo","arguments":{"message":"hello"}}}`
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		if _, err := io.WriteString(l.in, fmt.Sprintf(req, i)+"\n"); err != nil {
			b.Fatal(err)
		}
		if _, err := l.out.ReadString('\n'); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	l.in.Close()
	<-l.done
	_ = l.aw.Close()
}
