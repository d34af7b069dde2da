package guard

import (
	"encoding/json"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/mcpwrap/mcpwrap/config"
	"github.com/mcpwrap/mcpwrap/identity"
	"github.com/mcpwrap/mcpwrap/jsonrpc"
	"github.com/mcpwrap/mcpwrap/launcher"
	"github.com/mcpwrap/mcpwrap/policy"
)

func newGuard(t *testing.T, p *config.Principal) *Guard {
	t.Helper()
	now := time.Unix(1_700_000_000, 0)
	principals := map[string]*config.Principal{"bot": p}
	return &Guard{
		Server:   "ev",
		Engine:   policy.New(config.Deployment{Profile: "local"}, principals, func() time.Time { return now }),
		Identity: &identity.Identity{Principal: "bot", AuthMethod: identity.MethodLocal, TrustLevel: identity.TrustLocal},
		Logger:   slog.New(slog.NewTextHandler(io.Discard, nil)),
		Now:      func() time.Time { return now },
	}
}

func judge(t *testing.T, g *Guard, line string) (fwd, reply []byte, tag any) {
	t.Helper()
	m, err := jsonrpc.Parse([]byte(line), true)
	if err != nil {
		t.Fatal(err)
	}
	return g.Request([]byte(line+"\n"), &m)
}

func replyError(t *testing.T, reply []byte) (int, map[string]any) {
	t.Helper()
	var r struct {
		Error struct {
			Code int            `json:"code"`
			Data map[string]any `json:"data"`
		} `json:"error"`
	}
	if err := json.Unmarshal(reply, &r); err != nil {
		t.Fatalf("reply %q: %v", reply, err)
	}
	return r.Error.Code, r.Error.Data
}

func TestGuardDeniesToolsOutsideTheAllowList(t *testing.T) {
	g := newGuard(t, &config.Principal{Name: "bot", Tools: config.Rules{Allow: []string{"echo"}, AllowSet: true}})
	fwd, reply, _ := judge(t, g, `{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"get-env","arguments":{}}}`)
	if fwd != nil {
		t.Fatal("denied call was forwarded")
	}
	code, data := replyError(t, reply)
	if code != -32043 || data["reason"] != "tool_not_allowed" || data["principal"] != "bot" || data["tool"] != "get-env" || data["server"] != "ev" {
		t.Fatalf("reply = %s", reply)
	}
	line := `{"jsonrpc":"2.0","id":6,"method":"tools/call","params":{"name":"echo","arguments":{"message":"hi"}}}`
	fwd, reply, _ = judge(t, g, line)
	if reply != nil || string(fwd) != line+"\n" {
		t.Fatalf("allowed call: fwd=%q reply=%q (must be forwarded byte-for-byte)", fwd, reply)
	}
}

func TestGuardStripsReportedActorFields(t *testing.T) {
	g := newGuard(t, &config.Principal{Name: "bot"})
	fwd, _, tag := judge(t, g, `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"message":"m","_mcpwrap_actor":"reviewer"},"_meta":{"mcpwrap/actor":"other","progressToken":3}}}`)
	if strings.Contains(string(fwd), "mcpwrap") {
		t.Fatalf("actor fields reached the server: %s", fwd)
	}
	var m struct {
		Params struct {
			Arguments map[string]any `json:"arguments"`
			Meta      map[string]any `json:"_meta"`
		} `json:"params"`
	}
	if err := json.Unmarshal(fwd, &m); err != nil || m.Params.Arguments["message"] != "m" || m.Params.Meta["progressToken"] != float64(3) {
		t.Fatalf("forwarded %s lost other fields (%v)", fwd, err)
	}
	if a := tag.(*request).entry.ReportedActor; a != "other" {
		t.Fatalf("reported actor = %q, want the _meta one", a)
	}
}

func TestGuardFiltersToolsList(t *testing.T) {
	g := newGuard(t, &config.Principal{Name: "bot", Tools: config.Rules{Allow: []string{"get_*", "echo"}, Deny: []string{"get_secret"}, AllowSet: true}})
	_, _, tag := judge(t, g, `{"jsonrpc":"2.0","id":2,"method":"tools/list"}`)
	resp := `{"jsonrpc":"2.0","id":2,"result":{"tools":[{"name":"echo"},{"name":"get_secret"},{"name":"get_time"},{"name":"delete_all"}],"nextCursor":"c2"}}`
	m, _ := jsonrpc.Parse([]byte(resp), false)
	out := g.Response([]byte(resp+"\n"), &m, &launcher.Pending{Method: "tools/list", Tag: tag})
	var r struct {
		Result struct {
			Tools      []struct{ Name string } `json:"tools"`
			NextCursor string                  `json:"nextCursor"`
		} `json:"result"`
	}
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tl := range r.Result.Tools {
		names = append(names, tl.Name)
	}
	if strings.Join(names, ",") != "echo,get_time" || r.Result.NextCursor != "c2" {
		t.Fatalf("filtered to %v cursor %q", names, r.Result.NextCursor)
	}
}

func TestGuardRateLimit(t *testing.T) {
	g := newGuard(t, &config.Principal{Name: "bot", RateLimit: config.RateLimit{N: 2, Per: time.Minute}})
	call := `{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":"echo"}}`
	for i := 1; i <= 2; i++ {
		if _, reply, _ := judge(t, g, strings.Replace(call, "%d", "1", 1)); reply != nil {
			t.Fatalf("call %d refused: %s", i, reply)
		}
	}
	_, reply, _ := judge(t, g, strings.Replace(call, "%d", "3", 1))
	code, data := replyError(t, reply)
	if code != -32029 || data["reason"] != "rate_limited" || data["retry_after_seconds"].(float64) < 1 {
		t.Fatalf("third call: %s", reply)
	}
}

func TestGuardDropsRefusedNotifications(t *testing.T) {
	g := newGuard(t, &config.Principal{Name: "bot", Suspended: true})
	fwd, reply, _ := judge(t, g, `{"jsonrpc":"2.0","method":"notifications/initialized"}`)
	if fwd != nil || reply != nil {
		t.Fatalf("suspended notification: fwd=%q reply=%q", fwd, reply)
	}
	_, reply, _ = judge(t, g, `{"jsonrpc":"2.0","id":1,"method":"ping"}`)
	if code, data := replyError(t, reply); code != -32043 || data["reason"] != "principal_suspended" {
		t.Fatalf("suspended ping: %s", reply)
	}
}
