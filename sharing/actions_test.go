package sharing_test

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ctexchange/cte/ioc"
	"github.com/ctexchange/cte/sharing"
)

// sharedWorld syncs 5 Mimecast hashes to the Netskope list and 5 Netskope
// hashes to the Mimecast BLOCK operation.
func sharedWorld(t *testing.T) *engWorld {
	t.Helper()
	w := newEngWorld(t)
	w.mc.Feed(engInds("mc", 5, ioc.SeverityHigh, engStart)...)
	w.ns.Feed(engInds("ns", 5, ioc.SeverityHigh, engStart)...)
	for _, src := range []string{"mimecast", "netskope"} {
		_, err := w.eng.SyncSource(t.Context(), src)
		require.NoError(t, err)
	}
	require.Contains(t, w.ns.Contents(hashListTarget.ID), engHash("mc", 1))
	require.Contains(t, w.mc.Contents(blockTarget.ID), engHash("ns", 1))
	return w
}

func retracted(w *engWorld) []string {
	var out []string
	for _, c := range w.mc.Retractions() {
		for _, x := range c.Indicators {
			out = append(out, x.Value)
		}
	}
	return out
}

func TestMarkSafeNowRetractsEverywhere(t *testing.T) {
	t.Parallel()
	w := sharedWorld(t)
	ctx := t.Context()
	fromMC, fromNS := engHash("mc", 1), engHash("ns", 1)
	// any case and spacing: values are normalised
	rep, err := w.eng.MarkSafe(ctx, []string{" " + strings.ToUpper(fromMC), fromNS, fromNS}, "vendor confirmed benign", sharing.ApplyNow())
	require.NoError(t, err)
	assert.Equal(t, []string{fromMC, fromNS}, rep.Values)
	assert.Len(t, rep.Shares, 2, "both configurations had one of them applied")

	assert.Equal(t, []string{fromNS}, retracted(w), "the Append target got a retraction")
	assert.NotContains(t, w.mc.Contents(blockTarget.ID), fromNS)
	assert.NotContains(t, w.ns.Contents(hashListTarget.ID), fromMC, "the Replace list dropped it")
	assert.Len(t, w.ns.Contents(hashListTarget.ID), 4, "the guardrail does not count marked values")

	logs := findLogs(t, w.eng, "operator", slog.LevelInfo)
	require.NotEmpty(t, logs)
	assert.Equal(t, "vendor confirmed benign", logs[0].Details["reason"])

	// never shared again while marked, whatever the source says
	w.ns.Feed(engInd("ns", 1, ioc.SeverityCritical, engStart.Add(time.Hour)))
	pushes := len(w.mc.Pushes())
	_, err = w.eng.SyncSource(ctx, "netskope")
	require.NoError(t, err)
	assert.Len(t, w.mc.Pushes(), pushes)
	p, err := w.eng.Plan(ctx, "ns-to-mc", 0)
	require.NoError(t, err)
	assert.Equal(t, 1, p.Excluded["marked safe or deleted"])
	assert.Zero(t, p.ToRetract)
	ex, err := w.eng.Explain(ctx, fromNS)
	require.NoError(t, err)
	require.NotNil(t, ex.Mark)
	for _, d := range ex.Sharing {
		assert.False(t, d.Shared)
		assert.Contains(t, d.Why, "vendor confirmed benign")
	}

	// unmark: shared again at once
	rep, err = w.eng.UnmarkSafe(ctx, []string{fromNS, engHash("ns", 2)}, sharing.ApplyNow())
	require.NoError(t, err)
	assert.Equal(t, []string{fromNS}, rep.Values)
	assert.Equal(t, []string{engHash("ns", 2)}, rep.Unknown, "not marked")
	assert.Contains(t, w.mc.Contents(blockTarget.ID), fromNS)
	marks, err := w.eng.Marks(ctx)
	require.NoError(t, err)
	require.Len(t, marks, 1)
	assert.Equal(t, fromMC, marks[0].Value)
}

