package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/ctexchange/cte/console"
)

// runOptions are the flags of "cte run" that serve the console.
type runOptions struct {
	listen, token, tlsCert, tlsKey string
	tls                            *tls.Config // from --tls-cert/--tls-key, loaded before anything is opened
}

func (a *app) runFlags(fs *flag.FlagSet) {
	fs.StringVar(&a.run.listen, "listen", "", "serve the console (web page, JSON API /api/v1/, /healthz, /metrics) on `ADDR`, e.g. 127.0.0.1:8080; none by default")
	fs.StringVar(&a.run.token, "token", "", "bearer `TOKEN` the console requires (default $CTE_API_TOKEN); needed unless ADDR is a loopback address")
	fs.StringVar(&a.run.tlsCert, "tls-cert", "", "serve the console over TLS with this certificate `FILE` (PEM; with --tls-key)")
	fs.StringVar(&a.run.tlsKey, "tls-key", "", "the private key `FILE` of --tls-cert (PEM)")
}

// checkRunFlags checks the console flags before anything is opened.
func (a *app) checkRunFlags() int {
	o := &a.run
	if o.token == "" {
		o.token, _ = a.env("CTE_API_TOKEN")
	}
	if o.listen != "" {
		if _, _, err := net.SplitHostPort(o.listen); err != nil {
			return a.usageErr("run", "--listen %q: give HOST:PORT, e.g. 127.0.0.1:8080", o.listen)
		}
	}
	switch {
	case (o.tlsCert == "") != (o.tlsKey == ""):
		return a.usageErr("run", "--tls-cert and --tls-key go together")
	case o.listen == "" && o.tlsCert != "":
		return a.usageErr("run", "--tls-cert needs --listen ADDR")
	case o.listen != "" && o.token == "" && !console.IsLoopback(o.listen):
		return a.usageErr("run", "--listen %s is not a loopback address: give --token (or CTE_API_TOKEN) so that only you can use the console, or listen on 127.0.0.1", o.listen)
	}
	if o.tlsCert != "" {
		// Loaded now: a file that cannot be read would otherwise leave a
		// daemon running with no console and no word about it.
		pair, err := tls.LoadX509KeyPair(o.tlsCert, o.tlsKey)
		if err != nil {
			return a.usageErr("run", "--tls-cert %s --tls-key %s: %v: give a PEM certificate and its PEM private key", o.tlsCert, o.tlsKey, err)
		}
		o.tls = &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}
	}
	return exitOK
}

// startConsole serves the daemon's socket beside the state file and, with
// --listen, the console on the network. It returns the console (whose
// ObserveSync the scheduler feeds) and a function that waits for the servers
// to stop once ctx ends.
func (a *app) startConsole(ctx context.Context, s *session) (*console.Console, func(), int) {
	con, err := console.New(s.eng, console.Options{Token: a.run.token, Logger: a.logger()})
	if err != nil {
		return nil, nil, a.fail(err)
	}
	s.obs = con                       // forwarded commands count in its metrics too
	go func() { _ = con.Warm(ctx) }() // the page's first listing, before anyone asks
	var waits []<-chan error
	sock := socketPath(s.cfg.State)
	if a.listenUnix == nil || sock == "" {
		sock = ""
	} else if l, err := a.listenUnix(sock); err != nil {
		fmt.Fprintf(a.stderr, "cte: warning: no socket %s (%v): commands run meanwhile cannot reach this daemon\n", sock, err)
	} else {
		mux := http.NewServeMux()
		mux.Handle("/cli", a.serveCLI(s))
		mux.Handle("/", trusted(con, a.run.token))
		waits = append(waits, serve(ctx, &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}, l))
	}
	if a.run.listen != "" {
		l, err := net.Listen("tcp", a.run.listen)
		if err != nil {
			return nil, nil, a.fail(fmt.Errorf("--listen %s: %w", a.run.listen, err))
		}
		scheme := "http"
		if a.run.tls != nil {
			scheme = "https"
		}
		fmt.Fprintf(a.stderr, "cte: console at %s://%s/\n", scheme, l.Addr())
		srv := &http.Server{Handler: con, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute, TLSConfig: a.run.tls}
		waits = append(waits, serve(ctx, srv, l))
	}
	wait := func() {
		if sock != "" {
			defer os.Remove(sock)
		}
		for _, w := range waits {
			if err := <-w; err != nil && !errors.Is(err, net.ErrClosed) {
				fmt.Fprintf(a.stderr, "cte: console: %v\n", err)
			}
		}
	}
	return con, wait, exitOK
}

// trusted serves the console on the daemon's socket, whose file mode already
// says who may use it: requests get the token and a loopback host.
func trusted(con http.Handler, token string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Host = "localhost"
		if token != "" {
			r.Header.Set("Authorization", "Bearer "+token)
		}
		con.ServeHTTP(w, r)
	})
}
