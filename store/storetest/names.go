package storetest

import (
	"errors"
	"strings"
	"testing"

	"github.com/tpx-dev/tpx/store"
	"github.com/tpx-dev/tpx/verify"
)

func nameTests() []test {
	return []test{
		{"a fresh store takes any naming rule, and names are unique in its form", func(t *testing.T, f *fixture) {
			must(t, f.st.UseNames(f.ctx, verify.NPMNames, false))
			alice := f.user("alice")
			f.project("left-pad", alice)
			dot := f.project("left.pad", alice)
			if _, err := f.st.CreateProject(f.ctx, "Left-Pad", alice.ID, f.now); !errors.Is(err, store.ErrConflict) {
				t.Fatalf("Left-Pad next to left-pad under npm's rule: %v, want ErrConflict", err)
			}
			if p, err := f.st.ProjectByName(f.ctx, "LEFT.PAD"); err != nil || p.ID != dot.ID {
				t.Fatalf("LEFT.PAD found %+v, %v; want left.pad", p, err)
			}
		}},
		{"the rule is remembered: the same rule again changes nothing, another is refused", func(t *testing.T, f *fixture) {
			must(t, f.st.UseNames(f.ctx, verify.CargoNames, false))
			f.project("serde_json", f.user("alice"))
			must(t, f.st.UseNames(f.ctx, verify.CargoNames, false))
			if err := f.st.UseNames(f.ctx, verify.PyPINames, false); !errors.Is(err, store.ErrNamesChanged) {
				t.Fatalf("PyPI's rule on a cargo store: %v, want ErrNamesChanged", err)
			}
		}},
		{"a store with names in PyPI's form refuses another rule without rekeying, and changes nothing", func(t *testing.T, f *fixture) {
			p := f.project("Foo.Bar", f.user("alice"))
			err := f.st.UseNames(f.ctx, verify.NPMNames, false)
			if !errors.Is(err, store.ErrNamesChanged) || !strings.Contains(err.Error(), "tpx migrate") {
				t.Fatalf("npm's rule on a PyPI store: %v, want ErrNamesChanged saying what to do", err)
			}
			if got, err := f.st.ProjectByName(f.ctx, "foo_bar"); err != nil || got.ID != p.ID {
				t.Fatalf("foo_bar after the refusal: %+v, %v; want Foo.Bar still found in PyPI's form", got, err)
			}
		}},
		{"rekeying to npm's rule writes every name in npm's form", func(t *testing.T, f *fixture) {
			alice := f.user("alice")
			p := f.project("Foo.Bar", alice)
			f.pending("Baz_Qux", alice, nil)
			must(t, f.st.UseNames(f.ctx, verify.NPMNames, true))
			if got, err := f.st.ProjectByName(f.ctx, "foo.bar"); err != nil || got.ID != p.ID {
				t.Fatalf("foo.bar after rekeying: %+v, %v", got, err)
			}
			if _, err := f.st.ProjectByName(f.ctx, "foo-bar"); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("foo-bar is another npm package, but found Foo.Bar: %v", err)
			}
			f.project("foo-bar", alice)
			if _, err := f.st.CreateProject(f.ctx, "baz_qux", alice.ID, f.now); err != nil {
				t.Fatalf("a pending publisher does not reserve its name: %v", err)
			}
		}},
		{"rekeying to a rule under which two names are one fails, naming them, and changes nothing", func(t *testing.T, f *fixture) {
			must(t, f.st.UseNames(f.ctx, verify.NPMNames, false))
			alice := f.user("alice")
			f.project("left-pad", alice)
			dot := f.project("left.pad", alice)
			err := f.st.UseNames(f.ctx, verify.PyPINames, true)
			if err == nil || !strings.Contains(err.Error(), "left-pad") || !strings.Contains(err.Error(), "left.pad") {
				t.Fatalf("rekeying left-pad and left.pad by PEP 503: %v, want an error naming both", err)
			}
			if got, err := f.st.ProjectByName(f.ctx, "left.pad"); err != nil || got.ID != dot.ID {
				t.Fatalf("left.pad after the failed rekey: %+v, %v", got, err)
			}
			must(t, f.st.UseNames(f.ctx, verify.NPMNames, false))
		}},
	}
}
