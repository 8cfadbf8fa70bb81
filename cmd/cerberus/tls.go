package main

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"sync/atomic"
)

// certificate is the server's TLS certificate and key, read from their PEM
// files. Each handshake takes the current pair (tls.Config.GetCertificate),
// so that a reload serves new connections the new pair while open
// connections go on.
type certificate struct {
	certFile, keyFile string
	current           atomic.Pointer[tls.Certificate]
}

// loadCertificate reads the pair of certFile and keyFile. The key file must
// be private to its owner.
func loadCertificate(certFile, keyFile string) (*certificate, error) {
	c := &certificate{certFile: certFile, keyFile: keyFile}
	kp, err := c.load()
	if err != nil {
		return nil, err
	}
	c.current.Store(kp)
	return c, nil
}

func (c *certificate) load() (*tls.Certificate, error) {
	if err := checkPrivate(c.keyFile); err != nil {
		return nil, fmt.Errorf("--tls-key (CERBERUS_TLS_KEY): %w", err)
	}
	kp, err := tls.LoadX509KeyPair(c.certFile, c.keyFile)
	if err != nil {
		return nil, fmt.Errorf("--tls-cert (CERBERUS_TLS_CERT) %s and --tls-key (CERBERUS_TLS_KEY) %s are not a PEM certificate (chain) and its private key: %w", c.certFile, c.keyFile, err)
	}
	return &kp, nil
}

// reload reads the files again and serves their pair from the next
// handshake on. A pair that does not load is refused, and the current one
// kept. It returns the new certificate.
func (c *certificate) reload() (*x509.Certificate, error) {
	kp, err := c.load()
	if err != nil {
		return nil, err
	}
	c.current.Store(kp)
	return kp.Leaf, nil
}

// tlsConfig returns the server's TLS configuration: TLS 1.2 at least, the
// current certificate at each handshake.
func (c *certificate) tlsConfig() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			return c.current.Load(), nil
		},
	}
}

// isLoopback tells whether addr, a listener's address, is reachable only
// from this host.
func isLoopback(addr net.Addr) bool {
	tcp, ok := addr.(*net.TCPAddr)
	return ok && tcp.IP.IsLoopback()
}
