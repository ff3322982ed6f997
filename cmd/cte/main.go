package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/ctexchange/cte"
	"github.com/ctexchange/cte/sharing"
)

// Command flags.
type cmdFlags struct {
	source   string
	retryNow bool
	days     int
	value    string
	filter   string
	limit    int
	level    string
	since    string
	keep     bool
	stix     bool
}

// Exit codes, documented in the help text.
const (
	exitOK          = 0   // everything worked
	exitFailure     = 1   // the work failed: a product refused or could not be reached, the state file is unusable
	exitUsage       = 2   // the command line or the configuration file is wrong; nothing was done
	exitPartial     = 3   // some of the work failed, e.g. one plugin of two did not validate
	exitInterrupted = 130 // stopped by SIGINT (Ctrl-C), as shells report 128+2
)

// errInterrupted is the cause of the context of a run stopped by SIGINT.
var errInterrupted error = stopCause("interrupted")

// stopCause is the cause of a context cancelled by a signal. It is a
// context.Canceled: the engine and the plugins wrap a context's cause in their
// errors, and an interrupted push or pull must read as a cancellation there
// (audited at INFO, no failed attempt), not as a failure of the product.
type stopCause string

func (c stopCause) Error() string { return string(c) }

// Is reports that a stop by a signal is a context.Canceled.
func (stopCause) Is(target error) bool { return target == context.Canceled }

func main() {
	ctx, cancel := context.WithCancelCause(context.Background())
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		sig := <-sigs
		signal.Stop(sigs) // a second Ctrl-C kills at once
		if sig == os.Interrupt {
			cancel(errInterrupted)
		} else {
			cancel(stopCause(fmt.Sprintf("terminated (%v)", sig)))
		}
	}()
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr, os.LookupEnv)
	signal.Stop(sigs)
	os.Exit(code)
}

// app is one invocation of cte.
type app struct {
	stdout, stderr io.Writer
	env            func(string) (string, bool)
	reg            *cte.Registry
	now            func() time.Time
	// term owns stderr (and stdout when it is the same screen) when stderr is a
	// terminal: long work shows a status line, and log lines go above it. nil
	// otherwise.
	term *terminal

	configPath  string
	json        bool
	logLevel    string
	logLevelSet bool // --log-level was given
	showVersion bool // --version

	cfg       *config                             // loaded once per invocation
	f         cmdFlags                            // the command's own flags
	secrets   *secretSet                          // configured secrets, scrubbed from stdout and stderr
	openStore func(string) (sharing.Store, error) // opens the state file
	daemon    *session                            // set when a running daemon runs this command for the command line (daemon.go)
	readOnly  bool                                // the command only reads local state: no secret or product needed (daemon.go)
	run       runOptions                          // flags of "cte run" (cmd_run_console.go)
	act       actionFlags                         // flags of the indicator actions (cmd_iocs_actions.go)
	// listenUnix listens on the daemon's socket beside the state file; nil
	// serves none (daemon.go).
	listenUnix func(path string) (net.Listener, error)
}

// run is one invocation of cte with its arguments, output streams and
// environment; it returns the exit code. A context cancelled with the cause
// errInterrupted (SIGINT) makes it exitInterrupted.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, env func(string) (string, bool)) int {
	return newApp(stdout, stderr, env, isTerminal(stderr)).exec(ctx, args)
}

// exec runs the command line args and returns the exit code: exitInterrupted
// when ctx was cancelled by SIGINT, whatever the command returned.
func (a *app) exec(ctx context.Context, args []string) int {
	code := a.main(ctx, args)
	if errors.Is(context.Cause(ctx), errInterrupted) {
		return exitInterrupted
	}
	return code
}

// newApp returns an app writing to stdout and stderr; onTerminal says that
// stderr is a terminal.
func newApp(stdout, stderr io.Writer, env func(string) (string, bool), onTerminal bool) *app {
	secrets := &secretSet{}
	var mu sync.Mutex
	a := &app{env: env, reg: newRegistry(), now: time.Now, secrets: secrets, openStore: openStateFile, listenUnix: listenSocket}
	if onTerminal {
		a.term = newTerminal(stderr)
		if isTerminal(stdout) {
			stdout = a.term.writer(stdout)
		}
		stderr = a.term
	}
	a.stdout = scrubWriter{w: stdout, secrets: secrets, mu: &mu}
	a.stderr = scrubWriter{w: stderr, secrets: secrets, mu: &mu}
	return a
}

// usageErr prints a usage problem of a command and returns exitUsage.
func (a *app) usageErr(cmd, format string, args ...any) int {
	fmt.Fprintf(a.stderr, "cte %s: %s\nRun \"cte %s --help\" for its usage.\n", cmd, fmt.Sprintf(format, args...), cmd)
	return exitUsage
}

// fail prints an error and returns the exit code it calls for: exitUsage for a
// configuration problem, exitFailure otherwise.
func (a *app) fail(err error) int {
	if errors.Is(err, cte.ErrInvalidConfig) {
		var ce configErrors
		if errors.As(err, &ce) {
			fmt.Fprintln(a.stderr, err)
			return exitUsage
		}
		fmt.Fprintf(a.stderr, "cte: %v\n", err)
		return exitUsage
	}
	fmt.Fprintf(a.stderr, "cte: %v\n", err)
	return exitFailure
}

// writeJSON writes v as indented JSON on stdout, in the one key style of
// jsonValue.
func (a *app) writeJSON(v any) int {
	enc := json.NewEncoder(a.stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(jsonValue(v)); err != nil {
		fmt.Fprintf(a.stderr, "cte: write JSON: %v\n", err)
		return exitFailure
	}
	return exitOK
}

// writeJSONLine writes v as one line of JSON on stdout (JSON lines), in the key
// style of jsonValue.
func (a *app) writeJSONLine(v any) {
	b, err := json.Marshal(jsonValue(v))
	if err != nil {
		fmt.Fprintf(a.stderr, "cte: write JSON: %v\n", err)
		return
	}
	_, _ = a.stdout.Write(append(b, '\n'))
}
