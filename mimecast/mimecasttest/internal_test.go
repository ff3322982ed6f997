package mimecasttest

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The fake's signature function against the worked HMAC-SHA1 vectors (made-up
// keys; signatures computed independently with Python's hmac).
func TestSignatureGoldenVectors(t *testing.T) {
	t.Parallel()
	secret, err := base64.StdEncoding.DecodeString("bmV0c2tvcGUtZmFrZS1taW1lY2FzdC1zZWNyZXQtMDAwMQ==")
	require.NoError(t, err)
	require.Equal(t, "netskope-fake-mimecast-secret-0001", string(secret))
	const (
		date   = "Tue, 24 Nov 2015 12:50:11 UTC"
		reqID  = "8578fcfc-a305-4d9a-99cb-f4d5ecefe297"
		appKey = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"
	)
	cases := []struct{ path, reqID, appKey, want string }{
		{"/api/ttp/threat-intel/get-feed", reqID, appKey, "wr4LM/G7KHMqboKyQ8O6kPrCIdI="},
		{"/api/byo-threat-intelligence/create-batch", reqID, appKey, "OvZxiweTywcORhtVBKYiwe44SQ8="},
		{"/api/account/get-account", reqID, appKey, "udg275DAvfA5KleRtIIDqqjJa3g="},
		{"/api/ttp/threat-intel/get-feed", reqID, "wrong-app-key", "LCPNtll7NgDuhZd1GqkO/YVrDMM="},
		{"/api/ttp/threat-intel/get-feed", strings.ToUpper(reqID), appKey, "H1QLO0r3iwqvptcrJmfqhB1gOgM="},
	}
	for _, tc := range cases {
		assert.Equal(t, tc.want, signature(secret, date, tc.reqID, tc.path, tc.appKey), tc.path)
	}
	d, err := parseDate(date)
	require.NoError(t, err)
	assert.Equal(t, time.Date(2015, 11, 24, 12, 50, 11, 0, time.UTC), d)
}

func TestParseDate(t *testing.T) {
	t.Parallel()
	for _, bad := range []string{"", "Tue, 24 Nov 2015 12:50:11", "Tue, 24 Nov 2015 12:50:11 PST", "2015-11-24T12:50:11Z UTC", "Tue, 24 Nov 2015 25:50:11 UTC"} {
		_, err := parseDate(bad)
		assert.Error(t, err, bad)
	}
	_, err := parseDate("Tue, 24 Nov 2015 12:50:11 PST")
	assert.ErrorContains(t, err, `does not end in " UTC"`)
	g, err := parseDate("Tue, 24 Nov 2015 12:50:11 GMT")
	require.NoError(t, err)
	assert.Equal(t, time.UTC, g.Location())
}

func TestParseAuthorization(t *testing.T) {
	t.Parallel()
	ak, sig, err := parseAuthorization("MC AK-1:abc=:x")
	require.NoError(t, err)
	assert.Equal(t, "AK-1", ak)
	assert.Equal(t, "abc=:x", sig)
	for _, bad := range []string{"", "Bearer x", "MC ", "MC AK", "MC :sig", "MC AK:", "mc AK:sig"} {
		_, _, err := parseAuthorization(bad)
		assert.Error(t, err, bad)
	}
}

func TestParseTime(t *testing.T) {
	t.Parallel()
	want := time.Date(2011, 12, 3, 10, 15, 30, 0, time.UTC)
	for _, v := range []string{"2011-12-03T10:15:30+0000", "2011-12-03T10:15:30+00:00", "2011-12-03T10:15:30Z", "2011-12-03T10:15:30.000Z", "2011-12-03T12:15:30+0200", "2011-12-03T11:15:30+01:00"} {
		got, err := parseTime(v)
		require.NoError(t, err, v)
		assert.True(t, want.Equal(got), v)
	}
	for _, bad := range []string{"", "2011-12-03", "2011-12-03 10:15:30", "03/12/2011", "2011-12-03T10:15:30"} {
		_, err := parseTime(bad)
		assert.ErrorContains(t, err, "is not an ISO-8601 time", bad)
	}
}

