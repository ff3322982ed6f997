package sharing_test

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ctexchange/cte/ioc"
	"github.com/ctexchange/cte/sharing"
)

// opsStore records the writes of each Update that committed; armed, it
// fails the next Tx.Log once (and so the Update it is in).
type opsStore struct {
	sharing.Store
	mu      sync.Mutex
	updates [][]string
	armed   bool
}

func (s *opsStore) arm() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.armed = true
}

// disarm reports whether the store was still armed, and disarms it.
func (s *opsStore) disarm() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	was := s.armed
	s.armed = false
	return was
}

func (s *opsStore) Update(ctx context.Context, fn func(sharing.Tx) error) error {
	var ops []string
	err := s.Store.Update(ctx, func(tx sharing.Tx) error {
		ops = ops[:0]
		return fn(opsTx{tx, &ops, s})
	})
	if err == nil {
		s.mu.Lock()
		s.updates = append(s.updates, slices.Clone(ops))
		s.mu.Unlock()
	}
	return err
}

// naming returns the committed Updates with a write that names config.
func (s *opsStore) naming(config string) [][]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out [][]string
	for _, ops := range s.updates {
		if slices.ContainsFunc(ops, func(op string) bool { return strings.HasSuffix(op, " "+config) }) {
			out = append(out, ops)
		}
	}
	return out
}

type opsTx struct {
	sharing.Tx
	ops *[]string
	s   *opsStore
}

func (t opsTx) PutLedger(config string, entries []sharing.LedgerEntry) error {
	*t.ops = append(*t.ops, "ledger "+config)
	return t.Tx.PutLedger(config, entries)
}

func (t opsTx) PutAppliedSet(config string, s sharing.AppliedSet) error {
	*t.ops = append(*t.ops, "applied "+config)
	return t.Tx.PutAppliedSet(config, s)
}

func (t opsTx) Log(e sharing.AuditEntry) error {
	if t.s.disarm() {
		return errors.New("connection lost")
	}
	*t.ops = append(*t.ops, "log "+e.Config)
	return t.Tx.Log(e)
}

func (t opsTx) PutRunState(r sharing.RunState) error {
	*t.ops = append(*t.ops, "run "+strings.TrimPrefix(r.Name, "sharing/"))
	return t.Tx.PutRunState(r)
}

// tinyOpsWorld is an engine over an opsStore with the tiny list (addTinyList),
// after a sync of n critical Mimecast values.
func tinyOpsWorld(t *testing.T, n int) (*engWorld, *opsStore) {
	t.Helper()
	w := newEngWorld(t)
	st := &opsStore{Store: w.store}
	w.eng = w.newEngine(t, st)
	w.addTinyList(t)
	w.mc.Feed(engInds("mc", n, ioc.SeverityCritical, engStart)...)
	_, err := w.eng.SyncSource(t.Context(), "mimecast")
	require.NoError(t, err)
	return w, st
}

// TestShareOutcomeIsOneTransaction: a share of a Replace target that pushes
// writes its outcome (ledger, applied set, its audit entries: the list is
// over capacity, and the summary) and its run state in one transaction; a
// share skipped writes its summary and run state in one too.
func TestShareOutcomeIsOneTransaction(t *testing.T) {
	t.Parallel()
	// the first share also records the configuration's target, once (bind)
	w, st := tinyOpsWorld(t, 1)
	ctx := t.Context()
	before := len(st.naming("mc-to-tiny"))

	w.mc.Feed(engInds("mc2", 2, ioc.SeverityCritical, engStart)...)
	rep, err := w.eng.SyncSource(ctx, "mimecast")
	require.NoError(t, err)
	i := slices.IndexFunc(rep.Shares, func(r sharing.ShareReport) bool { return r.Config == "mc-to-tiny" })
	require.GreaterOrEqual(t, i, 0)
	require.True(t, rep.Shares[i].Pushed)
	require.Equal(t, 1, rep.Shares[i].OverCapacity)

	ups := st.naming("mc-to-tiny")[before:]
	require.Len(t, ups, 1, "one transaction: %q", ups)
	ops := ups[0]
	assert.Contains(t, ops, "ledger mc-to-tiny")
	assert.Contains(t, ops, "applied mc-to-tiny")
	assert.Contains(t, ops, "run mc-to-tiny")
	logs := 0
	for _, op := range ops {
		if op == "log mc-to-tiny" {
			logs++
		}
	}
	assert.Equal(t, 2, logs, "the over-capacity warning and the summary: %q", ops)

	_, err = w.eng.Share(ctx, "mc-to-tiny") // nothing changed: skipped
	require.NoError(t, err)
	ups = st.naming("mc-to-tiny")[before:]
	require.Len(t, ups, 2, "%q", ups)
	assert.ElementsMatch(t, []string{"log mc-to-tiny", "run mc-to-tiny"}, ups[1])
}

// TestShareOutcomeWrittenAgain: when the one Update of a share's outcome
// fails in its audit entries, the outcome is written again without them,
// and they are written in an Update of their own: all of it is stored, and
// the share succeeds.
func TestShareOutcomeWrittenAgain(t *testing.T) {
	t.Parallel()
	w, st := tinyOpsWorld(t, 3)
	ctx := t.Context()
	summaries := func() int {
		n := 0
		for _, a := range findLogs(t, w.eng, "mc-to-tiny", slog.LevelDebug) {
			if strings.HasPrefix(a.Message, "shared to tiny") {
				n++
			}
		}
		return n
	}
	before := summaries()

	w.clock.Advance(time.Minute)
	st.arm()
	rep, err := w.eng.Share(ctx, "mc-to-tiny", sharing.WithForce())
	require.NoError(t, err)
	assert.Equal(t, 1, rep.OverCapacity)
	assert.Equal(t, 2, rep.Unchanged, "counted once, though the outcome was written twice")
	assert.False(t, st.disarm(), "the outcome's first Update met the failure")
	assert.Equal(t, before+1, summaries(), "the summary is stored, in an Update of its own")
	assert.NotContains(t, w.logs.String(), "cannot store audit entry")
	runs, err := w.eng.Sharing(ctx)
	require.NoError(t, err)
	i := slices.IndexFunc(runs, func(s sharing.SharingStatus) bool { return s.Config.Name == "mc-to-tiny" })
	require.GreaterOrEqual(t, i, 0)
	assert.Equal(t, w.clock.Now(), runs[i].LastOK, "the run state is stored, without error")
}
