package protocol

import (
	"net/url"
	"strings"
	"testing"

	"github.com/tpx-dev/tpx/verify"
)

func TestAudiencesAsClientsDeriveThem(t *testing.T) {
	for _, c := range []struct {
		name, url  string
		npm, cargo string
	}{
		{"an https registry at the host root", "https://registry.example.org", "npm:registry.example.org", "registry.example.org"},
		{"npm drops the port; cargo keeps it", "http://127.0.0.1:4873", "npm:127.0.0.1", "127.0.0.1:4873"},
		{"npm drops the path; cargo keeps it", "https://example.org/cargo/", "npm:example.org", "example.org/cargo"},
		{"npm lowers the host name (new URL does); the action keeps it as written", "https://Registry.Example.ORG", "npm:registry.example.org", "Registry.Example.ORG"},
		{"crates.io's own", "https://crates.io", "npm:crates.io", "crates.io"},
	} {
		t.Run(c.name, func(t *testing.T) {
			u, err := url.Parse(c.url)
			if err != nil {
				t.Fatal(err)
			}
			if got := NPM.Audience(u, "tpx:x"); got != c.npm {
				t.Errorf("npm audience of %s = %q, want %q", c.url, got, c.npm)
			}
			if got := Cargo.Audience(u, "tpx:x"); got != c.cargo {
				t.Errorf("cargo audience of %s = %q, want %q", c.url, got, c.cargo)
			}
			if got := PyPI.Audience(u, "tpx:x"); got != "tpx:x" {
				t.Errorf("pypi audience = %q, want the service's own", got)
			}
		})
	}
}

func TestParse(t *testing.T) {
	for _, c := range []struct {
		name, in string
		want     []Protocol
	}{
		{"empty is pypi, as always", "", []Protocol{PyPI}},
		{"one", "npm", []Protocol{NPM}},
		{"a list with spaces", "pypi, cargo", []Protocol{PyPI, Cargo}},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := Parse(c.in)
			if err != nil || strings.Join(strs(got), ",") != strings.Join(strs(c.want), ",") {
				t.Fatalf("Parse(%q) = %v, %v; want %v", c.in, got, err, c.want)
			}
		})
	}
	for _, in := range []string{"maven", "npm,npm", "npm,", "NPM"} {
		if got, err := Parse(in); err == nil {
			t.Errorf("Parse(%q) = %v, want an error", in, got)
		}
	}
}

func strs(ps []Protocol) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = string(p)
	}
	return out
}

func TestNamesFollowTheIndex(t *testing.T) {
	for _, c := range []struct {
		in   []Protocol
		want verify.Names
	}{
		{[]Protocol{PyPI}, verify.PyPINames},
		{[]Protocol{NPM}, verify.NPMNames},
		{[]Protocol{PyPI, Cargo}, verify.CargoNames},
	} {
		if got, err := Names(c.in); err != nil || got != c.want {
			t.Errorf("Names(%v) = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
	if _, err := Names([]Protocol{NPM, Cargo}); err == nil {
		t.Error("npm and cargo together have a naming rule; they serve two indexes")
	}
}

func TestNPMPackage(t *testing.T) {
	for _, c := range []struct{ name, path, want string }{
		{"a plain name", "left-pad", "left-pad"},
		{"a scoped name as the CLI escapes it", "@acme%2fleft-pad", "@acme/left-pad"},
		{"a scoped name with a capital escape", "@acme%2Fleft-pad", "@acme/left-pad"},
		{"a scoped name a proxy decoded", "@acme/left-pad", "@acme/left-pad"},
		{"the at sign escaped", "%40acme%2fleft-pad", "@acme/left-pad"},
		{"capitals are kept for the exchange to fold", "JSONStream", "JSONStream"},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := NPMPackage(NPMExchangePrefix + c.path)
			if err != nil || got != c.want {
				t.Fatalf("NPMPackage(%q) = %q, %v; want %q", c.path, got, err, c.want)
			}
		})
	}
	for _, c := range []struct{ name, path string }{
		{"no name", ""},
		{"a slash without a scope", "a%2fb"},
		{"two slashes", "@a/b/c"},
		{"an escaped second slash", "@a%2fb%2fc"},
		{"an empty scope", "@/b"},
		{"an empty name in a scope", "@a/"},
		{"a scope alone", "@acme"},
		{"a double escape", "@a%252fb"},
		{"a bad escape", "left%zzpad"},
		{"a space", "left%20pad"},
		{"a control character", "left%0apad"},
		{"non-ASCII", "l%C3%A9ft"},
		{"a backslash", "a%5cb"},
		{"dot dot", ".."},
		{"a scope's dot dot", "@a/.."},
		{"too long", strings.Repeat("a", 215)},
	} {
		t.Run("refused: "+c.name, func(t *testing.T) {
			if got, err := NPMPackage(NPMExchangePrefix + c.path); err == nil {
				t.Fatalf("NPMPackage(%q) = %q, want an error", c.path, got)
			}
		})
	}
	if _, err := NPMPackage("/other/left-pad"); err == nil {
		t.Error("a path outside the exchange's prefix was accepted")
	}
}

func TestCargoJWT(t *testing.T) {
	if got, err := CargoJWT([]byte(`{"jwt": "a.b.c", "other": 1}`)); err != nil || got != "a.b.c" {
		t.Fatalf("CargoJWT = %q, %v", got, err)
	}
	for _, body := range []string{``, `{}`, `{"jwt": ""}`, `{"jwt": 1}`, `{"jwt": null}`, `[]`, `{"jwt": "a"} {}`, `{"jwt": "a"`, `"a.b.c"`} {
		if got, err := CargoJWT([]byte(body)); err == nil {
			t.Errorf("CargoJWT(%s) = %q, want an error", body, got)
		}
	}
}

// FuzzNPMPackage: whatever the path, a name returned is at most 214 printable ASCII
// characters with at most one slash, a scope's, and asking again with the name escaped as
// the CLI escapes it returns the same name.
func FuzzNPMPackage(f *testing.F) {
	for _, s := range []string{"left-pad", "@a%2fb", "@a/b", "%40a%2Fb", "a%2fb", "@a%252fb", "..", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, tail string) {
		name, err := NPMPackage(NPMExchangePrefix + tail)
		if err != nil {
			return
		}
		if name == "" || len(name) > maxNPMName || strings.Count(name, "/") > 1 || (strings.Contains(name, "/") && name[0] != '@') {
			t.Fatalf("NPMPackage(%q) = %q", tail, name)
		}
		for i := 0; i < len(name); i++ {
			if name[i] <= ' ' || name[i] > '~' {
				t.Fatalf("NPMPackage(%q) = %q has byte %#x", tail, name, name[i])
			}
		}
		again, err := NPMPackage(NPMExchangePrefix + strings.Replace(name, "/", "%2f", 1))
		if err != nil || again != name {
			t.Fatalf("the CLI's escaping of %q gives %q, %v", name, again, err)
		}
	})
}

// FuzzCargoJWT: a body is refused or yields a non-empty token that the body contained.
func FuzzCargoJWT(f *testing.F) {
	for _, s := range []string{`{"jwt":"a.b.c"}`, `{}`, `{"jwt":""}`, `{"jwt":"\u0061"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		jwt, err := CargoJWT(body)
		if err == nil && jwt == "" {
			t.Fatalf("CargoJWT(%q) returned an empty token", body)
		}
	})
}
