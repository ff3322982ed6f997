package main

import (
	"bytes"
	"encoding/json"
	"io"
	"os"
	"sync"
)

// isTerminal reports whether w is a character device (a terminal).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// secretSet is the configured secrets, shared by the scrubbing writers.
type secretSet struct {
	mu  sync.RWMutex
	all [][]byte
}

func (s *secretSet) set(secrets []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.all = s.all[:0]
	for _, v := range secrets {
		s.all = append(s.all, []byte(v))
		// as --json writes it: encoding/json escapes ", \, <, >, & and
		// control characters, so "a&b" is written a\u0026b
		if j, err := json.Marshal(v); err == nil && string(j[1:len(j)-1]) != v {
			s.all = append(s.all, j[1:len(j)-1])
		}
	}
}

// scrubWriter replaces configured secrets with [redacted] in everything written,
// a second line of defence behind cte.Secret: no output of cte carries a secret
// from the configuration. Writes are serialised through mu (shared by stdout and
// stderr), because the engine and each plugin log from their own goroutines and
// the writer given to run need not be safe for concurrent use.
type scrubWriter struct {
	w       io.Writer
	secrets *secretSet
	mu      *sync.Mutex
}

func (s scrubWriter) Write(p []byte) (int, error) {
	s.secrets.mu.RLock()
	out := p
	for _, sec := range s.secrets.all {
		if bytes.Contains(out, sec) {
			out = bytes.ReplaceAll(out, sec, []byte("[redacted]"))
		}
	}
	s.secrets.mu.RUnlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := s.w.Write(out); err != nil {
		return 0, err
	}
	return len(p), nil
}
