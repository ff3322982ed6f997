package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/ctexchange/cte"
	"github.com/ctexchange/cte/ioc"
)

// While "cte run" runs it holds the state file, and it serves a unix socket
// beside it (STATE.sock, mode 0600: the file system says who may use it). A
// read command or an indicator action run meanwhile finds the socket and has
// the daemon run it on its own engine: the same code prints the same output,
// and actions reach the products at once. So do "cte sync" and "cte replay":
// the daemon syncs or shares now, with its own secrets, instead of the
// command saying the file is in use. Without a daemon the command opens
// the state file itself. The socket also serves the console (the API under
// /api/v1/), for scripts on the same machine.

// forwarded are the commands a running daemon runs for the command line:
// the read commands, and sync and replay, which the daemon runs beside its
// own cycles (a source is pulled, and a configuration shared, by one of them
// at a time; the engine's locks order them).
var forwarded = []string{"sharing", "iocs", "explain", "logs", "test", "sync", "replay"}

// readOnly are the commands that only read local state (or write it without
// asking a product): they need no secret and no product.
var readOnly = []string{"sharing", "iocs", "explain", "logs", "test"}

// socketPath is the daemon's socket beside the state file; "" for a state
// that is no file (a postgres:// URL: several daemons share it, and each
// command opens it itself).
func socketPath(state string) string {
	if strings.Contains(state, "://") {
		return ""
	}
	return state + ".sock"
}

// cliRequest is what the command line sends to the daemon's /cli.
type cliRequest struct {
	Args []string `json:"args"`
}

// cliAnswer is the daemon's answer: the command's output and exit code.
type cliAnswer struct {
	Code   int    `json:"code"`
	Stdout string `json:"stdout"`
	Stderr string `json:"stderr"`
}

// forward runs args on the daemon holding the state file, when one runs. It
// returns false when there is none (no socket, or nobody answers it).
func (a *app) forward(ctx context.Context, args []string) (int, bool) {
	if a.daemon != nil {
		return 0, false
	}
	var state string
	if a.readOnly {
		cfg, code := a.loadConfig()
		if cfg == nil {
			return code, true
		}
		state = cfg.State
	} else {
		// Only the state path is needed here: the daemon has the secrets,
		// and a shell without them must still reach it. Without a daemon
		// the command loads the configuration itself, strictly, and
		// reports what is wrong with it.
		cfg, err := loadConfigFile(a.configPath, a.reg, lenientEnv(a.env))
		if err != nil {
			return 0, false
		}
		state = cfg.State
	}
	sock := socketPath(state)
	if sock == "" {
		return 0, false
	}
	if _, err := os.Stat(sock); err != nil {
		return 0, false
	}
	abs, err := filepath.Abs(a.configPath)
	if err != nil {
		return 0, false
	}
	// the daemon resolves --config itself: give it the same file
	full := append([]string{"--config", abs}, args...)
	body, _ := json.Marshal(cliRequest{Args: full})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://localhost/cli", bytes.NewReader(body))
	if err != nil {
		return 0, false
	}
	req.Header.Set("Content-Type", "application/json")
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", sock)
	if err != nil {
		if ctx.Err() != nil {
			return a.fail(ctx.Err()), true
		}
		return 0, false // a socket left by a daemon that died: work locally
	}
	// Connected, the daemon may take the command: whatever happens from
	// here, it is not run again here (a replay pushed twice).
	res, err := connClient(conn).Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return a.fail(ctx.Err()), true
		}
		return a.fail(fmt.Errorf("the running cte (socket %s) took the command but did not answer: %w; it may have run it, in part: see cte logs before running it again", sock, err)), true
	}
	defer res.Body.Close()
	var ans cliAnswer
	if err := json.NewDecoder(io.LimitReader(res.Body, 256<<20)).Decode(&ans); err != nil || res.StatusCode != http.StatusOK {
		return a.fail(fmt.Errorf("the running cte (socket %s) answered %s: %v", sock, res.Status, err)), true
	}
	_, _ = io.WriteString(a.stdout, ans.Stdout)
	_, _ = io.WriteString(a.stderr, ans.Stderr)
	return ans.Code, true
}

// connClient is an HTTP client for one request over conn.
func connClient(conn net.Conn) *http.Client {
	used := false
	return &http.Client{Transport: &http.Transport{
		DisableKeepAlives: true,
		DialContext: func(context.Context, string, string) (net.Conn, error) {
			if used {
				return nil, errors.New("the connection to the running cte was used")
			}
			used = true
			return conn, nil
		},
	}}
}

