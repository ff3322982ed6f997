package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
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
	source string
	days   int
	value  string
	filter string
	limit  int
	level  string
	since  string
	keep   bool
	stix   bool
}

// Exit codes, documented in the help text.
const (
	exitOK      = 0 // everything worked
	exitFailure = 1 // the work failed: a product refused or could not be reached, the state file is unusable
	exitUsage   = 2 // the command line or the configuration file is wrong; nothing was done
	exitPartial = 3 // some of the work failed, e.g. one plugin of two did not validate
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		<-ctx.Done()
		stop() // a second Ctrl-C kills at once
	}()
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr, os.LookupEnv)
	stop()
	os.Exit(code)
}

// app is one invocation of cte.
type app struct {
	stdout, stderr io.Writer
	env            func(string) (string, bool)
	reg            *cte.Registry
	now            func() time.Time
	// progress is true when stderr is a terminal: long work shows a progress line
	// instead of log lines.
	progress bool

	configPath  string
	json        bool
	logLevel    string
	logLevelSet bool // --log-level was given

	cfg       *config                             // loaded once per invocation
	f         cmdFlags                            // the command's own flags
	secrets   *secretSet                          // configured secrets, scrubbed from stdout and stderr
	openStore func(string) (sharing.Store, error) // opens the state file
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer, env func(string) (string, bool)) int {
	secrets := &secretSet{}
	var mu sync.Mutex
	a := &app{
		stdout: scrubWriter{w: stdout, secrets: secrets, mu: &mu}, stderr: scrubWriter{w: stderr, secrets: secrets, mu: &mu},
		env: env, reg: newRegistry(), now: time.Now, progress: isTerminal(stderr),
		secrets: secrets, openStore: openStateFile,
	}
	return a.main(ctx, args)
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

// writeJSON writes v as indented JSON on stdout.
func (a *app) writeJSON(v any) int {
	enc := json.NewEncoder(a.stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		fmt.Fprintf(a.stderr, "cte: write JSON: %v\n", err)
		return exitFailure
	}
	return exitOK
}
