package console_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ctexchange/cte/console"
	"github.com/ctexchange/cte/internal/browsertest"
)

// TestLogPollsShowAnEntryOnce has the page poll the audit log twice at once,
// as its timer did whenever an answer took longer than its 3 s, while the
// answers are held: the one new entry shows in one row. Both polls asked
// for the entries after the same seq, and each answer was shown.
func TestLogPollsShowAnEntryOnce(t *testing.T) {
	w := newWorld(t, console.Options{})
	gate := make(chan struct{})
	var once sync.Once
	arrived := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/api/v1/logs") {
			once.Do(func() { close(arrived) })
			<-gate
		}
		w.con.ServeHTTP(rw, r)
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() {
		select {
		case <-gate:
		default:
			close(gate)
		}
	})
	ctx := browsertest.New(t)
	// the console answers a loopback Host only: localhost, not 127.0.0.1's name
	url := "http://localhost:" + srv.Listener.Addr().String()[strings.LastIndexByte(srv.Listener.Addr().String(), ':')+1:] + "/"
	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(url), chromedp.WaitVisible(`#logrows`)))
	_, err := w.eng.Tag(t.Context(), []string{hash("ns", 0)}, []string{"unique-tag-42"})
	require.NoError(t, err)
	type answer struct {
		n   int
		err error
	}
	got := make(chan answer, 1)
	go func() {
		n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`(async () => {
			await Promise.all([logs.poll(), logs.poll()]);
			while (logs.busy) await new Promise((r) => setTimeout(r, 20)); // a poll of the page's timer
			return Array.from(document.querySelectorAll("#logrows tr")).filter((tr) => tr.textContent.includes("unique-tag-42")).length;
		})()`, chromedp.EvalAwaitPromise))
		got <- answer{n, err}
	}()
	<-arrived
	close(gate)
	a := <-got
	require.NoError(t, a.err)
	assert.Equal(t, 1, a.n, "one audit entry, one row")
}