// serveCLI answers /cli: it runs a forwarded command line on the daemon's
// session and answers its output.
func (a *app) serveCLI(s *session) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			http.Error(w, "POST a command line", http.StatusMethodNotAllowed)
			return
		}
		var req cliRequest
		if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&req); err != nil {
			http.Error(w, "bad request: "+err.Error(), http.StatusBadRequest)
			return
		}
		if name := commandOf(req.Args); !slices.Contains(forwarded, name) {
			http.Error(w, fmt.Sprintf("command %q is not run by the daemon", name), http.StatusForbidden)
			return
		}
		var out, errb bytes.Buffer
		b := newApp(&out, &errb, a.env, false)
		b.reg, b.now, b.daemon = a.reg, a.now, s
		b.secrets.set(s.cfg.secrets)
		code := b.exec(r.Context(), req.Args)
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(cliAnswer{Code: code, Stdout: out.String(), Stderr: errb.String()})
	}
}

// commandOf returns the command name of a command line: the first argument
// that is not a global flag or its value.
func commandOf(args []string) string {
	for i := 0; i < len(args); i++ {
		switch x := args[i]; x {
		case "--config", "-config", "--log-level", "-log-level":
			i++
		default:
			if len(x) > 0 && x[0] == '-' {
				continue
			}
			return x
		}
	}
	return ""
}

// listenSocket listens on the daemon's socket, replacing a stale one (the
// state file's lock says no other daemon runs).
func listenSocket(path string) (net.Listener, error) {
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	l, err := net.Listen("unix", path)
	if err != nil {
		return nil, err
	}
	if err := os.Chmod(path, 0o600); err != nil {
		_ = l.Close()
		return nil, err
	}
	return l, nil
}

// serve runs srv on l until ctx ends, then shuts it down. Requests run in
// ctx, so that a forwarded command stops as the daemon's own work does, and
// the channel says done once the requests in flight have answered (Serve
// returns as soon as Shutdown starts): the caller closes the store after it,
// and a forwarded command left running on a closed store answered nothing.
func serve(ctx context.Context, srv *http.Server, l net.Listener) <-chan error {
	srv.BaseContext = func(net.Listener) context.Context { return ctx }
	done := make(chan error, 1)
	shut := make(chan struct{})
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
		close(shut)
	}()
	go func() {
		var err error
		if srv.TLSConfig != nil {
			err = srv.ServeTLS(l, "", "") // the certificate is in TLSConfig
		} else {
			err = srv.Serve(l)
		}
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
			<-shut
		}
		done <- err
	}()
	return done
}

// shared returns the daemon's session for a forwarded command: closing it
// leaves the daemon's store open.
func (s *session) shared() *session {
	return &session{cfg: s.cfg, store: s.store, eng: s.eng, plugins: s.plugins, borrowed: true, obs: s.obs}
}

// beforeRun runs a forwarded command on the daemon when one runs, and marks
// read-only commands. rest are the command's arguments, args the whole
// command line.
func (a *app) beforeRun(ctx context.Context, name string, rest, args []string) (int, bool) {
	if slices.Contains(readOnly, name) {
		a.readOnly = true
	}
	if !slices.Contains(forwarded, name) || isHelp(rest) {
		return 0, false
	}
	return a.forward(ctx, args)
}

// configEnv is the environment the configuration is expanded with: for a
// read-only command an unset variable stays as written (${NAME}), since
// nothing it names is used.
func (a *app) configEnv() func(string) (string, bool) {
	if !a.readOnly {
		return a.env
	}
	return lenientEnv(a.env)
}

// lenientEnv is env with an unset variable left as written (${NAME}).
func lenientEnv(env func(string) (string, bool)) func(string) (string, bool) {
	return func(name string) (string, bool) {
		if v, ok := env(name); ok {
			return v, true
		}
		return "${" + name + "}", true
	}
}

// offlinePlugin stands for a plugin a read-only command could not open (a
// secret not exported): the engine knows its name, and nothing calls it.
type offlinePlugin struct {
	name string
	err  error
}

func (p offlinePlugin) fail() error {
	return fmt.Errorf("plugin %s is not open for this command (%v): run it where its secrets are set", p.name, p.err)
}

func (p offlinePlugin) Validate(context.Context) error { return p.fail() }

func (p offlinePlugin) Pull(context.Context, cte.Checkpoint) iter.Seq2[cte.Page, error] {
	return func(yield func(cte.Page, error) bool) { yield(cte.Page{}, p.fail()) }
}

func (p offlinePlugin) Push(context.Context, cte.Target, []ioc.Indicator) (cte.PushResult, error) {
	return cte.PushResult{}, p.fail()
}

func (p offlinePlugin) GetTargets(context.Context) ([]cte.Target, error) { return nil, p.fail() }

func isHelp(args []string) bool {
	return slices.ContainsFunc(args, func(s string) bool { return s == "--help" || s == "-help" || s == "-h" })
}

// modeText is a target mode for a table: "-" until the target was listed.
func modeText(m cte.Mode) string {
	if m != cte.Append && m != cte.Replace {
		return "-"
	}
	return m.String()
}
