package sqlstore

import (
	"fmt"
	"testing"
	"time"
)

func TestACrowdedRepositoryIsRememberedForAWhileAndTheMemoryIsBounded(t *testing.T) {
	var c crowded
	t0 := time.Date(2026, time.March, 1, 12, 0, 0, 0, time.UTC)
	if c.is("a", t0) {
		t.Fatal("a repository never added is crowded")
	}
	c.add("a", t0)
	if !c.is("a", t0) || !c.is("a", t0.Add(crowdedFor-time.Nanosecond)) || c.is("a", t0.Add(crowdedFor)) {
		t.Fatalf("a repository added at %v is not crowded exactly until %v", t0, t0.Add(crowdedFor))
	}
	for i := range maxCrowded + 10 {
		c.add(fmt.Sprint(i), t0)
	}
	if len(c.until) != maxCrowded {
		t.Fatalf("remembers %d repositories, want at most %d", len(c.until), maxCrowded)
	}
	if !c.is("a", t0) {
		t.Fatal("a repository added before the memory filled up was forgotten")
	}
	// Expired entries make room.
	later := t0.Add(crowdedFor)
	c.add("b", later)
	if !c.is("b", later) || len(c.until) != 1 {
		t.Fatalf("after expiry: b crowded %v, %d remembered, want true and 1", c.is("b", later), len(c.until))
	}
}
