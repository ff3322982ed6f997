package boltstore

import (
	"errors"
	"maps"
	"slices"
	"testing"

	"github.com/ctexchange/cte/sharing"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"
)

// indexOf is an index over made-up entries: refs name values through
// entries (what the blobs would hold), and every value has hash 7 but "z".
func indexOf(entries map[uint64]string) (*index, func(uint64) ([]byte, error)) {
	x := newIndex(0, 0, stageHash{fn: func(s string) uint64 {
		if s == "z" {
			return 9
		}
		return 7
	}})
	valueAt := func(ref uint64) ([]byte, error) {
		v, ok := entries[ref]
		if !ok {
			return nil, errors.New("no such entry")
		}
		return []byte(v), nil
	}
	return x, valueAt
}

// versionsOf returns what a View at each snapshot from 1 to 4 finds for
// value, checked as stagedVersion checks it (the entry must hold the value).
func versionsOf(x *index, entries map[uint64]string, value string) []uint64 {
	var out []uint64
	for max := uint64(1); max <= 4; max++ {
		ref, ok := x.lookup(value, max)
		if !ok || entries[ref] != value {
			ref = 0
		}
		out = append(out, ref)
	}
	return out
}

// TestIndexSharedHashes stages values of one hash over several Updates: each
// value keeps its own versions, by snapshot, and a value never staged is not
// found, though its hash is.
func TestIndexSharedHashes(t *testing.T) {
	t.Parallel()
	a1, b2, a3, c3, b4 := makeRef(1, 0), makeRef(2, 0), makeRef(3, 0), makeRef(3, 40), makeRef(4, 0)
	entries := map[uint64]string{a1: "a", b2: "b", a3: "a", c3: "c", b4: "b"}
	x, valueAt := indexOf(entries)
	for _, pending := range []map[string]uint64{{"a": a1}, {"b": b2}, {"a": a3, "c": c3}, {"b": b4}} {
		require.NoError(t, x.publish(pending, valueAt))
	}
	assert.Equal(t, []uint64{a1, a1, a3, a3}, versionsOf(x, entries, "a"))
	assert.Equal(t, []uint64{0, b2, b2, b4}, versionsOf(x, entries, "b"))
	assert.Equal(t, []uint64{0, 0, c3, c3}, versionsOf(x, entries, "c"))
	assert.Equal(t, []uint64{0, 0, 0, 0}, versionsOf(x, entries, "d"), "never staged")
	assert.Equal(t, 3, x.distinct())
	assert.Equal(t, 5, x.n)
	assert.Equal(t, sumOf(x, a3, b4, c3), x.sum, "the sum of the newest versions")
	for ref, v := range entries {
		assert.Equal(t, ref == a3 || ref == b4 || ref == c3, newestOf(x, entries, v) == ref, "%s at %x", v, ref)
	}
	head, ok := x.head("b")
	assert.True(t, ok)
	assert.Equal(t, b4, head)
}

// TestIndexSharedHashMovesOlderVersions stages a value twice, then another
// of its hash: the first value's versions, both, go with it to shared.
func TestIndexSharedHashMovesOlderVersions(t *testing.T) {
	t.Parallel()
	a1, a2, b3, b4 := makeRef(1, 0), makeRef(2, 0), makeRef(3, 0), makeRef(4, 0)
	entries := map[uint64]string{a1: "a", a2: "a", b3: "b", b4: "b"}
	x, valueAt := indexOf(entries)
	for _, pending := range []map[string]uint64{{"a": a1}, {"a": a2}, {"b": b3}, {"b": b4}} {
		require.NoError(t, x.publish(pending, valueAt))
	}
	assert.Equal(t, []uint64{a1, a2, a2, a2}, versionsOf(x, entries, "a"))
	assert.Equal(t, []uint64{0, 0, b3, b4}, versionsOf(x, entries, "b"))
	assert.Empty(t, x.older, "moved to shared")
	assert.Equal(t, 2, x.distinct())
	assert.Equal(t, []string{"a", "b"}, headValues(x, entries))
	assert.Equal(t, sumOf(x, a2, b4), x.sum)

	x.unpublish(map[string]uint64{"b": b4})
	assert.Equal(t, sumOf(x, a2, b3), x.sum, "b's older version is its newest again")
	assert.Equal(t, []uint64{0, 0, b3, b3}, versionsOf(x, entries, "b"))
	assert.Equal(t, []uint64{a1, a2, a2, a2}, versionsOf(x, entries, "a"))
}

