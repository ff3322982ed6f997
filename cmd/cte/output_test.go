package main

import (
	"bytes"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestScrubWriter(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	set := &secretSet{}
	set.set([]string{"hunter22"})
	w := scrubWriter{w: &buf, secrets: set, mu: new(sync.Mutex)}
	n, err := w.Write([]byte("token=hunter22 ok"))
	require.NoError(t, err)
	assert.Equal(t, 17, n)
	assert.Equal(t, "token=[redacted] ok", buf.String())
}

// The engine and the plugins log from their own goroutines: run must serialise
// what reaches a writer that is not safe for concurrent use (run with -race).
func TestOutputWritesAreSerialised(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer // not safe for concurrent use
	var mu sync.Mutex
	set := &secretSet{}
	out := scrubWriter{w: &buf, secrets: set, mu: &mu}
	errw := scrubWriter{w: &buf, secrets: set, mu: &mu}
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w := out
			if i%2 == 1 {
				w = errw
			}
			for range 100 {
				_, _ = w.Write([]byte("line\n"))
			}
		}()
	}
	wg.Wait()
	assert.Equal(t, 800, strings.Count(buf.String(), "line\n"))
}
