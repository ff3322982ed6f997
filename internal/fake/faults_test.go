package fake_test

import (
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ctexchange/cte/internal/fake"
)

func TestMatchPath(t *testing.T) {
	t.Parallel()
	tests := []struct {
		pattern, path string
		want          bool
	}{
		{"", "/api/x", true},
		{"", "/", true},
		{"/", "/oauth/token", true},
		{"/api/", "/api/x", true},
		{"/api/", "/api/x/y", true},
		{"/api/", "/api/", true},
		{"/api/", "/api", false},
		{"/api/", "/oauth/token", false},
		{"/api/", "/apix/y", false},
		{"/api/x", "/api/x", true},
		{"/api/x", "/api/x/", false},
		{"/api/x", "/api/xy", false},
		{"/api/x", "/api", false},
		{"/api/x", "/API/x", false},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, fake.MatchPath(tt.pattern, tt.path), "MatchPath(%q, %q)", tt.pattern, tt.path)
	}
}

// take drains the faults answering path until none is left, in order.
func take(q *fake.Queue[string], path string) []string {
	var got []string
	for {
		f, ok := q.Take(path)
		if !ok {
			return got
		}
		got = append(got, f)
	}
}

func TestQueueOrderAndCounts(t *testing.T) {
	t.Parallel()
	q := fake.NewQueue[string]("pkgtest")
	assert.Equal(t, 0, q.Pending())
	q.Add("RateLimit", "/a", 2, "429")
	q.Add("ServerError", "/a", 1, "503")
	assert.Equal(t, 3, q.Pending())

	f, ok := q.Take("/b")
	assert.False(t, ok, "no fault for /b")
	assert.Empty(t, f)
	assert.Equal(t, 3, q.Pending(), "a miss consumes nothing")

	assert.Equal(t, []string{"429", "429", "503"}, take(q, "/a"))
	assert.Equal(t, 0, q.Pending())
}

func TestQueueFirstMatchWins(t *testing.T) {
	t.Parallel()
	q := fake.NewQueue[string]("pkgtest")
	q.Add("K", "/a", 1, "a-only")
	q.Add("K", "/", 2, "any")
	q.Add("K", "/b", 1, "b-only")

	// /b skips the /a fault and takes the catch-all, queued before the /b one.
	f, ok := q.Take("/b")
	require.True(t, ok)
	assert.Equal(t, "any", f)
	assert.Equal(t, 3, q.Pending())

	assert.Equal(t, []string{"a-only", "any"}, take(q, "/a"))
	assert.Equal(t, []string{"b-only"}, take(q, "/b"))
	assert.Equal(t, 0, q.Pending())
}

func TestQueueTakeReturnsCopies(t *testing.T) {
	t.Parallel()
	type fault struct{ status int }
	q := fake.NewQueue[fault]("pkgtest")
	q.Add("K", "/a", 2, fault{status: 500})
	f, ok := q.Take("/a")
	require.True(t, ok)
	f.status = 200
	f, ok = q.Take("/a")
	require.True(t, ok)
	assert.Equal(t, 500, f.status, "changing a taken fault must not change the queued one")
}

func TestQueueAddPanicsOnCount(t *testing.T) {
	t.Parallel()
	q := fake.NewQueue[string]("pkgtest")
	assert.PanicsWithValue(t, `pkgtest: Stall("/a", 0): n must be at least 1`, func() { q.Add("Stall", "/a", 0, "x") })
	assert.PanicsWithValue(t, `pkgtest: Delay("", -3): n must be at least 1`, func() { q.Add("Delay", "", -3, "x") })
	assert.Equal(t, 0, q.Pending(), "a refused fault is not queued")
}

func TestQueueConcurrent(t *testing.T) {
	t.Parallel()
	q := fake.NewQueue[int]("pkgtest")
	const workers, each = 8, 50
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for range each {
				q.Add("K", "/", 1, w)
			}
		})
	}
	wg.Wait()
	require.Equal(t, workers*each, q.Pending())
	var mu sync.Mutex
	taken := 0
	for range workers {
		wg.Go(func() {
			for {
				if _, ok := q.Take("/x"); !ok {
					return
				}
				mu.Lock()
				taken++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	assert.Equal(t, workers*each, taken, "every queued use is taken exactly once")
	assert.Equal(t, 0, q.Pending())
}
