package netskopetest

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestValidateURLListEntry(t *testing.T) {
	t.Parallel()
	tests := []struct {
		typ, value, reason string // reason "" = accepted; else a substring of the reason
	}{
		{"exact", "example.com", ""},
		{"exact", "http://example.com/a/b?c=d#e", ""},
		{"exact", "HTTPS://Example.COM:8443/x", ""},
		{"exact", "*.example.com", ""},
		{"exact", "*.example.com/path", ""},
		{"exact", "under_score.example.com", ""},
		{"exact", "192.0.2.7", ""},
		{"exact", "10.0.0.0/8", ""},
		{"exact", "192.0.2.1-192.0.2.20", ""},
		{"exact", "", "empty value"},
		{"exact", "a b", "spaces"},
		{"exact", "tab\t.example.com", "spaces"},
		{"exact", "bücher.de", "non-ASCII"},
		{"exact", "://example.com", "malformed scheme"},
		{"exact", "ht tp://example.com", "spaces"},
		{"exact", "h_t://example.com", "malformed scheme"},
		{"exact", "10.0.0.1/8", "host bits must be zero (10.0.0.0/8)"},
		{"exact", "2001:db8::/32", "IPv6"},
		{"exact", "[::1]:443", "IPv6"},
		{"exact", "::1", "IPv6"},
		{"exact", "192.0.2.9-192.0.2.1", "range start is after its end"},
		{"exact", "192.0.2.1-2001:db8::1", "IPv6"},
		{"exact", "u:p@example.com", "credentials"},
		{"exact", "example.com:99999", "invalid port"},
		{"exact", "example.com:abc", "invalid port"},
		{"exact", "example.com:", "invalid port"},
		{"exact", ":80", "missing host"},
		{"exact", "/path", "missing host"},
		{"exact", "ex*ample.com", "wildcard"},
		{"exact", "example.com/*", "wildcard"},
		{"exact", "*.*.example.com", "wildcard"},
		{"exact", "1.2.3.256", "invalid IPv4"},
		{"exact", "1.2.3", "invalid IPv4"},
		{"exact", "a..example.com", "empty label"},
		{"exact", "example.com.", "empty label"},
		{"exact", strings.Repeat("a", 64) + ".com", "longer than 63"},
		{"exact", strings.Repeat("a.", 127) + "com", "longer than 253"},
		{"exact", "bad-.example.com", "starts or ends with '-'"},
		{"exact", "ex!ample.com", "invalid character"},
		{"exact", strings.Repeat("a", 4097), "longer than 4096"},
		{"regex", `^https?://(www\.)?example\.com/.*$`, ""},
		{"regex", `(?<=a)b`, "invalid regular expression"},
		{"regex", `(`, "invalid regular expression"},
	}
	for _, tc := range tests {
		got := validateURLListEntry(tc.typ, tc.value)
		if tc.reason == "" {
			assert.Empty(t, got, "%s %q", tc.typ, tc.value)
		} else {
			assert.Contains(t, got, tc.reason, "%s %q", tc.typ, tc.value)
		}
	}
}

func FuzzValidateURLListEntry(f *testing.F) {
	for _, s := range []string{"example.com", "*.example.com", "http://u:p@example.com:80/x", "10.0.0.0/8",
		"192.0.2.1-192.0.2.2", "[::1]", "bücher.de", "a b", "1.2.3.4:0", "*", "-", "a-b", ""} {
		f.Add("exact", s)
	}
	f.Add("regex", `^a(b|c)*$`)
	f.Fuzz(func(t *testing.T, typ, v string) {
		reason := validateURLListEntry(typ, v)
		if reason != "" || typ == "regex" {
			return
		}
		// What an exact list accepts is printable ASCII without spaces, has a host and
		// at most one leading wildcard.
		for i := 0; i < len(v); i++ {
			if v[i] <= ' ' || v[i] >= 0x7f {
				t.Fatalf("accepted %q with byte %#x", v, v[i])
			}
		}
		rest := v
		if _, after, ok := strings.Cut(rest, "://"); ok {
			rest = after
		}
		host := rest
		if i := strings.IndexAny(host, "/?#"); i >= 0 {
			host = host[:i]
		}
		if strings.Count(v, "*") > 1 || strings.Contains(host, "@") || host == "" {
			t.Fatalf("accepted %q", v)
		}
	})
}

// serve runs one request through the server's handler without a network.
func serve(s *Server, req *http.Request) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	s.serveHTTP(w, req)
	return w
}

