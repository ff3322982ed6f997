package netskope

import (
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/jarcoal/httpmock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ctexchange/cte"
	"github.com/ctexchange/cte/ioc"
	"github.com/ctexchange/cte/netskope/netskopetest"
)

// A tenant (or something posing as it) that redirects to another host must not get
// a token sent there: net/http follows redirects and the token is added under the
// client, so the redirected request would carry the v2 header (or the v1 body of a
// 307) to the other host.
func TestRedirectToAnotherHostCarriesNoToken(t *testing.T) {
	t.Parallel()
	cl, mt := mockClient(t)
	redirect := func(status int, to string) httpmock.Responder {
		return func(*http.Request) (*http.Response, error) {
			resp := httpmock.NewStringResponse(status, "")
			resp.Header.Set("Location", to)
			return resp, nil
		}
	}
	mt.RegisterResponder("GET", mockTenant+"/api/v2/policy/urllist", redirect(302, "https://elsewhere.example/api/v2/policy/urllist"))
	mt.RegisterResponder("POST", mockTenant+"/api/v1/updateFileHashList", redirect(307, "https://elsewhere.example/api/v1/updateFileHashList"))
	var mu sync.Mutex
	var leaked []string
	record := func(r *http.Request) (*http.Response, error) {
		var b []byte
		if r.Body != nil {
			b, _ = io.ReadAll(r.Body)
		}
		mu.Lock()
		leaked = append(leaked, r.Header.Get("Netskope-Api-Token")+" "+string(b))
		mu.Unlock()
		return httpmock.NewStringResponse(200, `[]`), nil
	}
	mt.RegisterResponder("GET", "https://elsewhere.example/api/v2/policy/urllist", record)
	mt.RegisterResponder("POST", "https://elsewhere.example/api/v1/updateFileHashList", record)

	_, err := cl.URLLists(t.Context())
	require.Error(t, err, "a redirect to another host is not followed")
	assert.Contains(t, err.Error(), "tenant_url")
	_, err = cl.UpdateFileHashList(t.Context(), "L", []string{shaA})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "tenant_url")

	mu.Lock()
	defer mu.Unlock()
	for _, l := range leaked {
		assert.NotContains(t, l, mockV2)
		assert.NotContains(t, l, mockV1)
	}
	assert.Empty(t, strings.Join(leaked, ""), "nothing reached the other host")
}

// A retraction whose deploy failed is staged, not in force: the values stay
// retryable, and retracting them again deploys the staged removal, even though the
// list no longer holds them.
func TestRetractURLListDeployFailure(t *testing.T) {
	t.Parallel()
	s := urlServer(t)
	p := newPlugin(t, s, nil)
	tgt := cte.Target{ID: "url-list/CE_Malsites"}
	in := []ioc.Indicator{{Type: ioc.TypeDomain, Value: "old.example.com"}, {Type: ioc.TypeDomain, Value: "never.example.com"}}
	s.FailStatus(netskopetest.PathURLListDeploy, 1, 409, `{"statusCode":409,"message":"non-interactive operation on pending profile is not allowed"}`)
	res, err := p.Retract(t.Context(), tgt, in)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "staged but not deployed")
	assert.Zero(t, res.Applied+res.Unchanged, "nothing is in force")
	require.Len(t, res.Rejected, 2)
	for _, r := range res.Rejected {
		assert.True(t, r.Retryable, r.Value)
	}
	l, _ := s.URLListByName("CE_Malsites")
	require.Contains(t, l.Deployed, "old.example.com", "still blocking in the tenant")

	res, err = p.Retract(t.Context(), tgt, in)
	require.NoError(t, err)
	assert.Equal(t, cte.PushResult{Unchanged: 2}, res)
	l, _ = s.URLListByName("CE_Malsites")
	assert.NotContains(t, l.Deployed, "old.example.com", "the staged removal was deployed")
}

// A 409 from the Data Export iterator (index conflict) is not a pending URL-list
// change: the pull error must not send the admin to deploy URL lists, and Validate
// still takes it as "token accepted" (as the Tenant plugin does).
func TestDataExport409IsNotPendingURLLists(t *testing.T) {
	t.Parallel()
	s := fixedServer(t)
	p := newPlugin(t, s, func(c *Config) { c.AlertTypes = []string{AlertMalware} })
	s.FailStatus(netskopetest.PathDataExportAlerts, 1, 409, `{"message":"index is in use"}`)
	r := pull(t.Context(), p, nil, 0)
	require.Error(t, r.err)
	assert.NotErrorIs(t, r.err, ErrPendingChanges)
	assert.NotContains(t, r.err.Error(), "URL Lists")
	assert.Contains(t, r.err.Error(), "index is in use")

	s.FailStatus(netskopetest.PathDataExportAlerts, 1, 409, `{"message":"index is in use"}`)
	require.NoError(t, p.Validate(t.Context()))
}
