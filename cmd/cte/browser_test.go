package main

import (
	"context"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/ctexchange/cte/internal/browsertest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The console in a real browser: Debian's chromium driven by chromedp,
// headless, against "cte run --listen 127.0.0.1:0" on the in-process fakes.
// Screenshots go to $CTE_ARTIFACTS/browser (or the test's temp dir); the test
// log names them.

func artifacts(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("CTE_ARTIFACTS")
	if dir == "" {
		dir = t.TempDir()
	}
	dir = filepath.Join(dir, "browser")
	require.NoError(t, os.MkdirAll(dir, 0o755))
	return dir
}

// shot writes a full-page screenshot.
func shot(t *testing.T, ctx context.Context, dir, name string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	require.NoError(t, err)
	path := filepath.Join(dir, name)
	require.NoError(t, os.WriteFile(path, png, 0o644))
	t.Logf("screenshot %s", path)
}

// text returns the text of the first element sel selects.
func text(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
	require.NoError(t, err, sel)
	return s
}

func TestConsoleInBrowser(t *testing.T) {
	t.Parallel()
	f := newFakes(t, fakeConfig)
	d := startDaemon(t, f)
	waitShared(t, d)
	dir := artifacts(t)
	ctx := browsertest.New(t)
	css := func(s string) chromedp.CSS { return chromedp.CSS(s) }

	// The page shows both sharing configurations.
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Navigate(d.url+"/"),
		chromedp.WaitVisible(css("#sharing tbody tr")),
	))
	sharingText := text(t, ctx, "#sharing tbody")
	assert.Contains(t, sharingText, "mimecast-to-netskope")
	assert.Contains(t, sharingText, "netskope-to-mimecast")
	shot(t, ctx, dir, "01-overview.png")

	// Filter the indicators, then open one's detail.
	require.NoError(t, chromedp.Do(ctx,
		chromedp.SetValue(css(`#filter input[name="q"]`), "source == netskope"),
		chromedp.Submit(css(`#filter`)),
		chromedp.WaitVisible(css(`#iocs tbody tr[data-value]`)),
	))
	rows, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll("#iocs tbody tr[data-value] td:nth-child(6)")).map(td => td.textContent)`))
	require.NoError(t, err)
	require.NotEmpty(t, rows)
	for _, r := range rows {
		assert.Contains(t, r, "netskope", "only netskope's indicators")
	}
	q, err := chromedp.Run(ctx, chromedp.Evaluate[string](`location.search`))
	require.NoError(t, err)
	assert.Contains(t, q, "source+%3D%3D+netskope")
	shot(t, ctx, dir, "02-filtered.png")
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Click(css(`#iocs tbody tr[data-value] a.value`)),
		chromedp.WaitVisible(css(`#detail h3`)),
	))
	q, err = chromedp.Run(ctx, chromedp.Evaluate[string](`location.search`))
	require.NoError(t, err)
	assert.Contains(t, q, "q=source", "the detail keeps the filter")
	detail := text(t, ctx, "#detail")
	assert.Contains(t, detail, "Sharing decisions")
	assert.Contains(t, detail, "netskope-to-mimecast")
	shot(t, ctx, dir, "03-detail.png")

	// Test shows the counts of the dry run.
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Click(css(`button[data-act="test"][data-name="netskope-to-mimecast"]`)),
		chromedp.WaitVisible(css(`tr[data-result="netskope-to-mimecast"]`)),
	))
	plan := text(t, ctx, `tr[data-result="netskope-to-mimecast"]`)
	assert.Regexp(t, `Test: matched \d+ \(\d+ md5, \d+ sha256\) · new 0 · changed 0 · unchanged \d+`, plan)
	shot(t, ctx, dir, "04-test.png")

	// Mark safe one hash of each direction: Mimecast gets a DELETE, the
	// Netskope list loses the other.
	var fromNS string
	for h := range f.mc.Hashes() {
		fromNS = h
		break
	}
	var fromMC string
	for _, h := range f.ns.FileHashList("CE_Malware_Hashes") {
		if h != strings.Repeat("f", 64) {
			fromMC = h
			break
		}
	}
	require.NotEmpty(t, fromNS)
	require.NotEmpty(t, fromMC)
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Navigate(d.url+"/?q="+url.QueryEscape("value == "+fromNS+" or value == "+fromMC)+"#indicators"),
		chromedp.WaitVisible(css(`input.pick[value="`+fromNS+`"]`)),
		chromedp.Click(css(`#all`)),
		chromedp.Click(css(`button[data-act="mark-safe"]`)),
		chromedp.WaitVisible(css(`#ask input[name="reason"]`)),
		chromedp.SendKeys(css(`#ask input[name="reason"]`), "vendor confirmed benign"),
		chromedp.Click(css(`#ask-ok`)),
		chromedp.WaitVisible(css(`#toast.show`)),
	))
	toast := text(t, ctx, "#toast")
	assert.Contains(t, toast, "mark-safe: 2 value(s)")
	assert.Contains(t, toast, "netskope-to-mimecast: 0 applied, 1 retracted")
	shot(t, ctx, dir, "05-mark-safe.png")
	assert.NotContains(t, f.mc.Hashes(), fromNS)
	assert.True(t, deleted(f, fromNS), "the Mimecast fake got the DELETE")
	assert.NotContains(t, f.ns.FileHashList("CE_Malware_Hashes"), fromMC, "the Netskope list no longer holds it")

	// After the page reloads the rows say safe, and the audit log has the mark.
	require.NoError(t, chromedp.Do(ctx, chromedp.WaitVisible(css(`#iocs tr.marked`))))
	assert.Equal(t, 2, strings.Count(text(t, ctx, "#iocs tbody"), "safe"))
	assert.Contains(t, text(t, ctx, "#logrows"), "marked 2 value(s) safe")
	shot(t, ctx, dir, "06-after-mark-safe.png")

	// The audit log is live: an action taken from the command line appears
	// without a reload, with its details.
	code, _, errs := f.cte(t, "iocs", "tag", fromNS, "--tags", "live-check")
	require.Equal(t, exitOK, code, errs)
	_, err = chromedp.Run(ctx, chromedp.Poll[bool](`document.querySelector("#logrows").textContent.includes("live-check")`))
	require.NoError(t, err, "the tag's audit entry reaches the page")
	kv, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector("#logrows tr:first-child .kv").textContent`))
	require.NoError(t, err)
	assert.Contains(t, kv, "tags live-check")
	assert.Contains(t, kv, "values "+fromNS)
	shot(t, ctx, dir, "07-live-log.png")
}
