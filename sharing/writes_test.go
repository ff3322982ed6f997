package sharing_test

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ctexchange/cte"
	"github.com/ctexchange/cte/ioc"
	"github.com/ctexchange/cte/plugintest"
	"github.com/ctexchange/cte/sharing"
)

// opsStore records the writes of each Update that committed.
type opsStore struct {
	sharing.Store
	mu      sync.Mutex
	updates [][]string
}

func (s *opsStore) Update(ctx context.Context, fn func(sharing.Tx) error) error {
	var ops []string
	err := s.Store.Update(ctx, func(tx sharing.Tx) error {
		ops = ops[:0]
		return fn(opsTx{tx, &ops})
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
	*t.ops = append(*t.ops, "log "+e.Config)
	return t.Tx.Log(e)
}

func (t opsTx) PutRunState(r sharing.RunState) error {
	*t.ops = append(*t.ops, "run "+strings.TrimPrefix(r.Name, "sharing/"))
	return t.Tx.PutRunState(r)
}

// TestShareOutcomeIsOneTransaction: a share of a Replace target that pushes
// writes its outcome (ledger, applied set, its audit entries: the list is
// over capacity, and the summary) and its run state in one transaction; a
// share skipped writes its summary and run state in one too.
func TestShareOutcomeIsOneTransaction(t *testing.T) {
	t.Parallel()
	w := newEngWorld(t)
	st := &opsStore{Store: w.store}
	w.eng = w.newEngine(t, st)
	ctx := t.Context()
	tiny := cte.Target{ID: "file-hash-list/tiny", Mode: cte.Replace, Types: []ioc.Type{ioc.TypeSHA256}, Limits: cte.Limits{MaxItems: 2}}
	require.NoError(t, w.eng.AddPlugin("tiny", plugintest.NewFake(tiny), sharing.SourceSettings{}))
	require.NoError(t, w.eng.AddSharing(ctx, sharing.Config{Name: "mc-to-tiny", Source: "mimecast", Rule: "hashes",
		Destination: "tiny", Target: tiny.ID}))
	// the first share also records the configuration's target, once (bind)
	w.mc.Feed(engInds("mc", 1, ioc.SeverityCritical, engStart)...)
	_, err := w.eng.SyncSource(ctx, "mimecast")
	require.NoError(t, err)
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