func TestMarkSafeLaterOnNextSync(t *testing.T) {
	t.Parallel()
	w := sharedWorld(t)
	ctx := t.Context()
	fromNS := engHash("ns", 3)
	rep, err := w.eng.MarkSafe(ctx, []string{fromNS}, "fp")
	require.NoError(t, err)
	assert.Empty(t, rep.Shares)
	assert.Empty(t, retracted(w), "nothing reaches the product without ApplyNow")
	_, err = w.eng.SyncSource(ctx, "netskope")
	require.NoError(t, err)
	assert.Equal(t, []string{fromNS}, retracted(w), "retracted on the next sync")
}

func TestDeleteRetractsAndForgets(t *testing.T) {
	t.Parallel()
	w := sharedWorld(t)
	ctx := t.Context()
	fromNS := engHash("ns", 4)
	rep, err := w.eng.Delete(ctx, []string{fromNS, "unknown.example"}, "cleanup", sharing.ApplyNow())
	require.NoError(t, err)
	assert.Equal(t, []string{fromNS}, rep.Values)
	assert.Equal(t, []string{"unknown.example"}, rep.Unknown)
	assert.Equal(t, []string{fromNS}, retracted(w))
	ex, err := w.eng.Explain(ctx, fromNS)
	require.NoError(t, err)
	assert.False(t, ex.Found)
	marks, err := w.eng.Marks(ctx)
	require.NoError(t, err)
	assert.Empty(t, marks, "the deleted mark goes once no target holds the value")

	// reported again later: stored anew and shared
	w.ns.Feed(engInd("ns", 4, ioc.SeverityHigh, engStart.Add(time.Hour)))
	_, err = w.eng.SyncSource(ctx, "netskope")
	require.NoError(t, err)
	assert.Contains(t, w.mc.Contents(blockTarget.ID), fromNS)
}

func TestDeleteOfflineRetractsOnNextSync(t *testing.T) {
	t.Parallel()
	w := sharedWorld(t)
	ctx := t.Context()
	fromNS := engHash("ns", 2)
	_, err := w.eng.Delete(ctx, []string{fromNS}, "cleanup")
	require.NoError(t, err)
	marks, err := w.eng.Marks(ctx)
	require.NoError(t, err)
	require.Len(t, marks, 1)
	assert.Equal(t, sharing.MarkDeleted, marks[0].Kind)
	_, err = w.eng.SyncSource(ctx, "netskope")
	require.NoError(t, err)
	assert.Equal(t, []string{fromNS}, retracted(w))
	marks, err = w.eng.Marks(ctx)
	require.NoError(t, err)
	assert.Empty(t, marks)
}

func TestAddIndicatorsManualSource(t *testing.T) {
	t.Parallel()
	w := newEngWorld(t)
	ctx := t.Context()
	require.NoError(t, w.eng.AddRule(sharing.Rule{Name: "reviewed", Filter: "tags has reviewed"}))
	require.NoError(t, w.eng.AddSharing(ctx, sharing.Config{Name: "manual-to-mc", Source: sharing.ManualSource, Rule: "reviewed",
		Destination: "mimecast", Target: blockTarget.ID}))
	h1, h2 := engHash("m", 1), engHash("m", 2)
	rep, err := w.eng.AddIndicators(ctx, []sharing.NewIndicator{
		{Value: strings.ToUpper(h1), Severity: ioc.SeverityHigh, Tags: []string{"reviewed", "reviewed"}},
		{Value: h2, Type: ioc.TypeSHA256, Tags: []string{"reviewed"}, ExpiresAt: engStart.Add(48 * time.Hour)},
		{Value: "evil.example"},
	}, sharing.ApplyNow())
	require.NoError(t, err)
	assert.Equal(t, []string{h1, h2, "evil.example"}, rep.Values)
	assert.ElementsMatch(t, []string{h1, h2}, w.mc.Contents(blockTarget.ID))
	recs, err := w.eng.Indicators(ctx, "source == manual", 0)
	require.NoError(t, err)
	assert.Len(t, recs, 3)

	// a year later: the one with an expiry is gone, the others never age out
	w.clock.Advance(365 * 24 * time.Hour)
	_, err = w.eng.Age(ctx)
	require.NoError(t, err)
	assert.Equal(t, []string{h1}, w.mc.Contents(blockTarget.ID))
	page, err := w.eng.List(ctx, sharing.ListOptions{Query: "source == manual", State: sharing.ListActive})
	require.NoError(t, err)
	assert.Equal(t, 2, page.Total)

	for name, in := range map[string]sharing.NewIndicator{
		"undetectable":   {Value: "not an indicator"},
		"wrong type":     {Value: h1, Type: ioc.TypeMD5},
		"expiry in past": {Value: h1, ExpiresAt: engStart},
	} {
		_, err := w.eng.AddIndicators(ctx, []sharing.NewIndicator{in})
		assert.Error(t, err, name)
	}
	_, err = w.eng.AddIndicators(ctx, nil)
	assert.Error(t, err)
}

