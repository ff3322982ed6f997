package netskope

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ctexchange/cte"
	"github.com/ctexchange/cte/ioc"
	"github.com/ctexchange/cte/netskope/netskopetest"
)

func sha(i int) string {
	s := sha256.Sum256([]byte(fmt.Sprint("hash-", i)))
	return hex.EncodeToString(s[:])
}

func shaIndicators(n int) []ioc.Indicator {
	out := make([]ioc.Indicator, n)
	for i := range out {
		out[i] = ioc.Indicator{Type: ioc.TypeSHA256, Value: sha(i)}
	}
	return out
}

func TestHashListBody(t *testing.T) {
	t.Parallel()
	b := hashListBody("CE \"Hashes\"\n\x01é\xff", []string{shaA, md5A}, "tok\"en")
	var got map[string]string
	require.NoError(t, json.Unmarshal(b, &got))
	assert.Equal(t, map[string]string{"name": "CE \"Hashes\"\n\x01é\ufffd", "list": shaA + "," + md5A, "token": "tok\"en"}, got)
	assert.Equal(t, len(b), cap(b), "built in one buffer of the exact size")
	for _, s := range []string{"", "plain", "\x7f<>&", "\u2028", strings.Repeat("\\", 5)} {
		assert.Equal(t, len(appendQuoted(nil, s)), quotedLen(s), "%q", s)
		var back string
		require.NoError(t, json.Unmarshal(appendQuoted(nil, s), &back))
		assert.Equal(t, s, back)
	}
	assert.Equal(t, 0, joinedLen(nil))
}

func TestPushFileHashListReplaces(t *testing.T) {
	t.Parallel()
	s := netskopetest.NewServer(t, netskopetest.WithFileHashList("CE_Malware_Hashes", sha(999)),
		netskopetest.WithFileHashListTypes("CE_Malware_Hashes", "sha256"))
	p := newPlugin(t, s, nil)
	targets, err := p.GetTargets(t.Context())
	require.NoError(t, err)
	tgt := targets[0]
	assert.Equal(t, cte.Target{ID: "file-hash-list/CE_Malware_Hashes", Label: "Netskope File Hash List CE_Malware_Hashes",
		Mode: cte.Replace, Types: []ioc.Type{ioc.TypeSHA256}, Limits: cte.Limits{MaxItems: 300000, MaxBytes: 8 << 20}}, tgt)

	in := shaIndicators(3)
	in = append(in, ioc.Indicator{Type: ioc.TypeSHA256, Value: strings.ToUpper(sha(0))}) // the same value again
	res, err := p.Push(t.Context(), tgt, in)
	require.NoError(t, err)
	assert.Equal(t, cte.PushResult{Applied: 4}, res)
	assert.Equal(t, []string{sha(0), sha(1), sha(2)}, s.FileHashList("CE_Malware_Hashes"), "replaced, not appended")

	// The same content again: the tenant answers "Duplicate request".
	res, err = p.Push(t.Context(), tgt, shaIndicators(3))
	require.NoError(t, err)
	assert.Equal(t, cte.PushResult{Unchanged: 3}, res)
	assert.Equal(t, 1, s.FileHashListUpdates("CE_Malware_Hashes"))

	// An empty desired list leaves the placeholder, never an empty profile.
	res, err = p.Push(t.Context(), tgt, nil)
	require.NoError(t, err)
	assert.Equal(t, cte.PushResult{}, res)
	assert.Equal(t, []string{ioc.Placeholder}, s.FileHashList("CE_Malware_Hashes"))

	// The token travelled in the body, never in a URL.
	assert.False(t, s.TokenInURL())
	for _, rq := range s.Requests() {
		if rq.Path == netskopetest.PathUpdateFileHashList {
			assert.Equal(t, "POST", rq.Method)
			assert.Empty(t, rq.Query)
		}
	}
}

func TestPushFileHashListMD5Placeholder(t *testing.T) {
	t.Parallel()
	s := netskopetest.NewServer(t, netskopetest.WithFileHashListTypes("M", "md5"))
	p := newPlugin(t, s, func(c *Config) { c.FileHashLists = []string{"M"}; c.FileHashListTypes = []ioc.Type{ioc.TypeMD5} })
	res, err := p.Push(t.Context(), p.fileHashTarget("M"), nil)
	require.NoError(t, err)
	assert.Equal(t, cte.PushResult{}, res)
	assert.Equal(t, []string{strings.Repeat("f", 32)}, s.FileHashList("M"))
}

