package main

import (
	"io"
	"strings"
	"sync"
)

// terminal is the one writer of a terminal. It keeps a status line at the
// bottom, one part per key (a source pulling, a destination receiving), e.g.
//
//	mimecast: page 3, 300 indicators, 120 indicators/s | netskope: sending 500 indicators to operation/BLOCK…
//
// Every other write (log lines, messages, results) first erases that line, then
// draws it again below what was written, so lines never collide and two
// sources never overwrite each other's progress.
type terminal struct {
	mu    sync.Mutex
	w     io.Writer
	keys  []string // in the order they appeared
	parts map[string]string
	shown bool // a status line is on the screen
}

func newTerminal(w io.Writer) *terminal {
	return &terminal{w: w, parts: map[string]string{}}
}

// Write writes p above the status line.
func (t *terminal) Write(p []byte) (int, error) {
	return t.writeTo(t.w, p)
}

// writer returns a writer for another stream on the same screen (stdout when
// both are the terminal): its writes also go above the status line.
func (t *terminal) writer(w io.Writer) io.Writer {
	return writerFunc(func(p []byte) (int, error) { return t.writeTo(w, p) })
}

func (t *terminal) writeTo(w io.Writer, p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.erase()
	n, err := w.Write(p)
	t.draw()
	return n, err
}

// status sets the status part of key; an empty text removes it.
func (t *terminal) status(key, text string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if text == "" {
		delete(t.parts, key)
		if i := indexOf(t.keys, key); i >= 0 {
			t.keys = append(t.keys[:i], t.keys[i+1:]...)
		}
	} else {
		if _, ok := t.parts[key]; !ok {
			t.keys = append(t.keys, key)
		}
		t.parts[key] = text
	}
	t.erase()
	t.draw()
}

// done removes the status part of key and writes line (when not empty) above
// the status line, as a lasting record of what key did.
func (t *terminal) done(key, line string) {
	t.status(key, "")
	if line != "" {
		_, _ = t.Write([]byte(line + "\n"))
	}
}

// erase clears the status line; t.mu is held.
func (t *terminal) erase() {
	if t.shown {
		_, _ = io.WriteString(t.w, "\r\033[K")
		t.shown = false
	}
}

// draw writes the status line; t.mu is held.
func (t *terminal) draw() {
	if len(t.keys) == 0 {
		return
	}
	parts := make([]string, len(t.keys))
	for i, k := range t.keys {
		parts[i] = t.parts[k]
	}
	_, _ = io.WriteString(t.w, strings.Join(parts, " | "))
	t.shown = true
}

func indexOf(s []string, v string) int {
	for i, x := range s {
		if x == v {
			return i
		}
	}
	return -1
}

// writerFunc is a function as an io.Writer.
type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
