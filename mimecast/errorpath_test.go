package mimecast

import (
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jarcoal/httpmock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ctexchange/cte"
	"github.com/ctexchange/cte/ioc"
	"github.com/ctexchange/cte/mimecast/mimecasttest"
)

func mockPlugin(t *testing.T, cfg Config) (*Plugin, *httpmock.MockTransport) {
	t.Helper()
	c, mt := mockClient(t, cfg)
	return &Plugin{c: c, cfg: c.cfg, log: c.log, now: time.Now}, mt
}

func TestClientSideLimits(t *testing.T) {
	t.Parallel()
	c, mt := mockClient(t, mockHMAC())
	_, err := c.CreateBatch(t.Context(), OpBlock, make([]Hash, MaxBatch+1))
	assert.ErrorContains(t, err, "at most 1000")
	_, _, err = c.CreateManagedURLs(t.Context(), make([]ManagedURL, MaxCreateManaged+1))
	assert.ErrorContains(t, err, "at most 20")
	assert.Zero(t, mt.GetTotalCallCount())
}

func TestGetFeedJSONSuccessIsAnEmptyPage(t *testing.T) {
	t.Parallel()
	c, mt := mockClient(t, mockHMAC())
	mt.RegisterResponder("POST", "https://mock.test"+pathGetFeed, jsonResponder(200, `{"meta":{"status":200},"data":[],"fail":[]}`))
	fp, err := c.GetFeed(t.Context(), FeedRequest{FeedType: FeedMalwareGrid})
	require.NoError(t, err)
	b, err := io.ReadAll(fp.Body)
	require.NoError(t, err)
	assert.Empty(t, b)
	assert.Empty(t, fp.NextToken)
	require.NoError(t, fp.Close())

	mt.RegisterResponder("POST", "https://mock.test"+pathGetFeed, jsonResponder(200, `{"meta":`))
	_, err = c.GetFeed(t.Context(), FeedRequest{FeedType: FeedMalwareGrid})
	assert.ErrorIs(t, err, ErrProtocol)
}

func TestBadDataShapes(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, path, body string
		call             func(c *Client) error
	}{
		{"account data", pathGetAccount, `{"meta":{"status":200},"data":{"x":1},"fail":[]}`, func(c *Client) error { _, err := c.GetAccount(t.Context()); return err }},
		{"batch data", pathCreateBatch, `{"meta":{"status":200},"data":"x","fail":[]}`, func(c *Client) error {
			_, err := c.CreateBatch(t.Context(), OpBlock, []Hash{{Hash: md5A}})
			return err
		}},
		{"decode data", pathDecodeURL, `{"meta":{"status":200},"data":{},"fail":[]}`, func(c *Client) error {
			_, err := c.DecodeURLs(t.Context(), []string{"https://x.example/"})
			return err
		}},
		{"managed data", pathCreateManaged, `{"meta":{"status":200},"data":7,"fail":[]}`, func(c *Client) error {
			_, _, err := c.CreateManagedURLs(t.Context(), []ManagedURL{{URL: "https://x.example/", Action: "block"}})
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, mt := mockClient(t, mockHMAC())
			mt.RegisterResponder("POST", "https://mock.test"+tc.path, jsonResponder(200, tc.body))
			assert.ErrorIs(t, tc.call(c), ErrProtocol)
		})
	}
}

func TestCreateBatchMetaStatusWithoutFail(t *testing.T) {
	t.Parallel()
	p, mt := mockPlugin(t, mockHMAC())
	mt.RegisterResponder("POST", "https://mock.test"+pathCreateBatch, jsonResponder(200, `{"meta":{"status":500},"data":[],"fail":[]}`))
	res, err := p.Push(t.Context(), target(TargetBlock), sha256s(3))
	require.Error(t, err, "a batch not applied is a failed push")
	assert.Zero(t, res.Applied)
	require.Len(t, res.Rejected, 3, "a whole-batch failure rejects every hash of the batch")
	assert.Contains(t, res.Rejected[0].Reason, "meta.status 500")
	assert.True(t, res.Rejected[0].Retryable, "and leaves them retryable")
}

func TestDecodeURLsWholeRequestFailure(t *testing.T) {
	t.Parallel()
	c, mt := mockClient(t, mockHMAC())
	mt.RegisterResponder("POST", "https://mock.test"+pathDecodeURL, jsonResponder(200, `{"meta":{"status":200},"data":[{"url":"https://a.example/","success":true}],"fail":[{"errors":[{"code":"err_x","message":"down"}]}]}`))
	_, err := c.DecodeURLs(t.Context(), []string{"https://p.example/1", "https://p.example/2"})
	var e *Error
	require.ErrorAs(t, err, &e)
	assert.Equal(t, "down", e.Message)

	mt.RegisterResponder("POST", "https://mock.test"+pathDecodeURL, jsonResponder(200, `{"meta":{"status":200},"data":[{"url":"https://a.example/","success":true}],"fail":[]}`))
	out, err := c.DecodeURLs(t.Context(), []string{"https://p.example/1", "https://p.example/2"})
	require.NoError(t, err)
	require.Len(t, out, 2)
	assert.Equal(t, "https://a.example/", out[0].URL)
	assert.Equal(t, "missing", out[1].Code, "fewer answers than URLs")
}