func TestPushFileHashListRejects(t *testing.T) {
	t.Parallel()
	s := netskopetest.NewServer(t, netskopetest.WithFileHashList("L"))
	p := newPlugin(t, s, func(c *Config) { c.FileHashLists = []string{"L"} })
	tgt := p.fileHashTarget("L")
	in := []ioc.Indicator{
		{Type: ioc.TypeSHA256, Value: shaA},
		{Type: ioc.TypeMD5, Value: md5A},                // the list takes sha256 only
		{Type: ioc.TypeSHA256, Value: "not-a-sha256"},   // invalid
		{Type: ioc.TypeSHA256, Value: ioc.EmptySHA256},  // never shared
		{Type: ioc.TypeSHA256, Value: ioc.Placeholder},  // never shared
		{Type: ioc.TypeURL, Value: "http://x.example/"}, // wrong type
	}
	res, err := p.Push(t.Context(), tgt, in)
	require.NoError(t, err)
	assert.Equal(t, 1, res.Applied)
	require.Len(t, res.Rejected, 5)
	reasons := map[string]string{}
	for _, r := range res.Rejected {
		reasons[r.Value] = r.Reason
		assert.False(t, r.Retryable, r.Value)
	}
	assert.Contains(t, reasons[md5A], "the list takes sha256")
	assert.Contains(t, reasons["not-a-sha256"], "invalid sha256")
	assert.Contains(t, reasons[ioc.EmptySHA256], "never shared")
	assert.Contains(t, reasons[ioc.Placeholder], "never shared")
	assert.Equal(t, []string{shaA}, s.FileHashList("L"))
}

func TestPushFileHashListOverCapacity(t *testing.T) {
	t.Parallel()
	s := netskopetest.NewServer(t, netskopetest.WithFileHashList("L"))
	p := newPlugin(t, s, func(c *Config) { c.FileHashLists = []string{"L"}; c.MaxListMB = 1 })
	perMiB := (1<<20 + 1) / 65 // 64 hex digits and a comma each
	in := shaIndicators(perMiB + 10)
	res, err := p.Push(t.Context(), p.fileHashTarget("L"), in)
	require.NoError(t, err)
	assert.Equal(t, perMiB, res.Applied)
	require.Len(t, res.Rejected, 10)
	for i, r := range res.Rejected {
		assert.Equal(t, cte.ReasonOverCapacity, r.Reason)
		assert.Equal(t, sha(perMiB+i), r.Value, "the entries after the limit, in order")
	}
	list := s.FileHashList("L")
	assert.Len(t, list, perMiB)
	assert.LessOrEqual(t, len(strings.Join(list, ",")), 1<<20)
}

func TestPushFileHashListMaxEntries(t *testing.T) {
	t.Parallel()
	// At 8 MiB the byte limit binds first (about 129,000 SHA256 or 254,000 MD5 hashes),
	// so the entry limit is lowered to be reached.
	s := netskopetest.NewServer(t, netskopetest.WithFileHashList("L"))
	p := newPlugin(t, s, func(c *Config) { c.FileHashLists = []string{"L"} })
	p.maxEntries = 5
	res, err := p.Push(t.Context(), p.fileHashTarget("L"), shaIndicators(7))
	require.NoError(t, err)
	assert.Equal(t, 5, res.Applied)
	require.Len(t, res.Rejected, 2)
	assert.Equal(t, cte.ReasonOverCapacity, res.Rejected[0].Reason)
	assert.Equal(t, sha(5), res.Rejected[0].Value)
	assert.Len(t, s.FileHashList("L"), 5)
}

func TestPushFileHashListErrors(t *testing.T) {
	t.Parallel()
	s := netskopetest.NewServer(t, netskopetest.WithFileHashList("L"))
	in := shaIndicators(2)

	// A name the tenant does not know.
	p := newPlugin(t, s, func(c *Config) { c.FileHashLists = []string{"Missing"} })
	res, err := p.Push(t.Context(), p.fileHashTarget("Missing"), in)
	require.Error(t, err)
	assert.ErrorIs(t, err, ErrNotFound)
	assert.Contains(t, err.Error(), "file_hash_lists")
	require.Len(t, res.Rejected, 2, "every value accounted for")
	assert.True(t, res.Rejected[0].Retryable)

	// A pending change: 409, its own kind.
	p = newPlugin(t, s, func(c *Config) { c.FileHashLists = []string{"L"} })
	require.True(t, s.SetFileHashListPending("L", true))
	_, err = p.Push(t.Context(), p.fileHashTarget("L"), in)
	assert.ErrorIs(t, err, ErrPendingChanges)
	var e *Error
	require.ErrorAs(t, err, &e)
	assert.Equal(t, 409, e.Status)
	assert.Contains(t, e.Hint, "apply or discard")
	s.SetFileHashListPending("L", false)

	// A wrong v1 token.
	bad := newPlugin(t, s, func(c *Config) { c.FileHashLists = []string{"L"}; c.V1Token = "wrong-v1" })
	_, err = bad.Push(t.Context(), bad.fileHashTarget("L"), in)
	assert.ErrorIs(t, err, cte.ErrAuth)
	assert.Contains(t, err.Error(), "v1_token")

	// A list type the tenant refuses (the fake's list takes sha256 only here).
	s2 := netskopetest.NewServer(t, netskopetest.WithFileHashListTypes("L", "sha256"))
	p2 := newPlugin(t, s2, func(c *Config) { c.FileHashLists = []string{"L"}; c.FileHashListTypes = []ioc.Type{ioc.TypeMD5} })
	_, err = p2.Push(t.Context(), p2.fileHashTarget("L"), []ioc.Indicator{{Type: ioc.TypeMD5, Value: md5A}})
	assert.ErrorIs(t, err, ErrRejected)
	assert.Contains(t, err.Error(), "Invalid hash")

	// Not configured, or no v1 token: not a target.
	_, err = p.Push(t.Context(), cte.Target{ID: "file-hash-list/Other"}, in)
	assert.ErrorIs(t, err, ErrNotFound)
	nov1 := newPlugin(t, s, func(c *Config) { c.V1Token = "" })
	_, err = nov1.Push(t.Context(), cte.Target{ID: "file-hash-list/CE_Malware_Hashes"}, in)
	assert.ErrorIs(t, err, cte.ErrInvalidConfig)
	ts, err := nov1.GetTargets(t.Context())
	require.NoError(t, err)
	for _, tg := range ts {
		assert.False(t, strings.HasPrefix(tg.ID, TargetFileHashList), "no v1 token, no file hash list target")
	}
}

