package app

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/urfave/cli/v2"

	"github.com/mcpwrap/mcpwrap/config"
	"github.com/mcpwrap/mcpwrap/policy"
	"github.com/mcpwrap/mcpwrap/store"
)

func policyCommand(e *env) *cli.Command {
	return &cli.Command{
		Name:  "policy",
		Usage: "explain what the policy lets a principal do",
		Subcommands: []*cli.Command{{
			Name:  "explain",
			Usage: "show which tools a principal sees on a server and, for each other one, the rule that hides it",
			Description: "Judges every tool of the server as a tools/call by the principal (authenticated,\n" +
				"suspension from the store included, rate limit left out) with the configuration as it\n" +
				"is now. The tool names come from the list `mcpwrap tools <server>` cached last time,\n" +
				"without starting anything; when there is none, the server is started through the\n" +
				"launcher once to list them (as the identity running this command, so tools hidden from\n" +
				"that identity are not seen). --tool judges one name, listed or not.\n" +
				"In observe mode (principals.P.mode or [policy] mode = \"observe\") the rules refuse\n" +
				"nothing: what they would refuse is shown as would_deny (and audited so); a suspended\n" +
				"or unauthenticated principal is refused all the same.",
			Flags: []cli.Flag{
				&cli.StringFlag{Name: "principal", Usage: "the `PRINCIPAL` (default: the deployment's default principal)"},
				&cli.StringFlag{Name: "server", Usage: "the configured `SERVER`", Required: true},
				&cli.StringFlag{Name: "tool", Usage: "judge only this `TOOL`"},
				&cli.StringFlag{Name: "actor", Usage: "as if reported by this delegate `ACTOR`"},
				&cli.BoolFlag{Name: "json", Usage: "print as JSON"},
			},
			Action: e.policyExplain,
		}},
	}
}

// observable reports whether observe mode lets a refusal for reason through:
// the policy's rules do, who the caller is (authentication, suspension)
// does not.

type toolVerdict struct {
	Name     string `json:"name"`
	Visible  bool   `json:"visible"`
	Decision string `json:"decision"` // allow | deny | would_deny
	Reason   string `json:"reason,omitempty"`
	Rule     string `json:"rule,omitempty"` // the refusal's message, naming the rule
}

type explanation struct {
	Principal  string        `json:"principal"`
	Configured bool          `json:"configured"` // principals.P exists
	Actor      string        `json:"actor,omitempty"`
	Server     string        `json:"server"`
	Mode       string        `json:"mode"`
	Source     string        `json:"source"` // where the tool names came from
	Tools      []toolVerdict `json:"tools"`
}

func (e *env) policyExplain(c *cli.Context) error {
	if c.NArg() > 0 {
		return usageErr("policy explain takes flags only: --principal P --server S [--tool T]")
	}
	cfg, err := e.loadConfig(c)
	if err != nil {
		return err
	}
	server := c.String("server")
	if _, err := cfg.Server(server); err != nil {
		return withCode(ExitConfig, err)
	}
	principal := c.String("principal")
	if principal == "" {
		principal = cfg.Deployment.DefaultPrincipal
	}
	ex := explanation{Principal: principal, Actor: strings.TrimSpace(c.String("actor")), Server: server, Mode: cfg.ModeOf(principal)}
	_, ex.Configured = cfg.Principals[principal]

	st, err := e.openStore(c)
	if err != nil {
		return err
	}
	suspended := false
	if p, err := st.GetPrincipal(principal); err == nil {
		suspended = p.Suspended
	} else if !errors.Is(err, store.ErrNotFound) {
		return storeErr(err)
	}

	var names []string
	dir, err := e.stateDir(c)
	if err != nil {
		return withCode(ExitInternal, err)
	}
	switch {
	case c.String("tool") != "":
		names, ex.Source = []string{c.String("tool")}, "--tool"
	default:
		if b, err := os.ReadFile(toolCachePath(dir, server)); err == nil {
			names = strings.Fields(string(b))
			ex.Source = "cached by `mcpwrap tools " + server + "`"
			if fi, err := os.Stat(toolCachePath(dir, server)); err == nil {
				ex.Source += " at " + fi.ModTime().UTC().Format(time.RFC3339)
			}
		} else {
			ex.Source = "listed now through the launcher"
			err := e.withClient(c, server, func(ctx context.Context, cs *mcp.ClientSession) error {
				for t, err := range cs.Tools(ctx, nil) {
					if err != nil {
						return rpcErr("tools/list", err)
					}
					names = append(names, t.Name)
				}
				return nil
			})
			if err != nil {
				return err
			}
			cacheToolNames(dir, server, names)
		}
	}

	for _, name := range names {
		// A fresh engine per tool: visibility does not depend on the rate
		// limit, which an engine's buckets would start to apply.
		d := policy.New(cfg.Deployment, cfg.Principals, nil).Decide(policy.Request{
			Principal: principal, Authenticated: true, Suspended: suspended, Actor: ex.Actor,
			Server: server, Method: policy.MethodToolsCall, Tool: name,
		})
		v := toolVerdict{Name: name, Visible: d.Allow, Decision: "allow"}
		if !d.Allow {
			v.Decision, v.Reason, v.Rule = "deny", d.Reason, d.Message
			if ex.Mode == config.ModeObserve && d.Observable() {
				v.Decision, v.Visible = decisionWouldDeny, true
			}
		}
		ex.Tools = append(ex.Tools, v)
	}
	if ex.Tools == nil {
		ex.Tools = []toolVerdict{}
	}
	if c.Bool("json") {
		return writeJSON(e.io.Stdout, ex)
	}
	out := e.io.Stdout
	visible := 0
	for _, v := range ex.Tools {
		if v.Decision == "allow" {
			visible++
		}
	}
	who := fmt.Sprintf("principal %q", principal)
	if ex.Actor != "" {
		who += fmt.Sprintf(" (actor %q)", ex.Actor)
	}
	if !ex.Configured {
		who += " (not in the configuration: no rules of its own)"
	}
	fmt.Fprintf(out, "%s on server %q, mode %s: %d of %d tools allowed; tool names %s\n",
		who, server, ex.Mode, visible, len(ex.Tools), ex.Source)
	if ex.Mode == config.ModeObserve {
		fmt.Fprintln(out, "observe mode: nothing is refused; would_deny rows are let through and audited as would_deny")
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TOOL\tDECISION\tREASON\tRULE")
	for _, v := range ex.Tools {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", cell(v.Name), v.Decision, text(v.Reason), text(v.Rule))
	}
	return tw.Flush()
}
