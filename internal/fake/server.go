package fake

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"
)

// Server is a fake's listener: an HTTP/1.1 server on 127.0.0.1 and the Closing
// channel its held requests watch. It uses net/http only (not httptest), so a
// program that links a fake, such as the cte demo, links no test code.
type Server struct {
	// URL is the base URL, e.g. http://127.0.0.1:41234, without a trailing slash.
	URL string

	srv       *http.Server
	transport *http.Transport
	closing   chan struct{}
	served    chan struct{}
	once      sync.Once
	handlers  sync.WaitGroup // requests being handled, so Abort can wait for them as Close does
}

// Start serves h on 127.0.0.1 over plain HTTP/1.1 (so ResetConn can hijack
// connections). The caller must Close or Abort the server. Start panics when
// it cannot listen, as httptest does.
func Start(h http.Handler) *Server {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(fmt.Sprintf("fake: cannot listen on 127.0.0.1: %v", err))
	}
	s := &Server{
		URL:       "http://" + ln.Addr().String(),
		srv:       &http.Server{ReadHeaderTimeout: time.Minute},
		transport: &http.Transport{DialContext: (&net.Dialer{Timeout: 30 * time.Second}).DialContext, MaxIdleConnsPerHost: 64},
		closing:   make(chan struct{}),
		served:    make(chan struct{}),
	}
	s.srv.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.handlers.Add(1)
		defer s.handlers.Done()
		h.ServeHTTP(w, r)
	})
	go func() {
		defer close(s.served)
		_ = s.srv.Serve(ln) // returns http.ErrServerClosed on Close or Abort
	}()
	return s
}

// Client returns an *http.Client that reaches the server: a client of its own,
// not http.DefaultClient, whose idle connections Close drops.
func (s *Server) Client() *http.Client { return &http.Client{Transport: s.transport} }

// Closing returns a channel that is closed when Close or Abort begins, for
// Gate.Wait.
func (s *Server) Closing() <-chan struct{} { return s.closing }

// Close closes Closing, so held requests return from Gate.Wait, then shuts the
// server down, waiting for the requests in flight to finish. It is idempotent.
func (s *Server) Close() { s.shutdown(false) }

// Abort drops every client connection (requests in flight see their context
// cancelled), then closes like Close. It is idempotent, and Close after Abort
// (or the other way round) does nothing more.
func (s *Server) Abort() { s.shutdown(true) }

func (s *Server) shutdown(drop bool) {
	s.once.Do(func() {
		if drop {
			_ = s.srv.Close() // first, so a freed held request answers no one
			close(s.closing)
		} else {
			close(s.closing)
			_ = s.srv.Shutdown(context.Background())
		}
		<-s.served
		s.handlers.Wait()
		s.transport.CloseIdleConnections()
	})
}

// ResetConn ends the request answered through w with a TCP reset instead of
// an answer: it hijacks the connection, sets SO_LINGER to 0 on a TCP
// connection and closes it. It returns the Hijack error, which wraps
// http.ErrNotSupported when w cannot be hijacked (HTTP/2, a wrapper without
// Unwrap); the caller decides whether that is a bug or an abort.
func ResetConn(w http.ResponseWriter) error {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return err
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = conn.Close()
	return nil
}
