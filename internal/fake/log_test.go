package fake_test

import (
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/ctexchange/cte/internal/fake"
)

func TestLogUnbounded(t *testing.T) {
	t.Parallel()
	l := fake.NewLog[int](0)
	assert.Empty(t, l.All())
	for i := range 5 {
		l.Add(i)
	}
	got := l.All()
	assert.Equal(t, []int{0, 1, 2, 3, 4}, got)
	got[0] = 99
	assert.Equal(t, 0, l.All()[0], "All returns a copy")
	l.Clear()
	assert.Empty(t, l.All())
	l.Add(7)
	assert.Equal(t, []int{7}, l.All())
}

func TestLogBounded(t *testing.T) {
	t.Parallel()
	l := fake.NewLog[int](3)
	for i := range 5 {
		l.Add(i)
	}
	assert.Equal(t, []int{2, 3, 4}, l.All(), "the oldest records go first")
	l.Add(5)
	assert.Equal(t, []int{3, 4, 5}, l.All())
}

func TestLogConcurrent(t *testing.T) {
	t.Parallel()
	l := fake.NewLog[int](0)
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := range 100 {
				l.Add(w*100 + i)
				_ = l.All()
			}
		})
	}
	wg.Wait()
	assert.Len(t, l.All(), 800)
}
