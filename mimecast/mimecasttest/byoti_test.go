package mimecasttest_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ctexchange/cte/mimecast/mimecasttest"
)

type hashEntry struct {
	Hash        string `json:"hash"`
	Provider    string `json:"provider,omitempty"`
	Description string `json:"description,omitempty"`
}

func batch(op string, hashes ...hashEntry) map[string]any {
	return map[string]any{"data": []any{map[string]any{"operationType": op, "hashList": hashes}}}
}

// hexHash makes a distinct valid hash of n hex digits.
func hexHash(i, n int) string {
	s := fmt.Sprintf("%0*x", n, i+1)
	return s[len(s)-n:]
}

type batchData struct {
	BatchIDToken   string `json:"batchIdToken"`
	CompletionTime string `json:"completionTime"`
	HashCount      int    `json:"hashCount"`
}

func batchResult(t *testing.T, e envelope) batchData {
	t.Helper()
	require.Len(t, e.Data, 1)
	var d batchData
	require.NoError(t, json.Unmarshal(e.Data[0], &d))
	return d
}

func TestCreateBatch(t *testing.T) {
	t.Parallel()
	s, clk := fake(t)
	md5 := strings.Repeat("ab", 16)
	sha := strings.Repeat("CD", 32)
	r := hmacPost(t, s, clk, mimecasttest.PathCreateBatch, batch("BLOCK",
		hashEntry{Hash: md5, Provider: "NetskopeCE", Description: "exactly twenty chars"},
		hashEntry{Hash: sha, Provider: "cte"},
		hashEntry{Hash: strings.Repeat("a", 40), Provider: "cte"},        // SHA-1 length
		hashEntry{Hash: "zz" + strings.Repeat("a", 30), Provider: "cte"}, // not hex
		hashEntry{Hash: "null"}, // literal null
		hashEntry{Hash: strings.Repeat("1", 32), Provider: "NetskopeCE1"},              // provider 11
		hashEntry{Hash: strings.Repeat("2", 32), Description: strings.Repeat("é", 21)}, // description 21 runes
	))
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	e := r.env(t)
	assert.Equal(t, 200, e.Meta.Status)
	d := batchResult(t, e)
	assert.Equal(t, 2, d.HashCount)
	assert.NotEmpty(t, d.BatchIDToken)
	assert.Equal(t, "2026-05-01T12:00:00.000Z[UTC]", d.CompletionTime)
	assert.Equal(t, []string{"err_invalid_hash", "err_invalid_hash", "err_invalid_hash", "err_validation_provider_too_long", "err_validation_description_too_long"}, e.codes())
	var key hashEntry
	require.NoError(t, json.Unmarshal(e.Fail[0].Key, &key))
	assert.Equal(t, hashEntry{Hash: strings.Repeat("a", 40), Provider: "cte"}, key, "per-hash failures echo the item")
	assert.JSONEq(t, `{"hash":"null","provider":"","description":""}`, string(e.Fail[2].Key))
	for _, f := range e.Fail {
		assert.False(t, f.Errors[0].Retryable)
	}

	got := s.Hashes()
	require.Len(t, got, 2)
	assert.Equal(t, mimecasttest.Hash{Hash: md5, Operation: "BLOCK", Provider: "NetskopeCE", Description: "exactly twenty chars", Updated: t0}, got[md5])
	assert.Equal(t, "BLOCK", got[strings.ToLower(sha)].Operation, "hashes are kept in lower case")

	// ALLOW replaces the operation; DELETE removes.
	r = hmacPost(t, s, clk, mimecasttest.PathCreateBatch, batch("ALLOW", hashEntry{Hash: md5, Provider: "cte", Description: "ok"}))
	assert.Equal(t, 1, batchResult(t, r.env(t)).HashCount)
	assert.Equal(t, "ALLOW", s.Hashes()[md5].Operation)
	assert.Equal(t, "cte", s.Hashes()[md5].Provider)
	r = hmacPost(t, s, clk, mimecasttest.PathCreateBatch, batch("DELETE", hashEntry{Hash: md5, Provider: "cte", Description: "Retracting File Hash"}))
	assert.Equal(t, 1, batchResult(t, r.env(t)).HashCount)
	assert.NotContains(t, s.Hashes(), md5)
	assert.Len(t, s.Hashes(), 1)
}

