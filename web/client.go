package web

import (
	"net"
	"net/http"
	"net/netip"

	"github.com/labstack/echo/v4"
)

// clientAddresses returns how a request's client is found, for the rate limits and the
// session list: the connection's address or, behind the operator's trusted proxies only,
// the address their X-Forwarded-For names. The result is always an address in canonical
// form, or "" when there is none: never text a client chose.
func clientAddresses(trusted []netip.Prefix) func(*http.Request) string {
	extract := echo.ExtractIPDirect()
	if len(trusted) > 0 {
		// Only the listed proxies: echo would otherwise trust every private, loopback and
		// link-local address to tell it who the client is.
		opts := []echo.TrustOption{echo.TrustLoopback(false), echo.TrustLinkLocal(false), echo.TrustPrivateNet(false)}
		for _, p := range trusted {
			opts = append(opts, echo.TrustIPRange(&net.IPNet{IP: p.Masked().Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}))
		}
		extract = echo.ExtractIPFromXFFHeader(opts...)
	}
	return func(r *http.Request) string {
		a, err := netip.ParseAddr(extract(r))
		if err != nil {
			return ""
		}
		return a.Unmap().String()
	}
}

// clientKey is the address a client is counted by: IPv6 clients by their /64, which is
// what one host or one small network is normally given.
func clientKey(ip string) (netip.Addr, bool) {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return netip.Addr{}, false
	}
	a = a.Unmap()
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.Addr(), true
	}
	return a, true
}
