package app

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/urfave/cli/v2"
)

// metricHelp documents the counters of DESIGN.md §11 for the Prometheus output.
var metricHelp = map[string]string{
	"token_acquisitions_total":   "Requests made to token endpoints.",
	"token_acquisitions_success": "Token requests that returned a token.",
	"token_acquisitions_failure": "Token requests that failed.",
	"token_cache_hits":           "Launches served a token from the cache.",
	"token_cache_misses":         "Launches that had to fetch a token.",
	"token_refreshes":            "Fetches that replaced a cached token.",
	"token_revocations":          "Tokens revoked with mcpwrap token revoke.",
	"avg_token_latency_ms":       "Mean token request latency in milliseconds.",
	"active_tokens":              "Cached tokens that have not expired.",
	"requests_total":             "Client requests judged by policy, by decision.",
	"sessions_total":             "Sessions started by mcpwrap run.",
	"child_restarts_total":       "Server children restarted for a fresh token.",
}

func metricsCommand(e *env) *cli.Command {
	return &cli.Command{
		Name:  "metrics",
		Usage: "OAuth and proxy counters, kept across processes",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "json", Usage: "print as JSON"},
			&cli.BoolFlag{Name: "prometheus", Usage: "print the Prometheus text exposition format"},
		},
		Action: func(c *cli.Context) error {
			st, err := e.openStore(c)
			if err != nil {
				return err
			}
			m, err := st.Metrics()
			if err != nil {
				return withCode(ExitInternal, err)
			}
			for _, k := range []string{"token_acquisitions_total", "token_acquisitions_success", "token_acquisitions_failure",
				"token_cache_hits", "token_cache_misses", "token_refreshes", "token_revocations", "sessions_total", "child_restarts_total"} {
				if _, ok := m[k]; !ok {
					m[k] = 0
				}
			}
			if n := m["token_acquisitions_total"]; n > 0 {
				m["avg_token_latency_ms"] = m["token_latency_ms_sum"] / n
			} else {
				m["avg_token_latency_ms"] = 0
			}
			delete(m, "token_latency_ms_sum")
			toks, err := st.ListTokens()
			if err != nil {
				return withCode(ExitInternal, err)
			}
			active := 0
			for _, t := range toks {
				if t.Expiry.IsZero() || time.Now().Before(t.Expiry) {
					active++
				}
			}
			m["active_tokens"] = float64(active)
			names := make([]string, 0, len(m))
			for k := range m {
				names = append(names, k)
			}
			sort.Strings(names)
			switch {
			case c.Bool("json"):
				return writeJSON(e.io.Stdout, m)
			case c.Bool("prometheus"):
				seen := map[string]bool{}
				for _, k := range names {
					base, _, _ := strings.Cut(k, "{")
					if !seen[base] {
						seen[base] = true
						typ := "counter"
						if base == "avg_token_latency_ms" || base == "active_tokens" {
							typ = "gauge"
						}
						if h := metricHelp[base]; h != "" {
							fmt.Fprintf(e.io.Stdout, "# HELP mcpwrap_%s %s\n", base, h)
						}
						fmt.Fprintf(e.io.Stdout, "# TYPE mcpwrap_%s %s\n", base, typ)
					}
					fmt.Fprintf(e.io.Stdout, "mcpwrap_%s %g\n", k, m[k])
				}
				return nil
			}
			for _, k := range names {
				fmt.Fprintf(e.io.Stdout, "%-40s %g\n", k, m[k])
			}
			return nil
		},
	}
}
