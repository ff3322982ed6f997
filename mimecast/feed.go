package mimecast

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/ctexchange/cte/internal/httpx"
)

// Paths of the endpoints used.
const (
	pathGetAccount     = "/api/account/get-account"
	pathGetFeed        = "/api/ttp/threat-intel/get-feed"
	pathCreateBatch    = "/api/byo-threat-intelligence/create-batch"
	pathGetLogs        = "/api/ttp/url/get-logs"
	pathDecodeURL      = "/api/ttp/url/decode-url"
	pathCreateManaged  = "/api/ttp/url/create-managed-url"
	pathGetAllManaged  = "/api/ttp/url/get-all-managed-urls"
	pathDeleteManaged  = "/api/ttp/url/delete-managed-url"
	headerFeedNextPage = "x-mc-threat-feed-next-token"
)

// FeedRequest asks for one page of the threat-intel hash feed.
type FeedRequest struct {
	FeedType string    // FeedMalwareCustomer or FeedMalwareGrid
	Start    time.Time // sent as UTC RFC 3339
	End      time.Time // sent as UTC RFC 3339; zero omits it
	Token    string    // the previous page's NextToken; empty for the first page
	FileType string    // FileCSV (default) or FileSTIX
}

// FeedPage is one page of the feed, open for reading. Body streams the
// pipe-delimited CSV (with a header line) or the STIX 2.0 bundle; reading more
// than the body limit fails with an error naming it. Close the page when done.
type FeedPage struct {
	Body      io.Reader
	NextToken string // empty on the last page
	RequestID string
	closer    io.Closer
}

// Close closes the answer's body.
func (f *FeedPage) Close() error {
	if f.closer == nil {
		return nil
	}
	return f.closer.Close()
}

type feedBody struct {
	FileType string `json:"fileType"`
	FeedType string `json:"feedType"`
	Start    string `json:"start,omitempty"`
	End      string `json:"end,omitempty"`
	Token    string `json:"token,omitempty"`
}

// timeFormat is how times are sent: explicit UTC RFC 3339.
func timeFormat(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// GetFeed opens one page of the hash feed; the caller reads Body and closes the
// page. A JSON answer (Mimecast's way of failing with HTTP 200) is decoded as an
// envelope and returned as an *Error, never parsed as CSV.
func (c *Client) GetFeed(ctx context.Context, fr FeedRequest) (*FeedPage, error) {
	ft := fr.FileType
	if ft == "" {
		ft = FileCSV
	}
	body := feedBody{FileType: ft, FeedType: fr.FeedType, Start: timeFormat(fr.Start), End: timeFormat(fr.End), Token: fr.Token}
	resp, reqID, err := c.send(ctx, pathGetFeed, request{Data: []any{body}})
	if err != nil {
		return nil, err
	}
	br := bufio.NewReaderSize(httpx.LimitBody(resp.Body, c.feedLimit), 64<<10)
	head, _ := br.Peek(512)
	if !looksJSON(head) {
		return &FeedPage{Body: br, NextToken: strings.TrimSpace(resp.Header.Get(headerFeedNextPage)), RequestID: reqID, closer: resp.Body}, nil
	}
	defer resp.Body.Close()
	b, err := httpx.ReadBody(br, maxJSONBody)
	if err != nil {
		return nil, fmt.Errorf("mimecast %s: read answer: %w", pathGetFeed, err)
	}
	if ft == FileSTIX && isBundle(b) {
		return &FeedPage{Body: bytes.NewReader(b), NextToken: strings.TrimSpace(resp.Header.Get(headerFeedNextPage)), RequestID: reqID}, nil
	}
	env, err := decodeEnvelope(b)
	if err != nil {
		return nil, fmt.Errorf("mimecast %s: %w", pathGetFeed, err)
	}
	if e := envelopeError(pathGetFeed, http.StatusOK, env, reqID); e != nil {
		c.explain(e)
		return nil, e
	}
	// A JSON success without a file: an empty page.
	return &FeedPage{Body: bytes.NewReader(nil), RequestID: reqID}, nil
}

// isBundle reports whether a JSON body is a STIX bundle rather than an envelope.
func isBundle(b []byte) bool {
	var head struct {
		Type string `json:"type"`
	}
	return json.Unmarshal(b, &head) == nil && head.Type == "bundle"
}

// looksJSON reports whether a body starts (after white space and a BOM) with '{'.
func looksJSON(b []byte) bool {
	b = bytes.TrimPrefix(b, []byte("\xef\xbb\xbf"))
	for _, c := range b {
		switch c {
		case ' ', '\t', '\r', '\n':
			continue
		case '{':
			return true
		}
		return false
	}
	return false
}