func TestUpdateFileHashListChecksInput(t *testing.T) {
	t.Parallel()
	c, err := New(Config{TenantURL: "acme", V2Token: "v2", V1Token: "v1"})
	require.NoError(t, err)
	_, err = c.UpdateFileHashList(t.Context(), "L", []string{"ABC"})
	assert.ErrorContains(t, err, "not a normalised hash")
	_, err = c.UpdateFileHashList(t.Context(), "", nil)
	assert.ErrorIs(t, err, cte.ErrInvalidConfig)
	c, err = New(Config{TenantURL: "acme", V2Token: "v2"})
	require.NoError(t, err)
	_, err = c.UpdateFileHashList(t.Context(), "L", nil)
	assert.ErrorIs(t, err, cte.ErrInvalidConfig)
}

// fullList is the largest SHA256 list under 8 MiB comma-joined.
func fullList() []string {
	n := (8<<20 + 1) / 65
	out := make([]string, n)
	for i := range out {
		out[i] = sha(i)
	}
	return out
}

func BenchmarkHashListBody(b *testing.B) {
	list := fullList()
	b.ReportAllocs()
	b.SetBytes(int64(joinedLen(list)))
	cpu0 := cpuTime()
	for b.Loop() {
		body := hashListBody("CE_Malware_Hashes", list, "0123456789abcdef0123456789abcdef")
		if len(body) < 8<<20-100 {
			b.Fatal(len(body))
		}
	}
	b.ReportMetric(float64(len(list)), "hashes")
	if cpu := cpuTime() - cpu0; cpu > 0 {
		b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/op")
	}
}

// BenchmarkFileHashListPrepare measures what Push does before sending: validating,
// de-duplicating and cutting a full list to the limits, then building the body.
func BenchmarkFileHashListPrepare(b *testing.B) {
	list := fullList()
	in := make([]ioc.Indicator, len(list))
	for i, v := range list {
		in[i] = ioc.Indicator{Type: ioc.TypeSHA256, Value: v}
	}
	b.ReportAllocs()
	for b.Loop() {
		hashes := make([]string, 0, len(in))
		seen := make(map[string]struct{}, len(in))
		for _, ind := range in {
			v, err := ioc.Parse(ind.Type, ind.Value)
			if err != nil || ioc.NeverShare(v) {
				b.Fatal(v)
			}
			if _, dup := seen[v]; !dup {
				seen[v] = struct{}{}
				hashes = append(hashes, v)
			}
		}
		_ = hashListBody("CE_Malware_Hashes", hashes, "token")
	}
}

// Issue 12 item 5 (plugin side): a push stopped by its context refuses nothing:
// the values stay unaccounted, so the host sends them again without counting a
// failed attempt.
func TestPushStoppedLeavesValuesUnaccounted(t *testing.T) {
	t.Parallel()
	s := netskopetest.NewServer(t, netskopetest.WithFileHashList("CE_Malware_Hashes"),
		netskopetest.WithFileHashListTypes("CE_Malware_Hashes", "sha256"))
	p := newPlugin(t, s, nil)
	gate := s.Stall(netskopetest.PathUpdateFileHashList, 1)
	ctx, cancel := context.WithCancel(t.Context())
	type out struct {
		res cte.PushResult
		err error
	}
	done := make(chan out, 1)
	go func() {
		res, err := p.Push(ctx, cte.Target{ID: "file-hash-list/CE_Malware_Hashes"}, shaIndicators(3))
		done <- out{res, err}
	}()
	<-gate.Arrived()
	cancel()
	o := <-done
	require.ErrorIs(t, o.err, context.Canceled)
	assert.Zero(t, o.res.Applied)
	assert.Empty(t, o.res.Rejected)
}
