package fault_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/tpx-dev/tpx/fault"
)

func TestKindAndPublicTextOfAnError(t *testing.T) {
	sentinel := fault.New(fault.Conflict, "project already exists")
	driver := errors.New("dial tcp 10.0.0.7:5432: connection refused")
	down := fault.Wrap(fault.Unavailable, "database unavailable", driver)
	for _, tc := range []struct {
		name   string
		err    error
		kind   fault.Kind
		public string
	}{
		{"a sentinel is its own kind and text", sentinel, fault.Conflict, "project already exists"},
		{"the core's wording around a sentinel is public", fmt.Errorf("%w: %q", sentinel, "numpy"), fault.Conflict, `project already exists: "numpy"`},
		{"a wrapped cause stays out of the public text", down, fault.Unavailable, "database unavailable"},
		{"context added around a wrapped cause stays out of it too", fmt.Errorf("upload token 7: %w", down), fault.Unavailable, "database unavailable"},
		{"an unclassified error is internal and says nothing", driver, fault.Internal, ""},
		{"nil is internal and says nothing", nil, fault.Internal, ""},
		{"the first classified error in a chain decides", fault.Wrap(fault.Invalid, "bad input", sentinel), fault.Invalid, "bad input"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := fault.KindOf(tc.err); got != tc.kind {
				t.Errorf("KindOf = %v, want %v", got, tc.kind)
			}
			if got := fault.Public(tc.err); got != tc.public {
				t.Errorf("Public = %q, want %q", got, tc.public)
			}
		})
	}
}

func TestAWrappedCauseIsStillFoundAndLogged(t *testing.T) {
	sentinel := fault.New(fault.Unavailable, "database unavailable")
	driver := errors.New("connection refused")
	err := fmt.Errorf("lookup: %w", fault.Wrap(fault.Unavailable, "token records cannot be read", fmt.Errorf("%w: %w", sentinel, driver)))
	if !errors.Is(err, sentinel) || !errors.Is(err, driver) {
		t.Fatalf("errors.Is lost the cause of %v", err)
	}
	if want := "lookup: token records cannot be read: database unavailable: connection refused"; err.Error() != want {
		t.Fatalf("Error() = %q, want %q (the log's text keeps everything)", err.Error(), want)
	}
}

func TestASentinelWithACauseIsThatSentinel(t *testing.T) {
	sentinel := fault.New(fault.Unavailable, "database unavailable")
	other := fault.New(fault.Unavailable, "database unavailable")
	driver := errors.New("dial tcp 10.0.0.7:5432: connection refused")
	err := fmt.Errorf("user 7: %w", sentinel.With(driver))
	if !errors.Is(err, sentinel) || !errors.Is(err, driver) {
		t.Fatalf("errors.Is lost the sentinel or the cause of %v", err)
	}
	if errors.Is(err, other) {
		t.Fatal("another sentinel of the same kind and text matched")
	}
	if got := fault.Public(err); got != "database unavailable" {
		t.Fatalf("Public = %q: the driver's text must stay private", got)
	}
	if got, want := err.Error(), "user 7: database unavailable: "+driver.Error(); got != want {
		t.Fatalf("Error() = %q, want %q", got, want)
	}
}

func TestEveryKindHasItsOwnName(t *testing.T) {
	seen := map[string]fault.Kind{}
	for k := fault.Internal; k <= fault.RateLimited; k++ {
		if prev, dup := seen[k.String()]; dup {
			t.Fatalf("kinds %d and %d are both named %q", prev, k, k.String())
		}
		seen[k.String()] = k
	}
	if got := fault.Kind(200).String(); got != "internal" {
		t.Fatalf("an unknown kind is named %q, want internal", got)
	}
}