func TestTagSelectsByRule(t *testing.T) {
	t.Parallel()
	w := newEngWorld(t)
	ctx := t.Context()
	// netskope shares only what an operator tagged "approved"
	require.NoError(t, w.eng.AddRule(sharing.Rule{Name: "malware", Filter: "tags has approved"}))
	w.ns.Feed(engInds("ns", 3, ioc.SeverityHigh, engStart)...)
	_, err := w.eng.SyncSource(ctx, "netskope")
	require.NoError(t, err)
	assert.Empty(t, w.mc.Contents(blockTarget.ID))
	rep, err := w.eng.Tag(ctx, []string{engHash("ns", 0), "nothing.example"}, []string{"approved", "approved"}, sharing.ApplyNow())
	require.NoError(t, err)
	assert.Equal(t, []string{"nothing.example"}, rep.Unknown)
	assert.Equal(t, []string{engHash("ns", 0)}, w.mc.Contents(blockTarget.ID))
	ex, err := w.eng.Explain(ctx, engHash("ns", 0))
	require.NoError(t, err)
	assert.Equal(t, []string{"approved"}, ex.Sources[0].Tags)

	_, err = w.eng.Untag(ctx, []string{engHash("ns", 0)}, []string{"approved"})
	require.NoError(t, err)
	ex, err = w.eng.Explain(ctx, engHash("ns", 0))
	require.NoError(t, err)
	assert.Empty(t, ex.Sources[0].Tags)
	_, err = w.eng.Tag(ctx, []string{engHash("ns", 0)}, []string{" "})
	assert.ErrorContains(t, err, "no tags")
}

