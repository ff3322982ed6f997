package main

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/ctexchange/cte/sharing"
	"github.com/ctexchange/cte/sharing/store/boltstore"
)

// stateFile is what cte state needs of a store: the embedded store has it.
type stateFile interface {
	sharing.Store
	Check(ctx context.Context) error
	BackupFile(ctx context.Context, path string) (int64, error)
}

type stateJSON struct {
	State  string `json:"state"`
	OK     bool   `json:"ok"`
	Backup string `json:"backup,omitempty"`
	Bytes  int64  `json:"bytes,omitempty"`
	Error  string `json:"error,omitempty"`
}

// cmdState checks the state file (cte state check) or copies it while it is
// in use by this process (cte state backup FILE).
func (a *app) cmdState(ctx context.Context, args []string) int {
	if len(args) == 0 || (args[0] != "check" && args[0] != "backup") {
		return a.usageErr("state", "write check or backup FILE")
	}
	switch {
	case args[0] == "check" && len(args) != 1:
		return a.usageErr("state", "check takes no arguments")
	case args[0] == "backup" && len(args) != 2:
		return a.usageErr("state", "backup takes one argument: the FILE to write (it must not exist)")
	}
	cfg, code := a.loadConfig()
	if cfg == nil {
		return code
	}
	if args[0] == "backup" {
		if _, err := os.Stat(args[1]); err == nil {
			return a.usageErr("state", "backup: %s exists; give a new file name", args[1])
		}
	}
	// a postgres:// URL may hold a password: never shown
	out := stateJSON{State: stateShown(cfg.State)}
	st, err := a.openStore(cfg.State)
	if err != nil {
		return a.stateResult(out, fmt.Errorf("open state %s: %w", stateName(cfg.State), err))
	}
	defer st.Close()
	sf, ok := st.(stateFile)
	if !ok {
		return a.fail(fmt.Errorf("state %s: this store cannot be checked or backed up by cte state; use the database's own tools", stateName(cfg.State)))
	}
	if args[0] == "check" {
		return a.stateResult(out, sf.Check(ctx))
	}
	out.Backup = args[1]
	out.Bytes, err = sf.BackupFile(ctx, args[1])
	return a.stateResult(out, err)
}

// stateResult prints the outcome of a state command and returns its exit code.
func (a *app) stateResult(out stateJSON, err error) int {
	out.OK = err == nil
	if err != nil {
		out.Error = err.Error()
	}
	if a.json {
		a.writeJSON(out)
	}
	switch {
	case err != nil && !a.json:
		fmt.Fprintf(a.stderr, "cte: %v\n", err)
	case err != nil:
	case out.Backup != "" && !a.json:
		fmt.Fprintf(a.stdout, "state %s: copied to %s (%d bytes), a consistent state file\n", out.State, out.Backup, out.Bytes)
	case !a.json:
		fmt.Fprintf(a.stdout, "state %s: sound\n", out.State)
	}
	if err != nil {
		if errors.Is(err, boltstore.ErrDamaged) && !a.json {
			fmt.Fprintln(a.stderr, "the state file is damaged: restore a backup, or move it away to start afresh")
		}
		return exitFailure
	}
	return exitOK
}