func TestPushURLsFailures(t *testing.T) {
	t.Parallel()
	p, mt := mockPlugin(t, mockHMAC())
	mt.RegisterResponder("POST", "https://mock.test"+pathCreateManaged, jsonResponder(200, `{"meta":{"status":200},"data":[],
	  "fail":[{"key":{"url":"https://a.example/"},"errors":[{"code":"err_busy","message":"later","retryable":true}]},
	          {"key":{"url":"https://b.example/"},"errors":[{"code":"err_managed_url_invalid","message":"The URL is invalid"}]}]}`))
	res, err := p.Push(t.Context(), target(TargetManagedPermit), []ioc.Indicator{
		{Type: ioc.TypeURL, Value: "https://a.example/"}, {Type: ioc.TypeURL, Value: "https://b.example/"}, {Type: ioc.TypeURL, Value: "https://c.example/"},
	})
	require.NoError(t, err)
	assert.Equal(t, 1, res.Applied)
	assert.Equal(t, []cte.Rejected{
		{Value: "https://a.example/", Reason: "later", Code: "err_busy", Retryable: true},
		{Value: "https://b.example/", Reason: "The URL is invalid", Code: "err_managed_url_invalid"},
	}, res.Rejected)

	// A whole-request failure rejects the batch; an HTTP error too, and later batches go on.
	p2, mt2 := mockPlugin(t, mockHMAC())
	calls := 0
	mt2.RegisterResponder("POST", "https://mock.test"+pathCreateManaged, func(r *http.Request) (*http.Response, error) {
		calls++
		switch calls {
		case 1:
			return jsonResponder(200, `{"meta":{"status":200},"fail":[{"errors":[{"code":"err_limit","message":"Managed URL limit reached"}]}]}`)(r)
		case 2:
			return jsonResponder(400, `{"meta":{"status":400},"fail":[{"errors":[{"code":"err_bad","message":"bad"}]}]}`)(r)
		}
		return jsonResponder(200, `{"meta":{"status":200},"data":[{"id":"x"}],"fail":[]}`)(r)
	})
	var in []ioc.Indicator
	for i := range 41 {
		in = append(in, ioc.Indicator{Type: ioc.TypeURL, Value: "https://u" + strings.Repeat("x", i) + ".example/"})
	}
	res, err = p2.Push(t.Context(), target(TargetManagedBlock), in)
	require.Error(t, err, "a request that failed is a failed push")
	assert.ErrorContains(t, err, "1 of the create-managed-url requests failed")
	assert.Equal(t, 1, res.Applied)
	assert.Len(t, res.Rejected, 40)
	assert.Equal(t, "Managed URL limit reached", res.Rejected[0].Reason)
	assert.Equal(t, "err_bad", res.Rejected[20].Code)
}

func TestPushURLsStopsOnAuth(t *testing.T) {
	t.Parallel()
	s := mimecasttest.NewServer(t)
	p := newTestPlugin(t, s, hmacConfig(s), time.Now)
	s.SetBindingExpired(true)
	res, err := p.Push(t.Context(), target(TargetManagedBlock), []ioc.Indicator{{Type: ioc.TypeURL, Value: "https://a.example/"}})
	require.ErrorIs(t, err, cte.ErrAuth)
	assert.Len(t, res.Rejected, 1)
	assert.True(t, res.Rejected[0].Retryable)
}

