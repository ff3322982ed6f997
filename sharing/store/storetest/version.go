package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ctexchange/cte/ioc"
	"github.com/ctexchange/cte/sharing"
)

func init() {
	checks = append(checks, []check{
		{"Version", testVersion},
		{"VersionRollsBack", testVersionRollsBack},
		{"RunStateSkipFields", testRunStateSkipFields},
		{"LedgerEveryState", testLedgerEveryState},
	}...)
}

func version(t *testing.T, s sharing.Store, source string) uint64 {
	t.Helper()
	var v uint64
	require.NoError(t, s.View(t.Context(), func(tx sharing.Tx) error {
		var err error
		v, err = tx.Version(source)
		return err
	}))
	return v
}

// testVersion checks which writes move a source's version.
func testVersion(t *testing.T, s sharing.Store) {
	assert.Zero(t, version(t, s, "A"), "before any write")
	a, b := sha(1, t0), sha(2, t0)
	merge(t, s, "A", []ioc.Indicator{a, b}, t0)
	v1 := version(t, s, "A")
	assert.NotZero(t, v1, "new values")
	assert.Zero(t, version(t, s, "B"), "another source's merge")

	merge(t, s, "A", []ioc.Indicator{a, b}, t1)
	assert.Equal(t, v1, version(t, s, "A"), "a re-report that only moves StoredAt")

	a.Severity = ioc.SeverityHigh
	merge(t, s, "A", []ioc.Indicator{a}, t1)
	v2 := version(t, s, "A")
	assert.Greater(t, v2, v1, "a changed severity")

	merge(t, s, "B", []ioc.Indicator{b}, t1)
	assert.NotZero(t, version(t, s, "B"), "an entry added to a known value")
	assert.Equal(t, v2, version(t, s, "A"), "B's entry leaves A's version")

	noSeen := ioc.Indicator{Type: ioc.TypeSHA256, Value: Hash(3), Severity: ioc.SeverityLow, Reputation: 5}
	merge(t, s, "A", []ioc.Indicator{noSeen}, t0)
	v3 := version(t, s, "A")
	merge(t, s, "A", []ioc.Indicator{noSeen}, t2)
	v4 := version(t, s, "A")
	assert.Greater(t, v4, v3, "no LastSeen: a re-report moves its aging base")

	update(t, s, func(tx sharing.Tx) error { return tx.SetInactive("A", []string{a.Value}, t2) })
	v5 := version(t, s, "A")
	assert.Greater(t, v5, v4, "SetInactive")
	update(t, s, func(tx sharing.Tx) error { return tx.SetInactive("A", []string{a.Value, Hash(99)}, t2) })
	assert.Equal(t, v5, version(t, s, "A"), "SetInactive of an inactive entry and an unknown value changes nothing")

	merge(t, s, "A", []ioc.Indicator{a}, t2)
	v6 := version(t, s, "A")
	assert.Greater(t, v6, v5, "a merge makes the entry active again")

	r, ok := record(t, s, b.Value)
	require.True(t, ok)
	r.Entries[0].Severity = ioc.SeverityCritical
	vb := version(t, s, "B")
	update(t, s, func(tx sharing.Tx) error { return tx.PutRecord(r) })
	assert.Greater(t, version(t, s, "A"), v6, "PutRecord")
	assert.Greater(t, version(t, s, "B"), vb, "PutRecord")
	v7 := version(t, s, "A")
	update(t, s, func(tx sharing.Tx) error { return tx.DeleteRecord(a.Value) })
	assert.Greater(t, version(t, s, "A"), v7, "DeleteRecord")
}

func testVersionRollsBack(t *testing.T, s sharing.Store) {
	merge(t, s, "A", []ioc.Indicator{sha(1, t0)}, t0)
	v := version(t, s, "A")
	boom := errors.New("boom")
	err := s.Update(t.Context(), func(tx sharing.Tx) error {
		if _, err := tx.Merge("A", []ioc.Indicator{sha(2, t0)}, t0); err != nil {
			return err
		}
		got, err := tx.Version("A")
		if err != nil {
			return err
		}
		assert.Greater(t, got, v, "the Update sees its own change")
		return boom
	})
	require.ErrorIs(t, err, boom)
	assert.Equal(t, v, version(t, s, "A"), "a failed Update leaves the version")
	require.NoError(t, s.View(t.Context(), func(tx sharing.Tx) error {
		_, err := tx.Version("A")
		return err
	}))
}

func testRunStateSkipFields(t *testing.T, s sharing.Store) {
	in := sharing.RunState{Name: "sharing/x", LastRun: t1, Inputs: "v1 abc", Until: t2.In(time.FixedZone("X", 3600))}
	update(t, s, func(tx sharing.Tx) error { return tx.PutRunState(in) })
	var got sharing.RunState
	require.NoError(t, s.View(t.Context(), func(tx sharing.Tx) error {
		var err error
		got, _, err = tx.RunState("sharing/x")
		return err
	}))
	assert.Equal(t, "v1 abc", got.Inputs)
	assert.True(t, got.Until.Equal(t2))
	assert.Equal(t, time.UTC, got.Until.Location())
}

// testLedgerEveryState: every ledger state, the newest included, is kept as
// given.
func testLedgerEveryState(t *testing.T, s sharing.Store) {
	states := []sharing.LedgerState{sharing.StateApplied, sharing.StateRejected, sharing.StateRetryable,
		sharing.StateRetracted, sharing.StateOverCapacity, sharing.StateSending}
	var in []sharing.LedgerEntry
	for i, st := range states {
		in = append(in, sharing.LedgerEntry{Value: Hash(i), Type: ioc.TypeSHA256, State: st, Code: "held", At: t1})
	}
	update(t, s, func(tx sharing.Tx) error { return tx.PutLedger("cfg", in) })
	require.NoError(t, s.View(t.Context(), func(tx sharing.Tx) error {
		for i, st := range states {
			le, ok, err := tx.Ledger("cfg", Hash(i))
			require.NoError(t, err)
			require.True(t, ok)
			assert.Equal(t, st, le.State, "%s", st)
			assert.Equal(t, "held", le.Code)
		}
		return nil
	}))
	assert.Equal(t, "sending", sharing.StateSending.String())
}