func TestCreateBatchLimits(t *testing.T) {
	t.Parallel()
	s, _ := fake(t)
	tok := token(t, s)
	many := func(n int) []hashEntry {
		out := make([]hashEntry, n)
		for i := range out {
			out[i] = hashEntry{Hash: hexHash(i, 64), Provider: "cte"}
		}
		return out
	}
	r := bearerPost(t, s, tok, mimecasttest.PathCreateBatch, batch("BLOCK", many(1001)...))
	assert.Equal(t, http.StatusOK, r.status)
	e := r.env(t)
	assert.Equal(t, []string{"err_validation_hash_list_too_large"}, e.codes())
	assert.Contains(t, e.Fail[0].Errors[0].Message, "1001")
	assert.Nil(t, e.Fail[0].Key, "a whole-request failure has no key")
	assert.Empty(t, e.Data)
	assert.Empty(t, s.Hashes(), "nothing of an oversized batch is applied")

	r = bearerPost(t, s, tok, mimecasttest.PathCreateBatch, batch("BLOCK", many(1000)...))
	assert.Equal(t, 1000, batchResult(t, r.env(t)).HashCount)
	assert.Len(t, s.Hashes(), 1000)

	for name, body := range map[string]any{
		"err_validation_invalid_operation_type": batch("block", many(1)...),
		"err_validation_empty_hash_list":        batch("BLOCK"),
		"err_validation_missing_data":           `{"data":[]}`,
	} {
		r := bearerPost(t, s, tok, mimecasttest.PathCreateBatch, body)
		assert.Equal(t, http.StatusOK, r.status, name)
		assert.Equal(t, []string{name}, r.env(t).codes())
	}
}

func TestBatchQuota(t *testing.T) {
	t.Parallel()
	s, _ := fake(t, mimecasttest.WithBatchQuota(2))
	tok := token(t, s)
	one := batch("BLOCK", hashEntry{Hash: hexHash(1, 32)})
	assert.Equal(t, 2, s.BatchQuota())
	for range 2 {
		r := bearerPost(t, s, tok, mimecasttest.PathCreateBatch, one)
		assert.Empty(t, r.env(t).Fail)
	}
	assert.Equal(t, 0, s.BatchQuota())
	r := bearerPost(t, s, tok, mimecasttest.PathCreateBatch, batch("DELETE", hashEntry{Hash: hexHash(1, 32)}))
	assert.Equal(t, http.StatusOK, r.status, "quota failures are HTTP 200")
	e := r.env(t)
	require.Len(t, e.Fail, 1)
	assert.Equal(t, mimecasttest.QuotaMessage, e.Fail[0].Errors[0].Message)
	assert.Contains(t, s.Hashes(), hexHash(1, 32), "a refused DELETE deletes nothing")

	s.SetBatchQuota(-1)
	r = bearerPost(t, s, tok, mimecasttest.PathCreateBatch, one)
	assert.Empty(t, r.env(t).Fail)
	assert.Equal(t, -1, s.BatchQuota())
	s.SetBatchQuota(0)
	assert.Contains(t, string(bearerPost(t, s, tok, mimecasttest.PathCreateBatch, one).body), mimecasttest.QuotaMessage)
}

func TestGetAccount(t *testing.T) {
	t.Parallel()
	packages := func(s *mimecasttest.Server) []string {
		r := bearerPost(t, s, token(t, s), mimecasttest.PathGetAccount, nil)
		e := r.env(t)
		require.Equal(t, 200, e.Meta.Status)
		require.Empty(t, e.Fail)
		require.Len(t, e.Data, 1)
		var acct struct {
			AccountCode string   `json:"accountCode"`
			Packages    []string `json:"packages"`
		}
		require.NoError(t, json.Unmarshal(e.Data[0], &acct))
		assert.NotEmpty(t, acct.AccountCode)
		return acct.Packages
	}
	s, _ := fake(t)
	assert.Contains(t, packages(s), mimecasttest.BYOPackage)
	n, _ := fake(t, mimecasttest.WithoutBYO())
	assert.NotContains(t, packages(n), mimecasttest.BYOPackage)
	assert.NotEmpty(t, packages(n), "other packages stay")
	p, _ := fake(t, mimecasttest.WithPackages("A [1]", mimecasttest.BYOPackage))
	assert.Equal(t, []string{"A [1]", mimecasttest.BYOPackage}, packages(p))
	p.SetPackages()
	assert.Empty(t, packages(p))
}
