// Command helper is a stand-in MCP server for the launcher's tests. It answers
// every request with {"method": M, "params": P} and misbehaves on request.
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	garbage := flag.Bool("garbage-first", false, "write a non-JSON line first")
	ignoreTerm := flag.Bool("ignore-term", false, "ignore SIGTERM")
	ignoreEOF := flag.Bool("ignore-eof", false, "keep running after stdin closes")
	grandchild := flag.String("grandchild", "", "start a sleeping grandchild and write its pid here")
	askClient := flag.Bool("ask-client", false, "send a server-to-client request first")
	termFile := flag.String("term-file", "", "write the signals received here")
	stray := flag.Bool("stray", false, "first answer a request nobody sent (id \"nobody\")")
	noRead := flag.Bool("no-read", false, "never read stdin; sleep until killed")
	pidFile := flag.String("pid-file", "", "write the helper's own pid here")
	flag.Parse()

	if *pidFile != "" {
		_ = os.WriteFile(*pidFile, []byte(strconv.Itoa(os.Getpid())), 0o600)
	}

	if *ignoreTerm {
		signal.Ignore(syscall.SIGTERM)
	}
	if *termFile != "" {
		ch := make(chan os.Signal, 1)
		signal.Notify(ch, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGINT)
		go func() {
			s := <-ch
			_ = os.WriteFile(*termFile, []byte(s.String()), 0o600)
			os.Exit(3)
		}()
	}
	if *grandchild != "" {
		cmd := exec.Command("sleep", "300")
		if err := cmd.Start(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		_ = os.WriteFile(*grandchild, []byte(strconv.Itoa(cmd.Process.Pid)), 0o600)
	}
	out := bufio.NewWriterSize(os.Stdout, 1<<20)
	if *garbage {
		fmt.Fprintln(out, "this line is a log message, not JSON")
		out.Flush()
	}
	if *askClient {
		fmt.Fprintln(out, `{"jsonrpc":"2.0","id":"srv-1","method":"roots/list"}`)
		out.Flush()
	}
	if *stray {
		fmt.Fprintln(out, `{"jsonrpc":"2.0","id":"nobody","result":{"stray":true}}`)
		out.Flush()
	}
	fmt.Fprintln(os.Stderr, "helper: started")
	if *noRead {
		time.Sleep(time.Hour)
	}
	in := bufio.NewReaderSize(os.Stdin, 1<<20)
	for {
		line, err := in.ReadBytes('\n')
		if len(line) > 0 {
			if t := bytes.TrimSpace(line); len(t) > 0 && t[0] == '[' {
				handleBatch(out, t)
			} else {
				handle(out, line)
			}
		}
		if err != nil {
			break
		}
	}
	if *ignoreEOF {
		time.Sleep(time.Hour)
	}
}

// handleBatch answers a batch with one array, as a JSON-RPC server does.
func handleBatch(out *bufio.Writer, line []byte) {
	var els []json.RawMessage
	if err := json.Unmarshal(line, &els); err != nil {
		fmt.Fprintf(os.Stderr, "helper: bad batch of %d bytes\n", len(line))
		return
	}
	var buf bytes.Buffer
	w := bufio.NewWriter(&buf)
	for _, el := range els {
		handle(w, el)
	}
	w.Flush()
	var answers []string
	for _, l := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		if l != "" {
			answers = append(answers, l)
		}
	}
	if len(answers) > 0 {
		fmt.Fprintf(out, "[%s]\n", strings.Join(answers, ","))
	}
	out.Flush()
}

// jsID is the id as a JavaScript server writes it back: numbers re-encoded
// (1.0 and 1e0 come back as 1), when HELPER_NUMERIC_IDS=1.
func jsID(id json.RawMessage) json.RawMessage {
	if os.Getenv("HELPER_NUMERIC_IDS") != "1" || len(id) == 0 || id[0] == '"' {
		return id
	}
	f, err := strconv.ParseFloat(string(id), 64)
	if err != nil {
		return id
	}
	if f == 0 {
		f = 0
	}
	return json.RawMessage(strconv.FormatFloat(f, 'f', -1, 64))
}

// initialized is 0 before initialize, 1 after it, 2 after notifications/initialized.
var initialized int

func handle(out *bufio.Writer, line []byte) {
	var m struct {
		ID     json.RawMessage `json:"id"`
		Method string          `json:"method"`
		Params json.RawMessage `json:"params"`
		Result json.RawMessage `json:"result"`
	}
	if err := json.Unmarshal(line, &m); err != nil {
		fmt.Fprintf(os.Stderr, "helper: bad line of %d bytes\n", len(line))
		return
	}
	m.ID = jsID(m.ID)
	switch {
	case m.Method == "initialize":
		initialized = 1
	case m.Method == "notifications/initialized":
		initialized = 2
		return
	}
	switch {
	case m.Method == "initialize" && os.Getenv("HELPER_INIT_REJECT") == "1":
		// An upstream that refuses the token on the first request.
		fmt.Fprintf(out, `{"jsonrpc":"2.0","id":%s,"error":{"code":-32001,"message":"Error POSTing to endpoint (HTTP 401): invalid_token"}}`+"\n", m.ID)
	case m.Method == "pid":
		fmt.Fprintf(out, `{"jsonrpc":"2.0","id":%s,"result":{"pid":%d,"initialized":%d}}`+"\n", m.ID, os.Getpid(), initialized)
	case m.Method == "call" && os.Getenv("HELPER_REJECT") == "1":
		fmt.Fprintf(out, `{"jsonrpc":"2.0","id":%s,"error":{"code":-32001,"message":"Error POSTing to endpoint (HTTP 401): invalid_token"}}`+"\n", m.ID)
	case m.Method == "die":
		code, _ := strconv.Atoi(string(m.Params))
		os.Exit(code)
	case m.Method == "halfdie":
		// Half a response, no newline, then exit with the code in params.
		code, _ := strconv.Atoi(string(m.Params))
		fmt.Fprintf(out, `{"jsonrpc":"2.0","id":%s,"result":{"half":`, m.ID)
		out.Flush()
		os.Exit(code)
	case m.Method == "tools/list" && (len(m.Params) < 3 || bytes.HasPrefix(m.Params, []byte(`{"_meta"`))):
		fmt.Fprintf(out, `{"jsonrpc":"2.0","id":%s,"result":{"tools":[{"name":"echo"},{"name":"get-env"},{"name":"get-sum"}]}}`+"\n", m.ID)
	case m.Method == "slow":
		// never answered
	case m.Method == "env":
		b, _ := json.Marshal(os.Environ())
		fmt.Fprintf(out, `{"jsonrpc":"2.0","id":%s,"result":%s}`+"\n", m.ID, b)
	case m.Method != "" && len(m.ID) > 0:
		params := m.Params
		if params == nil {
			params = json.RawMessage("null")
		}
		fmt.Fprintf(out, `{"jsonrpc":"2.0","id":%s,"result":{"method":%q,"params":%s}}`+"\n", m.ID, m.Method, params)
	case m.Result != nil:
		// A client's answer to our request: report it as a notification.
		fmt.Fprintf(out, `{"jsonrpc":"2.0","method":"notifications/message","params":{"answer":%s}}`+"\n", m.Result)
	}
	out.Flush()
}
