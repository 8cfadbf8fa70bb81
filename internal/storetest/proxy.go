package storetest

import (
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

// Proxy is a TCP proxy in front of a database server that a test can turn
// into an outage: refusing connections, or accepting them and never
// answering, as a server that hangs or a network that drops packets does.
type Proxy struct {
	t      *testing.T
	target string
	addr   string

	mu    sync.Mutex
	ln    net.Listener // nil while refusing
	hang  bool
	conns map[net.Conn]struct{}
}

// NewProxy starts a proxy on a loopback port that forwards connections to
// target (host:port), and stops it when t ends.
func NewProxy(t *testing.T, target string) *Proxy {
	t.Helper()
	p := &Proxy{t: t, target: target, conns: make(map[net.Conn]struct{})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("proxy: %v", err)
	}
	p.addr = ln.Addr().String()
	p.serve(ln)
	t.Cleanup(p.Refuse)
	return p
}

// Addr returns the address (host:port) of the proxy.
func (p *Proxy) Addr() string { return p.addr }

// Refuse closes every connection through the proxy and refuses new ones.
func (p *Proxy) Refuse() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	p.closeConns()
}

// Hang closes every connection through the proxy and accepts new ones,
// but never forwards a byte of them.
func (p *Proxy) Hang() { p.listen(true) }

// Forward closes every connection through the proxy and forwards new ones
// to the target again.
func (p *Proxy) Forward() { p.listen(false) }

func (p *Proxy) listen(hang bool) {
	p.t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	p.hang = hang
	p.closeConns()
	if p.ln != nil {
		return
	}
	ln, err := net.Listen("tcp", p.addr)
	if err != nil {
		p.t.Fatalf("proxy: listen again: %v", err)
	}
	p.serve(ln)
}

// serve accepts connections on ln; p.mu is held or p is not shared yet.
func (p *Proxy) serve(ln net.Listener) {
	p.ln = ln
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return // closed
			}
			p.mu.Lock()
			if p.ln != ln {
				p.mu.Unlock()
				c.Close()
				return
			}
			p.conns[c] = struct{}{}
			hang := p.hang
			p.mu.Unlock()
			if !hang {
				go p.forward(c)
			}
		}
	}()
}

// forward copies c to and from a new connection to the target.
func (p *Proxy) forward(c net.Conn) {
	up, err := net.DialTimeout("tcp", p.target, 5*time.Second)
	if err != nil {
		p.drop(c)
		return
	}
	p.mu.Lock()
	if _, ok := p.conns[c]; !ok { // closed meanwhile
		p.mu.Unlock()
		up.Close()
		return
	}
	p.conns[up] = struct{}{}
	p.mu.Unlock()
	done := make(chan struct{}, 2)
	go func() { io.Copy(up, c); done <- struct{}{} }()
	go func() { io.Copy(c, up); done <- struct{}{} }()
	<-done
	p.drop(c)
	p.drop(up)
}

// drop closes c and forgets it.
func (p *Proxy) drop(c net.Conn) {
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
	c.Close()
}

// closeConns closes every connection; p.mu is held.
func (p *Proxy) closeConns() {
	for c := range p.conns {
		c.Close()
		delete(p.conns, c)
	}
}
