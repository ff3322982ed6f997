package main

import (
	"bytes"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
)

// screen replays what a terminal shows for the escape sequences the terminal
// type writes: \r goes to the line start, ESC[K clears to its end.
func screen(raw string) []string {
	var lines []string
	cur := ""
	for i := 0; i < len(raw); i++ {
		switch {
		case raw[i] == '\n':
			lines = append(lines, cur)
			cur = ""
		case raw[i] == '\r':
			if strings.HasPrefix(raw[i+1:], "\033[K") {
				i += 3
			}
			cur = ""
		default:
			cur += raw[i : i+1]
		}
	}
	if cur != "" {
		lines = append(lines, cur)
	}
	return lines
}

// A log line written while a progress line shows goes above it, and the
// progress line comes back below (it used to be appended to the progress line).
func TestTerminalLogLineAboveProgress(t *testing.T) {
	t.Parallel()
	var w bytes.Buffer
	term := newTerminal(&w)
	term.status("pull a", "a: page 1, 100 indicators")
	_, _ = term.Write([]byte("level=WARN msg=\"rate limited\"\n"))
	assert.Equal(t, []string{`level=WARN msg="rate limited"`, "a: page 1, 100 indicators"}, screen(w.String()))
	term.done("pull a", "a: pulled 1 page, 100 indicators")
	assert.Equal(t, []string{`level=WARN msg="rate limited"`, "a: pulled 1 page, 100 indicators"}, screen(w.String()))
}

// Two sources pulling at once share the status line instead of overwriting
// each other's.
func TestTerminalTwoSourcesShareTheStatusLine(t *testing.T) {
	t.Parallel()
	var w bytes.Buffer
	term := newTerminal(&w)
	term.status("pull a", "a: page 1")
	term.status("pull b", "b: page 1")
	term.status("pull a", "a: page 2")
	assert.Equal(t, []string{"a: page 2 | b: page 1"}, screen(w.String()))
	term.done("pull a", "a: pulled 2 pages")
	assert.Equal(t, []string{"a: pulled 2 pages", "b: page 1"}, screen(w.String()))
	term.done("pull b", "")
	assert.Empty(t, screen(w.String())[1:], "nothing left on the status line")
}

// stdout on the same screen also goes above the status line.
func TestTerminalOtherStream(t *testing.T) {
	t.Parallel()
	var screenBuf bytes.Buffer
	term := newTerminal(&screenBuf)
	out := term.writer(&screenBuf)
	term.status("k", "working")
	fmt.Fprintln(out, "result")
	assert.Equal(t, []string{"result", "working"}, screen(screenBuf.String()))
}

func TestTerminalConcurrentWrites(t *testing.T) {
	t.Parallel()
	var w bytes.Buffer
	term := newTerminal(&w)
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Go(func() {
			for j := range 50 {
				term.status(fmt.Sprint(i), fmt.Sprintf("%d:%d", i, j))
				_, _ = term.Write([]byte("log\n"))
			}
			term.done(fmt.Sprint(i), "")
		})
	}
	wg.Wait()
	lines := screen(w.String())
	assert.Len(t, lines, 200)
	for _, l := range lines {
		assert.Equal(t, "log", l)
	}
}
