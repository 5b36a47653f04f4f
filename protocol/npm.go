package protocol

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// NPMExchangePrefix is the path of npm's exchange without the package name; the CLI
// always puts it at the registry's host root.
const NPMExchangePrefix = "/-/npm/v1/oidc/token/exchange/package/"

// maxNPMName is the longest npm package name, scope included.
const maxNPMName = 214

// NPMPackage returns the package name of an exchange request's path, given the path as
// it arrived, escaped (URL.EscapedPath): the CLI sends a scoped name as
// "@scope%2fname" (npm-package-arg's escapedName), and proxies may send "%2F" or,
// having decoded it, "@scope/name"; all three name one package. Anything else is
// refused: more segments, a slash outside a scope, an escape that decodes to another
// escape, bytes outside printable ASCII, more than 214 characters.
func NPMPackage(escapedPath string) (string, error) {
	tail, ok := strings.CutPrefix(escapedPath, NPMExchangePrefix)
	if !ok || tail == "" {
		return "", errors.New("the path must end in the package's name: " + NPMExchangePrefix + "NAME, or @SCOPE%2fNAME")
	}
	name, err := url.PathUnescape(tail)
	if err != nil {
		return "", errors.New("the package name in the path is not a valid escaped path segment")
	}
	if len(name) > maxNPMName {
		return "", fmt.Errorf("the package name is %d characters long; npm allows %d", len(name), maxNPMName)
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; c <= ' ' || c > '~' || c == '%' || c == '\\' {
			return "", errors.New("the package name must be printable ASCII without spaces, '%' or '\\'")
		}
	}
	switch strings.Count(name, "/") {
	case 0:
		if name[0] == '@' {
			return "", errors.New("a scoped package name is @scope/name")
		}
	case 1:
		scope, pkg, _ := strings.Cut(name, "/")
		if len(scope) < 2 || scope[0] != '@' || pkg == "" {
			return "", errors.New("a package name has a slash only as a scope's: @scope/name")
		}
	default:
		return "", errors.New("a package name has at most one slash, the scope's: @scope/name")
	}
	if name == "." || name == ".." || strings.HasSuffix(name, "/.") || strings.HasSuffix(name, "/..") {
		return "", errors.New("the package name is not a name")
	}
	return name, nil
}
