package boltstore

import (
	"encoding/binary"
	"fmt"
	"hash/maphash"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ctexchange/cte/ioc"
	"github.com/ctexchange/cte/sharing"
)

func sampleRecord() sharing.Record {
	t0 := time.Date(2026, 11, 1, 10, 0, 0, 123456789, time.UTC)
	return sharing.Record{Type: ioc.TypeURL, Value: "http://evil.example/x", Entries: []sharing.Entry{
		{Indicator: ioc.Indicator{Type: ioc.TypeURL, Value: "http://evil.example/x", Severity: ioc.SeverityHigh, Reputation: -3,
			Comments: "c", Tags: []string{"a", "b"}, FirstSeen: t0, LastSeen: t0.Add(time.Hour), Source: "A"},
			StoredAt: t0},
		{Indicator: ioc.Indicator{Type: ioc.TypeURL, Value: "http://evil.example/x", ExpiresAt: time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC),
			Source: "B"}, Inactive: true, InactiveAt: t0.Add(-time.Hour), StoredAt: time.Date(1, 1, 1, 0, 0, 0, 1, time.UTC)},
	}}
}

func TestRecordRoundTrip(t *testing.T) {
	t.Parallel()
	want := sampleRecord()
	enc := appendRecord(nil, want.Type, want.Entries)
	var got sharing.Record
	var tags []string
	require.NoError(t, decodeRecord(want.Value, enc, &got, &tags, plain))
	assert.Equal(t, want, got)

	// every truncation and a trailing byte are errors, never panics
	for n := range len(enc) {
		assert.ErrorIs(t, decodeRecord("v", enc[:n], &got, &tags, plain), errCorrupt, "truncated at %d", n)
	}
	assert.ErrorIs(t, decodeRecord("v", append(enc, 0), &got, &tags, plain), errCorrupt)
	bad := append([]byte{}, enc...)
	bad[0] = 9
	assert.ErrorContains(t, decodeRecord("v", bad, &got, &tags, plain), "record version 9")
}

func TestLedgerRoundTrip(t *testing.T) {
	t.Parallel()
	want := sharing.LedgerEntry{Value: "v", Type: ioc.TypeMD5, State: sharing.StateRetryable, Fingerprint: 1<<64 - 1,
		Reason: "quota", Code: "429", Attempts: 7, NextAttempt: time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC),
		At: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)}
	enc := appendLedger(nil, &want)
	got := sharing.LedgerEntry{Value: "v"}
	require.NoError(t, decodeLedger(enc, &got))
	assert.Equal(t, want, got)
	for n := range len(enc) {
		assert.Error(t, decodeLedger(enc[:n], &got), "truncated at %d", n)
	}
	assert.Error(t, decodeLedger(append(enc, 0), &got))
	noAt := want
	noAt.At = time.Time{}
	enc = appendLedger(nil, &noAt)
	require.Equal(t, byte(0), enc[len(enc)-1], "the presence byte of a zero At")
	enc[len(enc)-1] = 7
	assert.ErrorIs(t, decodeLedger(enc, &got), errCorrupt)
}

// FuzzDecodeRecord: decoding never panics, and what decodes encodes back to
// the same bytes.
func FuzzDecodeRecord(f *testing.F) {
	r := sampleRecord()
	f.Add(appendRecord(nil, r.Type, r.Entries))
	f.Add(appendRecord(nil, ioc.TypeSHA256, r.Entries[:1]))
	f.Add([]byte{1, 1, 0})
	f.Add([]byte{1, 1, 255, 255, 255, 255, 15})
	f.Fuzz(func(t *testing.T, b []byte) {
		var got sharing.Record
		var tags []string
		if err := decodeRecord("v", b, &got, &tags, plain); err != nil {
			return
		}
		again := appendRecord(nil, got.Type, got.Entries)
		var back sharing.Record
		require.NoError(t, decodeRecord("v", again, &back, &tags, plain))
		assert.Equal(t, got.Entries, back.Entries)
	})
}

// FuzzDecodeLedger: decoding never panics and round-trips.
func FuzzDecodeLedger(f *testing.F) {
	e := sharing.LedgerEntry{Type: ioc.TypeMD5, State: sharing.StateApplied, Reason: "r", At: time.Unix(5, 6).UTC()}
	f.Add(appendLedger(nil, &e))
	f.Add([]byte{1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		var got sharing.LedgerEntry
		if err := decodeLedger(b, &got); err != nil {
			return
		}
		var back sharing.LedgerEntry
		require.NoError(t, decodeLedger(appendLedger(nil, &got), &back))
		assert.Equal(t, got, back)
	})
}

// FuzzStagedBlob: reading a staging log blob never panics, and the entries it
// reads, written again, read back the same (a length written with more bytes
// than it needs reads the same, so the bytes may differ).
func FuzzStagedBlob(f *testing.F) {
	key := binary.BigEndian.AppendUint64(nil, 7)
	f.Add(appendStagedEntry(appendStagedEntry(nil, "a", []byte{1, 2}), "bb", nil))
	f.Add([]byte{1, 'a', 200})
	f.Add([]byte{0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		var again []byte
		var refs []uint64
		err := blobEntries(key, b, func(ref uint64, value, rec []byte) error {
			require.Equal(t, uint64(7), refSeq(ref))
			require.Equal(t, len(again), refOff(ref))
			refs = append(refs, ref)
			again = appendStagedEntry(again, string(value), rec)
			return nil
		})
		if err != nil {
			assert.ErrorIs(t, err, errCorrupt)
			return
		}
		var n int
		require.NoError(t, blobEntries(key, again, func(_ uint64, value, rec []byte) error {
			v, r, _, err := entryAt(b, refOff(refs[n]))
			require.NoError(t, err)
			assert.Equal(t, v, value)
			assert.Equal(t, r, rec)
			n++
			return nil
		}))
		assert.Equal(t, len(refs), n)
	})
}

// TestKeyFilterByHash checks that the staging index's hash of a value is the
// same from a string and from its bytes (the index hashes strings, a fold
// the bytes of a log entry), so that a filter given one finds the other, and
// that a filter never misses a hash it was given.
func TestKeyFilterByHash(t *testing.T) {
	h := stageHash{seed: maphash.MakeSeed()}
	f := newKeyFilter(1000)
	for i := range 1000 {
		if i%2 == 0 {
			f.addHash(h.bytes([]byte(fmt.Sprint("k", i))))
		} else {
			f.addHash(h.str(fmt.Sprint("k", i)))
		}
	}
	misses := 0
	for i := range 1000 {
		k := fmt.Sprint("k", i)
		require.Equal(t, h.str(k), h.bytes([]byte(k)), k)
		require.True(t, f.mayHaveHash(h.str(k)), k)
		if f.mayHaveHash(h.str(fmt.Sprint("absent", i))) {
			misses++
		}
	}
	assert.Less(t, misses, 20, "false positives")
}