func TestActionInputErrors(t *testing.T) {
	t.Parallel()
	w := newEngWorld(t)
	ctx := t.Context()
	_, err := w.eng.MarkSafe(ctx, []string{engHash("x", 1)}, " ")
	assert.ErrorContains(t, err, "no reason")
	_, err = w.eng.MarkSafe(ctx, []string{"no such thing"}, "fp")
	assert.ErrorContains(t, err, "not an indicator")
	// no values, or only blanks: refused, not audited as done on nothing
	logsBefore, err := w.eng.Logs(ctx, sharing.LogFilter{})
	require.NoError(t, err)
	for name, act := range map[string]func([]string) error{
		"mark safe":   func(v []string) error { _, err := w.eng.MarkSafe(ctx, v, "fp"); return err },
		"unmark safe": func(v []string) error { _, err := w.eng.UnmarkSafe(ctx, v); return err },
		"tag":         func(v []string) error { _, err := w.eng.Tag(ctx, v, []string{"t"}); return err },
		"untag":       func(v []string) error { _, err := w.eng.Untag(ctx, v, []string{"t"}); return err },
		"delete":      func(v []string) error { _, err := w.eng.Delete(ctx, v, "gone"); return err },
	} {
		for _, values := range [][]string{nil, {""}, {" ", "\t"}} {
			err := act(values)
			require.ErrorIs(t, err, sharing.ErrInvalid, "%s %q", name, values)
			assert.ErrorContains(t, err, "no values given", name)
		}
	}
	// what a store would refuse is refused as bad input, before anything is
	// stored: a value over 16 KiB, text that is not plain (PostgreSQL holds
	// no NUL byte)
	long := "https://c.example/" + strings.Repeat("a", 20000)
	for name, act := range map[string]func() error{
		"long value": func() error { _, err := w.eng.AddIndicators(ctx, []sharing.NewIndicator{{Value: long}}); return err },
		"NUL comment": func() error {
			_, err := w.eng.AddIndicators(ctx, []sharing.NewIndicator{{Value: "a.example", Comments: "x\x00y"}})
			return err
		},
		"bad UTF-8 tag": func() error {
			_, err := w.eng.AddIndicators(ctx, []sharing.NewIndicator{{Value: "a.example", Tags: []string{"\xff"}}})
			return err
		},
		"NUL tag":        func() error { _, err := w.eng.Tag(ctx, []string{engHash("x", 1)}, []string{"t\x00"}); return err },
		"NUL reason":     func() error { _, err := w.eng.MarkSafe(ctx, []string{engHash("x", 1)}, "fp\x00"); return err },
		"NUL del reason": func() error { _, err := w.eng.Delete(ctx, []string{engHash("x", 1)}, "gone\x00"); return err },
	} {
		require.ErrorIs(t, act(), sharing.ErrInvalid, name)
	}
	// a valid value before an invalid one: nothing is stored, and the report
	// names no value (a caller seeing values says they were stored)
	rep, err := w.eng.AddIndicators(ctx, []sharing.NewIndicator{{Value: engHash("y", 1)}, {Value: "no such thing"}})
	require.ErrorIs(t, err, sharing.ErrInvalid)
	assert.Empty(t, rep.Values)
	recs, err := w.eng.Indicators(ctx, "all", 0)
	require.NoError(t, err)
	for _, r := range recs {
		require.NotEqual(t, engHash("y", 1), r.Value)
	}
	logsAfter, err := w.eng.Logs(ctx, sharing.LogFilter{})
	require.NoError(t, err)
	assert.Len(t, logsAfter, len(logsBefore), "nothing audited")
	marks, err := w.eng.Marks(ctx)
	require.NoError(t, err)
	assert.Empty(t, marks)
	// a value never stored can be marked safe ahead of time
	_, err = w.eng.MarkSafe(ctx, []string{engHash("x", 1)}, "known benign")
	require.NoError(t, err)
	w.ns.Feed(engInd("x", 1, ioc.SeverityHigh, engStart))
	_, err = w.eng.SyncSource(ctx, "netskope")
	require.NoError(t, err)
	assert.Empty(t, w.mc.Contents(blockTarget.ID))
}

func TestAddSharingOffline(t *testing.T) {
	t.Parallel()
	w := newEngWorld(t)
	ctx := t.Context()
	w.ns.Feed(engInds("ns", 2, ioc.SeverityHigh, engStart)...)
	_, err := w.eng.SyncSource(ctx, "netskope") // lists the BLOCK target and keeps it
	require.NoError(t, err)

	// A second process (the CLI) with the destination unreachable.
	w.mc.SetBadAuth(true)
	eng := w.newEngine(t, w.store)
	st, err := eng.Sharing(ctx)
	require.NoError(t, err)
	require.Len(t, st, 2, "AddSharing asked no product")
	assert.Equal(t, "ns-to-mc", st[1].Name)
	assert.Equal(t, blockTarget.Mode, st[1].Mode, "the kept target")
	p, err := eng.Plan(ctx, "ns-to-mc", 0)
	require.NoError(t, err)
	assert.Equal(t, 2, p.Unchanged)
	ex, err := eng.Explain(ctx, engHash("ns", 0))
	require.NoError(t, err)
	assert.True(t, ex.Sharing[1].Shared)
	assert.Contains(t, ex.Sharing[0].Why, "not listed yet")
	_, err = eng.Plan(ctx, "mc-to-ns", 0) // never listed, and netskope answers
	require.NoError(t, err)
}