func FuzzDecodeRequest(f *testing.F) {
	for _, seed := range []string{
		`{"data":[]}`,
		`{"meta":{"pagination":{"pageSize":100,"pageToken":""}},"data":[{"from":"2024-05-01T10:00:00+00:00","scanResult":"malicious","oldestFirst":true}]}`,
		`{"data":[{"operationType":"BLOCK","hashList":[{"hash":"4b61fd53c077baffe40a70f0b2c1c7f5f66e9e7b590aa13feaaf8a2711f3dd9d","provider":"NetskopeCE","description":"Morris worm"}]}]}`,
		`{"data":[{"fileType":"csv","start":"2024-05-01T10:00:00+00:00","feedType":"malware_customer","token":"eNo"}]}`,
		`{"data":[{"url":"https://x"}]}`, `{"data":[1]}`, `[]`, ``, `{`, `{"data":[]} x`, `{"meta":{"pagination":{"pageSize":-1}}}`,
		`{"data":[{"id":"\u0000"}]}`, ` {"data" : [ { } ] } `,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := decodeRequest(body)
		if err != nil {
			if req != nil {
				t.Fatalf("error %v with a request", err)
			}
			return
		}
		if req.Meta.Pagination.PageSize < 0 {
			t.Fatalf("negative page size accepted: %d", req.Meta.Pagination.PageSize)
		}
		// Every endpoint's item decoder copes with what the decoder accepted.
		_, _ = decodeItems[feedRequest](req)
		_, _ = decodeItems[batchRequest](req)
		_, _ = decodeItems[logsRequest](req)
		_, _ = decodeItems[urlItem](req)
		_, _ = decodeItems[managedItem](req)
		_, _ = decodeItems[managedQuery](req)
		_, _ = decodeItems[idItem](req)
		// What was accepted re-encodes to a body that is accepted again, the same.
		again, err := json.Marshal(req)
		if err != nil {
			t.Fatalf("re-encoding %q: %v", body, err)
		}
		req2, err := decodeRequest(again)
		if err != nil {
			t.Fatalf("re-encoded body %s refused: %v", again, err)
		}
		if len(req2.Data) != len(req.Data) || req2.Meta != req.Meta {
			t.Fatalf("round trip changed %q into %s", body, again)
		}
	})
}

func FuzzParseTime(f *testing.F) {
	for _, s := range []string{"2011-12-03T10:15:30+0000", "2024-05-01T10:00:00+00:00", "2021-10-29T15:07:26.653Z", "x", "", "2011-12-03T10:15:30+2400"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := parseTime(s)
		if err != nil {
			if !strings.Contains(err.Error(), "is not an ISO-8601 time") {
				t.Fatalf("error %q does not say what is wanted", err)
			}
			return
		}
		back, err := parseTime(got.Format(time.RFC3339Nano))
		if err != nil || !back.Equal(got) {
			t.Fatalf("%q parsed to %v, which does not round-trip (%v)", s, got, err)
		}
	})
}

func FuzzParseDate(f *testing.F) {
	for _, s := range []string{"Tue, 24 Nov 2015 12:50:11 UTC", "Tue, 24 Nov 2015 12:50:11 GMT", "Mon, 02 Jan 2006 15:04:05", "", " UTC"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := parseDate(s)
		if err != nil {
			return
		}
		if got.Location() != time.UTC {
			t.Fatalf("%q parsed outside UTC: %v", s, got)
		}
		back, err := parseDate(got.Format(DateLayout) + " UTC")
		if err != nil || !back.Equal(got) {
			t.Fatalf("%q parsed to %v, which does not round-trip (%v)", s, got, err)
		}
	})
}

func FuzzParseAuthorization(f *testing.F) {
	for _, s := range []string{"MC AK-test-0001:wr4LM/G7KHMqboKyQ8O6kPrCIdI=", "MC a:b:c", "Bearer x", "MC ", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ak, sig, err := parseAuthorization(s)
		if err != nil {
			return
		}
		if ak == "" || sig == "" || strings.Contains(ak, ":") {
			t.Fatalf("%q split into %q and %q", s, ak, sig)
		}
		if "MC "+ak+":"+sig != s {
			t.Fatalf("%q split into %q and %q, which does not rebuild it", s, ak, sig)
		}
	})
}
