package mimecasttest_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/ctexchange/cte/mimecast/mimecasttest"
)

// BenchmarkNew measures starting a fake with demo-sized data.
func BenchmarkNew(b *testing.B) {
	for b.Loop() {
		s := mimecasttest.New(mimecasttest.WithFeed(mimecasttest.FeedMalwareGrid, 10000), mimecasttest.WithClickLogs(1000))
		s.Close()
	}
}

// BenchmarkFeedPull pulls a 10,000-row feed, 500 rows a page, over HTTP.
func BenchmarkFeedPull(b *testing.B) {
	s := mimecasttest.New(mimecasttest.WithFeed(mimecasttest.FeedMalwareGrid, 10000))
	defer s.Close()
	c := s.Credentials()
	form := "grant_type=client_credentials&client_id=" + c.ClientID + "&client_secret=" + c.ClientSecret
	resp, err := s.Client().Post(s.URL+mimecasttest.PathToken, "application/x-www-form-urlencoded", strings.NewReader(form))
	if err != nil {
		b.Fatal(err)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	decodeJSON(b, resp, &tok)
	rows := 0
	for b.Loop() {
		next := ""
		for {
			body := `{"data":[{"feedType":"malware_grid","start":"2000-01-01T00:00:00Z"}]}`
			if next != "" {
				body = fmt.Sprintf(`{"data":[{"token":%q}]}`, next)
			}
			req, _ := http.NewRequest(http.MethodPost, s.URL+mimecasttest.PathGetFeed, strings.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
			resp, err := s.Client().Do(req)
			if err != nil {
				b.Fatal(err)
			}
			n := countLines(b, resp)
			rows += n - 1
			next = resp.Header.Get(mimecasttest.NextTokenHeader)
			if next == "" {
				break
			}
		}
	}
	b.ReportMetric(float64(rows)/b.Elapsed().Seconds(), "rows/s")
}