func FuzzUpdateFileHashList(f *testing.F) {
	s := New(WithFileHashList("L"), WithV1RateLimit(0, time.Second), WithV1Token("tok"), WithAlerts(KindMalware, 0), WithAlerts(KindMalsite, 0))
	f.Cleanup(s.Close)
	h64 := strings.Repeat("a", 64)
	f.Add("POST", "", "application/json", `{"token":"tok","name":"L","list":"`+h64+`"}`)
	f.Add("GET", "token=tok&name=L&list="+h64, "", "")
	f.Add("PUT", "name=L&list="+h64, "application/json", `{"token":"tok"}`)
	f.Add("POST", "", "application/x-www-form-urlencoded", "token=tok&name=L&list="+h64+","+h64[:32])
	f.Add("PATCH", "token=tok", "application/json", `{"name":"L","list":["x"]}`)
	f.Add("POST", "", "multipart/form-data; boundary=B", "--B\r\nContent-Disposition: form-data; name=\"token\"\r\n\r\ntok\r\n--B--\r\n")
	f.Add("POST", "", "text/plain", "{")
	f.Fuzz(func(t *testing.T, method, query, ct, body string) {
		if method == "" || strings.ContainsAny(method, " \t\r\n()<>@,;:\\\"/[]?={}") {
			return
		}
		req := httptest.NewRequest(http.MethodGet, "http://tenant"+PathUpdateFileHashList, strings.NewReader(body))
		req.Method = method
		req.URL.RawQuery = query
		if ct != "" {
			req.Header.Set("Content-Type", ct)
		}
		before := s.FileHashList("L")
		w := serve(s, req)
		var env struct {
			Status string   `json:"status"`
			Errors []string `json:"errors"`
		}
		require.NoError(t, json.Unmarshal(w.Body.Bytes(), &env), "body %q", w.Body.String())
		switch w.Code {
		case 200, 403, 405, 409, 413:
		default:
			t.Fatalf("status %d", w.Code)
		}
		after := s.FileHashList("L")
		if env.Status == "success" {
			require.Equal(t, 200, w.Code)
			for _, e := range after {
				require.True(t, isHex(e) && (len(e) == 32 || len(e) == 64), "stored %q", e)
			}
			return
		}
		require.Equal(t, "error", env.Status)
		require.NotEmpty(t, env.Errors)
		require.Equal(t, before, after, "a refused update changed the list")
		for _, e := range env.Errors {
			require.NotContains(t, e, "tok\"", "error echoes the token")
		}
	})
}

func FuzzDataExportQuery(f *testing.F) {
	s := New(WithAlerts(KindMalware, 30), WithPageSize(7), WithV2Token("v2tok"), WithV2RateLimit(1<<30))
	f.Cleanup(s.Close)
	for _, q := range []string{"index=a&operation=head", "index=a&operation=next", "index=a&operation=resend",
		"index=b&operation=tail", "index=c&operation=1716200000", "index=&operation=head", "operation=-1&index=x",
		"index=a&operation=99999999999999999999"} {
		f.Add("malware", q)
	}
	f.Add("malsite", "index=a&operation=head")
	f.Add("virus", "index=a&operation=head")
	f.Fuzz(func(t *testing.T, kind, query string) {
		if strings.ContainsAny(kind, "/?#%") {
			return
		}
		req := httptest.NewRequest(http.MethodGet, "http://tenant/", nil)
		req.URL = &url.URL{Path: PathDataExportAlerts + kind, RawQuery: query}
		req.Header.Set(HeaderV2Token, "v2tok")
		w := serve(s, req)
		switch w.Code {
		case 200:
			var p struct {
				OK     *int              `json:"ok"`
				Result []json.RawMessage `json:"result"`
				HWM    *int64            `json:"timestamp_hwm"`
				Wait   *int              `json:"wait_time"`
			}
			require.NoError(t, json.Unmarshal(w.Body.Bytes(), &p))
			require.NotNil(t, p.OK)
			require.Equal(t, 1, *p.OK)
			require.NotNil(t, p.HWM)
			require.NotNil(t, p.Wait)
			require.NotNil(t, p.Result)
			require.LessOrEqual(t, len(p.Result), 7)
		case 400, 404:
			var m map[string]string
			require.NoError(t, json.Unmarshal(w.Body.Bytes(), &m))
			require.NotEmpty(t, m["message"])
		default:
			t.Fatalf("status %d: %s", w.Code, w.Body)
		}
	})
}