// TestIndexTakesBackAFailedPublish makes a publish fail halfway (the entry
// of a staged version cannot be read) and takes it back, as an Update whose
// commit failed does: the index finds what it found before.
func TestIndexTakesBackAFailedPublish(t *testing.T) {
	t.Parallel()
	a1, z1, b2, a2, z2 := makeRef(1, 0), makeRef(1, 40), makeRef(2, 0), makeRef(2, 40), makeRef(2, 80)
	entries := map[uint64]string{a1: "a", z1: "z", b2: "b", a2: "a", z2: "z"}
	x, valueAt := indexOf(entries)
	require.NoError(t, x.publish(map[string]uint64{"a": a1, "z": z1}, valueAt))
	before := []any{maps.Clone(x.heads), maps.Clone(x.older), maps.Clone(x.shared), x.distinct(), x.n, x.sum}

	failing := func(ref uint64) ([]byte, error) {
		if ref == a1 {
			return nil, errors.New("blob gone")
		}
		return valueAt(ref)
	}
	pending := map[string]uint64{"b": b2, "a": a2, "z": z2}
	require.Error(t, x.publish(pending, failing), "b or a must read a1")
	x.unpublish(pending)
	assert.Equal(t, before, []any{x.heads, x.older, x.shared, x.distinct(), x.n, x.sum})
	assert.Equal(t, []uint64{a1, a1, a1, a1}, versionsOf(x, entries, "a"))
	assert.Equal(t, []uint64{z1, z1, z1, z1}, versionsOf(x, entries, "z"))
	assert.Equal(t, []uint64{0, 0, 0, 0}, versionsOf(x, entries, "b"))

	// the same Update committed: taken back after it too (a commit that failed)
	require.NoError(t, x.publish(pending, valueAt))
	assert.Equal(t, sumOf(x, a2, b2, z2), x.sum)
	assert.Equal(t, []uint64{a1, a2, a2, a2}, versionsOf(x, entries, "a"))
	assert.Equal(t, []uint64{0, b2, b2, b2}, versionsOf(x, entries, "b"))
	x.unpublish(pending)
	assert.Equal(t, []uint64{a1, a1, a1, a1}, versionsOf(x, entries, "a"))
	assert.Equal(t, []uint64{0, 0, 0, 0}, versionsOf(x, entries, "b"))
	assert.Equal(t, []uint64{z1, z1, z1, z1}, versionsOf(x, entries, "z"))
	assert.Equal(t, 2, x.n)
	assert.Equal(t, []string{"a", "z"}, headValues(x, entries))
	assert.Equal(t, sumOf(x, a1, z1), x.sum)
}

// sumOf is the index.sum of the newest versions refs, of values whose hash
// is 7 but the one at z1 or z2 (indexOf).
func sumOf(x *index, refs ...uint64) uint64 {
	var sum uint64
	for _, ref := range refs {
		h := uint64(7)
		if ref == makeRef(1, 40) || ref == makeRef(2, 80) {
			h = 9
		}
		sum += headSum(h, ref)
	}
	return sum
}

// headValues returns the values whose newest version the index names.
func headValues(x *index, entries map[uint64]string) []string {
	var out []string
	for ref, v := range entries {
		if newestOf(x, entries, v) == ref {
			out = append(out, v)
		}
	}
	slices.Sort(out)
	return out
}

// newestOf returns the ref of value's newest version in x, checked in
// entries as a reader checks it in the blob (0 for none).
func newestOf(x *index, entries map[uint64]string, value string) uint64 {
	head, _ := x.find(value)
	if entries[head] != value {
		return 0
	}
	return head
}

// TestStagedEntryOfAnotherValue rewrites a staged blob under an open store
// so that the entry its index names for a value holds another value, of
// another hash: a read says the log is corrupt (another value of the same
// hash would only mean this one is not staged), and so does a fold, inside
// its Update or writing the records anew, before it puts anything.
func TestStagedEntryOfAnotherValue(t *testing.T) {
	t.Parallel()
	for name, opts := range map[string][]Option{"in the update": nil, "written anew": {withRebuild(3)}} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s, _ := foldedStore(t, 1000, 10, opts...)
			mergeMD5(t, s, 100, 1)
			require.NoError(t, s.db.Update(func(btx *bolt.Tx) error {
				b := btx.Bucket(bStaged)
				k, v := b.Cursor().First()
				value, rec, _, err := entryAt(v, 0)
				require.NoError(t, err)
				require.Equal(t, hex32(100), string(value))
				return b.Put(k, appendStagedEntry(nil, hex32(200), rec))
			}))
			_, _, err := record(s, hex32(100))
			require.ErrorIs(t, err, errCorrupt)
			assert.ErrorContains(t, err, "holds another value")

			err = s.Update(t.Context(), func(st sharing.Tx) error { return st.(*tx).foldOrRebuild() })
			require.ErrorIs(t, err, errCorrupt)
			assert.ErrorContains(t, err, "a staged blob is missing or changed")
			assert.False(t, rawRecord(t, s, hex32(200)))
			assert.Equal(t, 1, StagedLen(s))
		})
	}
}

// TestIndexTakesBackTwoValuesOfOneHash: an Update stages two values new to
// the index with one hash, and its commit fails: taken back, the index is
// empty again, and counts no value (the hash's mark that its values are
// shared went with them).
func TestIndexTakesBackTwoValuesOfOneHash(t *testing.T) {
	t.Parallel()
	a1, b1 := makeRef(1, 0), makeRef(1, 40)
	entries := map[uint64]string{a1: "a", b1: "b"}
	x, valueAt := indexOf(entries)
	pending := map[string]uint64{"a": a1, "b": b1}
	require.NoError(t, x.publish(pending, valueAt))
	require.Equal(t, 2, x.distinct())
	x.unpublish(pending)
	assert.Zero(t, x.distinct())
	assert.Empty(t, x.heads)
	assert.Empty(t, x.shared)
	assert.Zero(t, x.sum)
	assert.Zero(t, x.n)
}

// TestRuntimeErrorOfOurOwnIsNoDamage: a runtime error raised in cte's own
// code is a bug, not a damaged file: it goes on, where one raised inside
// bbolt (a garbled page, TestDamagedPagesNeverPanic) is damage.
func TestRuntimeErrorOfOurOwnIsNoDamage(t *testing.T) {
	t.Parallel()
	s := &Store{path: "x"}
	var err error
	assert.Panics(t, func() {
		defer s.recoverDamage(&err, nil)
		var m []int
		_ = m[len(m)+1] // index out of range, here
	})
	assert.NoError(t, err)
}