func TestRetractURLErrors(t *testing.T) {
	t.Parallel()
	p, mt := mockPlugin(t, mockHMAC())
	mt.RegisterResponder("POST", "https://mock.test"+pathGetAllManaged, jsonResponder(200, `{"meta":{"status":200},"fail":[],"data":[{"id":"a","action":"block","matchType":"explicit"}]}`))
	mt.RegisterResponder("POST", "https://mock.test"+pathDeleteManaged, jsonResponder(200, `{"meta":{"status":200},"data":[],"fail":[{"errors":[{"code":"err_locked","message":"Locked"}]}]}`))
	in := []ioc.Indicator{{Type: ioc.TypeURL, Value: "https://a.example/"}, {Type: ioc.TypeURL, Value: "nope"}}
	res, err := p.Retract(t.Context(), target(TargetManagedBlock), in)
	require.NoError(t, err)
	require.Len(t, res.Rejected, 2)
	assert.Equal(t, "nope", res.Rejected[0].Value)
	assert.Equal(t, "err_locked", res.Rejected[1].Code)
	assert.True(t, res.Rejected[1].Retryable)

	// A not-found answer means it is gone already.
	mt.RegisterResponder("POST", "https://mock.test"+pathDeleteManaged, jsonResponder(200, `{"meta":{"status":200},"data":[],"fail":[{"errors":[{"code":"err_managed_url_not_found","message":"Managed URL not found"}]}]}`))
	res, err = p.Retract(t.Context(), target(TargetManagedBlock), in[:1])
	require.NoError(t, err)
	assert.Equal(t, 1, res.Applied)

	// A lookup refused for auth stops the retraction.
	mt.RegisterResponder("POST", "https://mock.test"+pathGetAllManaged, jsonResponder(401, `{"meta":{"status":401},"fail":[{"errors":[{"code":"err_xdk_invalid_signature","message":"0004 Invalid Signature"}]}]}`))
	res, err = p.Retract(t.Context(), target(TargetManagedBlock), append(in[:1], ioc.Indicator{Type: ioc.TypeDomain, Value: "b.example"}))
	require.ErrorIs(t, err, cte.ErrAuth)
	assert.Len(t, res.Rejected, 2)

	// A lookup failing otherwise rejects that value only.
	mt.RegisterResponder("POST", "https://mock.test"+pathGetAllManaged, jsonResponder(400, `{"meta":{"status":400},"fail":[{"errors":[{"code":"err_bad","message":"bad"}]}]}`))
	res, err = p.Retract(t.Context(), target(TargetManagedBlock), in[:1])
	require.NoError(t, err)
	require.Len(t, res.Rejected, 1)
	assert.Equal(t, "err_bad", res.Rejected[0].Code)

	_, err = p.Retract(t.Context(), target("operation/NOPE"), in)
	assert.ErrorIs(t, err, cte.ErrNotSupported)
	res, err = p.Retract(t.Context(), target(TargetManagedBlock), nil)
	require.NoError(t, err)
	assert.Zero(t, res)
}

func TestPullLogsInvalidOncePerPull(t *testing.T) {
	t.Parallel()
	s := mimecasttest.NewServer(t, mimecasttest.WithFeedPageSize(100))
	var logs strings.Builder
	p := newTestPlugin(t, s, hmacConfig(s), time.Now, WithLogger(slogTo(&logs)))
	p.log = slogTo(&logs)
	pages, err := pullAll(t, p, nil)
	require.NoError(t, err)
	require.Greater(t, len(pages), 5)
	assert.Equal(t, 1, strings.Count(logs.String(), "skipped values that are not valid indicators"))
	total := 0
	for _, pg := range pages {
		for _, x := range pg.Invalid {
			total += x.Count
		}
	}
	assert.Contains(t, logs.String(), `"total":`+itoa(total))
}

func slogTo(w *strings.Builder) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func itoa(n int) string { return strconv.Itoa(n) }

// Issue 12 item 13: validate against a host that cannot be reached fails at once:
// a connection error is not retried there, and a name that does not resolve is
// never retried.
func TestValidateUnreachableFailsFast(t *testing.T) {
	t.Parallel()
	for name, fail := range map[string]error{
		"refused":      &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connect: connection refused")},
		"no such host": &net.DNSError{Err: "no such host", Name: "mock.test", IsNotFound: true},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			p, mt := mockPlugin(t, mockHMAC())
			mt.RegisterResponder("POST", "https://mock.test"+pathGetAccount, httpmock.NewErrorResponder(fail))
			err := p.Validate(t.Context())
			require.Error(t, err)
			assert.Contains(t, err.Error(), "check base_url")
			assert.Equal(t, 1, mt.GetTotalCallCount(), "no retries")
			if name == "no such host" {
				_, err := p.c.GetAccount(t.Context())
				require.Error(t, err)
				assert.Equal(t, 2, mt.GetTotalCallCount(), "not retried outside validate either")
			}
		})
	}
}

// TestWholeRequestFailureIsRetryable fails create-managed-url and
// create-batch as a whole with a 4xx the HTTP layer does not retry (408, as
// a proxy on the way answers): the request says nothing of the values it
// carried, so each is rejected as retryable, for both (create-managed-url's
// were rejected for good, and never sent again until they changed).
func TestWholeRequestFailureIsRetryable(t *testing.T) {
	t.Parallel()
	for _, path := range []string{pathCreateManaged, pathCreateBatch} {
		p, mt := mockPlugin(t, mockHMAC())
		mt.RegisterResponder("POST", "https://mock.test"+path, httpmock.NewStringResponder(408, "<html><body>408 Request Time-out</body></html>"))
		tgt, in := target(TargetManagedBlock), []ioc.Indicator{{Type: ioc.TypeURL, Value: "https://evil.example/dl"}, {Type: ioc.TypeDomain, Value: "bad.example"}}
		if path == pathCreateBatch {
			tgt, in = target(TargetBlock), []ioc.Indicator{{Type: ioc.TypeSHA256, Value: "5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8"}}
		}
		res, err := p.Push(t.Context(), tgt, in)
		require.Error(t, err, path)
		require.Len(t, res.Rejected, len(in), path)
		for _, r := range res.Rejected {
			assert.True(t, r.Retryable, "%s: %s", path, r.Value)
		}
	}
}
