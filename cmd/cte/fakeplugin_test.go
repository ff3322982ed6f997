package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ctexchange/cte"
	"github.com/ctexchange/cte/ioc"
	"github.com/ctexchange/cte/plugintest"
	"github.com/ctexchange/cte/sharing"
	"github.com/ctexchange/cte/sharing/store/memstore"
)

// fakeTarget is the one target of every flaky plugin.
var fakeTarget = cte.Target{ID: "list/main", Label: "main list", Mode: cte.Append, Types: []ioc.Type{ioc.TypeSHA256, ioc.TypeMD5}}

// flaky is a plugintest.Fake whose target listing and pulls can be made to
// fail (a product answering 503), and whose pushes can run a hook first.
type flaky struct {
	*plugintest.Fake
	mu         sync.Mutex
	targetsErr error
	pullErr    error
	pulls      int
	beforePush func()
}

func (f *flaky) Push(ctx context.Context, t cte.Target, in []ioc.Indicator) (cte.PushResult, error) {
	f.mu.Lock()
	before := f.beforePush
	f.mu.Unlock()
	if before != nil {
		before()
	}
	return f.Fake.Push(ctx, t, in)
}

func (f *flaky) set(fn func(f *flaky)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

func (f *flaky) GetTargets(ctx context.Context) ([]cte.Target, error) {
	f.mu.Lock()
	err := f.targetsErr
	f.mu.Unlock()
	if err != nil {
		return nil, err
	}
	return f.Fake.GetTargets(ctx)
}

func (f *flaky) Pull(ctx context.Context, from cte.Checkpoint) iter.Seq2[cte.Page, error] {
	return func(yield func(cte.Page, error) bool) {
		f.mu.Lock()
		f.pulls++
		err := f.pullErr
		f.mu.Unlock()
		if err != nil {
			yield(cte.Page{}, err)
			return
		}
		for pg, err := range f.Fake.Pull(ctx, from) {
			if !yield(pg, err) {
				return
			}
		}
	}
}

func (f *flaky) pullCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.pulls
}

var errUnavailable = errors.New("HTTP 503 Service Unavailable")

// fakeWorld is a configuration of "fake" plugins over in-memory products and
// an in-memory state store shared by the commands a test runs.
type fakeWorld struct {
	plugins map[string]*flaky
	store   sharing.Store
	path    string
	reg     *cte.Registry
}

// keepOpen is a store whose Close does nothing, so that every command of a
// test sees the same in-memory state.
type keepOpen struct{ sharing.Store }

func (keepOpen) Close() error { return nil }

// newFakeWorld writes config (plugins of type fake) and makes one flaky plugin
// for each name.
func newFakeWorld(t *testing.T, config string, names ...string) *fakeWorld {
	t.Helper()
	w := &fakeWorld{plugins: map[string]*flaky{}, store: keepOpen{memstore.New()}, reg: newRegistry()}
	for _, n := range names {
		w.plugins[n] = &flaky{Fake: plugintest.NewFake(fakeTarget)}
	}
	w.reg.Register(cte.Driver{
		Name: "fake",
		Manifest: cte.Manifest{ID: "fake", Name: "Fake", Version: "1.0.0", Description: "an in-memory product for tests",
			Capabilities: cte.Capabilities{Pull: true, Push: true, Retract: true},
			Config:       []cte.Field{{Key: "lists", Label: "Lists", Type: cte.FieldText}}},
		Open: func(_ context.Context, _ json.RawMessage, o cte.Options) (cte.Plugin, error) {
			p, ok := w.plugins[o.Name]
			if !ok {
				return nil, fmt.Errorf("no fake product for %q", o.Name)
			}
			return p, nil
		},
	})
	w.path = filepath.Join(t.TempDir(), "cte.yaml")
	require.NoError(t, os.WriteFile(w.path, []byte(config), 0o600))
	return w
}

// app returns an app for this world; onTerminal pretends stderr is a terminal.
func (w *fakeWorld) app(stdout, stderr io.Writer, onTerminal bool) *app {
	a := newApp(stdout, stderr, func(string) (string, bool) { return "", false }, onTerminal)
	a.reg, a.openStore = w.reg, w.openStore
	a.listenUnix = nil // no daemon socket: a real socket's Accept would keep synctest from settling
	return a
}

func (w *fakeWorld) openStore(string) (sharing.Store, error) { return w.store, nil }

// cte runs one command in this world.
func (w *fakeWorld) cte(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	return w.cteCtx(t.Context(), args...)
}

func (w *fakeWorld) cteCtx(ctx context.Context, args ...string) (code int, stdout, stderr string) {
	var out, errb bytes.Buffer
	a := w.app(&out, &errb, false)
	code = a.exec(ctx, append([]string{"--config", w.path}, args...))
	return code, out.String(), errb.String()
}

// hashes returns n SHA256 indicators numbered from first.
func hashes(first, n int) []ioc.Indicator {
	out := make([]ioc.Indicator, n)
	for i := range out {
		out[i] = ioc.Indicator{Type: ioc.TypeSHA256, Value: fmt.Sprintf("%064x", first+i), Severity: ioc.SeverityHigh}
	}
	return out
}

// twoWay is a configuration of two fake products sharing both ways.
const twoWay = `state: unused.db
plugins:
  a: {type: fake, sync_interval: 5m}
  b: {type: fake, sync_interval: 5m}
rules:
  all: {filter: all}
sharing:
  - {name: a-to-b, source: a, rule: all, destination: b, target: list/main}
  - {name: b-to-a, source: b, rule: all, destination: a, target: list/main}
`
