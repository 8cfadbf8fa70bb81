package cerberus

import (
	"context"
	"net/netip"
)

type clientIPKey struct{}

// NewContextWithClientIP returns a context carrying the IP address of the
// caller. The HTTP server sets it on every request: the remote address of
// the connection or, when the connection comes from a trusted proxy, the
// client address that the proxies forwarded in X-Forwarded-For. Services
// throttle logins by it.
func NewContextWithClientIP(ctx context.Context, ip netip.Addr) context.Context {
	return context.WithValue(ctx, clientIPKey{}, ip)
}

// ClientIPFromContext returns the caller's IP address in ctx, or the zero
// netip.Addr (not IsValid) when none is known.
func ClientIPFromContext(ctx context.Context) netip.Addr {
	ip, _ := ctx.Value(clientIPKey{}).(netip.Addr)
	return ip
}
