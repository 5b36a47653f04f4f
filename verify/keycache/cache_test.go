package keycache_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/tpx-dev/tpx/verify/keycache"
)

var t0 = time.Date(2026, time.March, 2, 9, 30, 0, 0, time.UTC)

// issuer is a key source whose answers and clock the test controls.
type issuer struct {
	mu      sync.Mutex
	now     time.Time
	keys    map[string]string
	err     error
	fetches atomic.Int64
	release chan struct{} // if not nil, a fetch waits for it (or its context)
}

func (is *issuer) clock() time.Time { is.mu.Lock(); defer is.mu.Unlock(); return is.now }

func (is *issuer) advance(d time.Duration) { is.mu.Lock(); is.now = is.now.Add(d); is.mu.Unlock() }

func (is *issuer) set(keys map[string]string, err error) {
	is.mu.Lock()
	is.keys, is.err = keys, err
	is.mu.Unlock()
}

func (is *issuer) fetch(ctx context.Context) (map[string]string, error) {
	is.fetches.Add(1)
	if is.release != nil {
		select {
		case <-is.release:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	is.mu.Lock()
	defer is.mu.Unlock()
	return is.keys, is.err
}

func newCache(t *testing.T, is *issuer) *keycache.Cache[string] {
	t.Helper()
	c, err := keycache.New(keycache.Config[string]{Fetch: is.fetch, Now: is.clock})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

func TestUnknownKidsCauseOneFetchPerCooldownSharedByConcurrentCallers(t *testing.T) {
	is := &issuer{now: t0, keys: map[string]string{"a": "key a"}}
	c := newCache(t, is)
	var wg sync.WaitGroup
	for i := range 100 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := c.Key(t.Context(), fmt.Sprint("junk-", i)); !errors.Is(err, keycache.ErrUnknownKey) || errors.Is(err, keycache.ErrUnavailable) {
				t.Errorf("Key: %v, want ErrUnknownKey alone", err)
			}
		}()
	}
	wg.Wait()
	if n := is.fetches.Load(); n != 1 {
		t.Fatalf("%d fetches, want 1", n)
	}
	is.advance(keycache.DefaultCooldown - time.Second)
	c.Key(t.Context(), "junk")
	if n := is.fetches.Load(); n != 1 {
		t.Fatalf("an unknown kid within the cooldown fetched (%d fetches)", n)
	}
	is.advance(time.Second)
	is.set(map[string]string{"a": "key a", "b": "key b"}, nil)
	if k, err := c.Key(t.Context(), "b"); err != nil || k != "key b" {
		t.Fatalf("a rotated key after the cooldown: %q, %v", k, err)
	}
}

// TestUnknownSaysTrueExactlyWhenKeyWouldRefuseAtOnce holds Unknown to Key in every state
// the cache can be in: whenever Unknown says true, Key fails with ErrUnknownKey without
// fetching or waiting; whenever Key would fetch, wait or find the key, Unknown says false.
func TestUnknownSaysTrueExactlyWhenKeyWouldRefuseAtOnce(t *testing.T) {
	for _, tc := range []struct {
		name  string
		setup func(t *testing.T, is *issuer, c *keycache.Cache[string])
		kid   string
		want  bool
	}{
		{"Before any fetch, Key would fetch", func(*testing.T, *issuer, *keycache.Cache[string]) {}, "junk", false},
		{"A held key is not unknown", fetched, "a", false},
		{"An unknown kid within the cooldown is refused at once", fetched, "junk", true},
		{"An unknown kid after the cooldown would fetch", func(t *testing.T, is *issuer, c *keycache.Cache[string]) {
			fetched(t, is, c)
			is.advance(keycache.DefaultCooldown)
		}, "junk", false},
		{"An unknown kid while refreshes fail, within the cooldown, is refused at once", func(t *testing.T, is *issuer, c *keycache.Cache[string]) {
			fetched(t, is, c)
			is.set(nil, errors.New("issuer down"))
			is.advance(2 * time.Hour)
			c.Key(t.Context(), "a")
		}, "junk", true},
		{"Keys past MaxStale are not used: Key would say unavailable", func(t *testing.T, is *issuer, c *keycache.Cache[string]) {
			fetched(t, is, c)
			is.set(nil, errors.New("issuer down"))
			is.advance(keycache.DefaultMaxStale + time.Minute)
			c.Key(t.Context(), "a")
		}, "junk", false},
		{"No key ever fetched: Key would say unavailable", func(t *testing.T, is *issuer, c *keycache.Cache[string]) {
			is.set(nil, errors.New("issuer down"))
			c.Key(t.Context(), "a")
		}, "junk", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			is := &issuer{now: t0, keys: map[string]string{"a": "key a"}}
			c := newCache(t, is)
			tc.setup(t, is, c)
			got := c.Unknown(tc.kid)
			if got != tc.want {
				t.Fatalf("Unknown(%q) = %v, want %v", tc.kid, got, tc.want)
			}
			before := is.fetches.Load()
			_, err := c.Key(t.Context(), tc.kid)
			fetchedNow := is.fetches.Load() != before
			if got && (!errors.Is(err, keycache.ErrUnknownKey) || fetchedNow) {
				t.Fatalf("Unknown said true, but Key gave %v (fetched: %v)", err, fetchedNow)
			}
			if !got && errors.Is(err, keycache.ErrUnknownKey) && !fetchedNow {
				t.Fatalf("Unknown said false, but Key refused at once: %v", err)
			}
		})
	}
	t.Run("A fetch in flight may bring the kid: Key would wait for it", func(t *testing.T) {
		is := &issuer{now: t0, keys: map[string]string{"a": "key a"}}
		c := newCache(t, is)
		fetched(t, is, c)
		is.release = make(chan struct{})
		done := make(chan struct{})
		go func() { defer close(done); c.Refresh(context.Background()) }()
		for is.fetches.Load() < 2 {
			time.Sleep(time.Millisecond)
		}
		if c.Unknown("junk") {
			t.Error("Unknown said true while a fetch was in flight")
		}
		close(is.release)
		<-done
	})
}

func TestHoldsNeverFetches(t *testing.T) {
	is := &issuer{now: t0, keys: map[string]string{"a": "key a"}}
	c := newCache(t, is)
	if c.Holds("a") || is.fetches.Load() != 0 {
		t.Fatalf("before any fetch: Holds said true or fetched (%d)", is.fetches.Load())
	}
	fetched(t, is, c)
	if !c.Holds("a") || c.Holds("b") || is.fetches.Load() != 1 {
		t.Fatalf("after one fetch: Holds(a) %v, Holds(b) %v, %d fetches", c.Holds("a"), c.Holds("b"), is.fetches.Load())
	}
}

// fetched has c fetch is's keys once.
func fetched(t *testing.T, is *issuer, c *keycache.Cache[string]) {
	t.Helper()
	if _, err := c.Key(t.Context(), "a"); err != nil {
		t.Fatal(err)
	}
}

func TestAFailedFetchNeverReplacesGoodKeysAndStaleKeysFailClosed(t *testing.T) {
	is := &issuer{now: t0, keys: map[string]string{"a": "key a"}}
	c := newCache(t, is)
	if _, err := c.Key(t.Context(), "a"); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []struct {
		keys map[string]string
		err  error
	}{{nil, errors.New("issuer down")}, {map[string]string{}, nil}} {
		is.set(bad.keys, bad.err)
		is.advance(2 * time.Hour) // past Refresh: the next Key refetches, and fails
		if k, err := c.Key(t.Context(), "a"); err != nil || k != "key a" {
			t.Fatalf("after a failed refresh: %q, %v", k, err)
		}
		if st := c.Status(); st.Keys != 1 || !st.FetchedAt.Equal(t0) || st.LastError == "" {
			t.Fatalf("status after a failed refresh: %+v", st)
		}
		_, err := c.Key(t.Context(), "b")
		if !errors.Is(err, keycache.ErrUnknownKey) || !errors.Is(err, keycache.ErrUnavailable) {
			t.Fatalf("an unknown kid while refreshes fail: %v, want ErrUnknownKey and ErrUnavailable", err)
		}
	}
	is.advance(keycache.DefaultMaxStale)
	if _, err := c.Key(t.Context(), "a"); !errors.Is(err, keycache.ErrUnavailable) || !strings.Contains(err.Error(), "old") {
		t.Fatalf("keys past MaxStale: %v, want ErrUnavailable saying they are too old", err)
	}
	is.set(map[string]string{"a": "key a"}, nil)
	is.advance(keycache.DefaultCooldown)
	if _, err := c.Key(t.Context(), "a"); err != nil {
		t.Fatalf("after the issuer came back: %v", err)
	}
}

func TestACallerWhoGivesUpDoesNotFailTheOthers(t *testing.T) {
	is := &issuer{now: t0, keys: map[string]string{"a": "key a"}, release: make(chan struct{})}
	c := newCache(t, is)
	impatient, cancel := context.WithCancel(t.Context())
	errs := make(chan error, 2)
	go func() { _, err := c.Key(impatient, "a"); errs <- err }()
	go func() { _, err := c.Key(t.Context(), "a"); errs <- err }()
	for is.fetches.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	cancel()
	if err := <-errs; !errors.Is(err, keycache.ErrUnavailable) || !errors.Is(err, context.Canceled) {
		t.Fatalf("the impatient caller: %v", err)
	}
	close(is.release)
	if err := <-errs; err != nil {
		t.Fatalf("the patient caller: %v", err)
	}
	if n := is.fetches.Load(); n != 1 {
		t.Fatalf("%d fetches, want 1", n)
	}
}

func TestCloseCancelsTheFetchInFlightAndKeepsTheKeys(t *testing.T) {
	is := &issuer{now: t0, keys: map[string]string{"a": "key a"}}
	c := newCache(t, is)
	if _, err := c.Key(t.Context(), "a"); err != nil {
		t.Fatal(err)
	}
	is.release = make(chan struct{}) // never closed: only cancellation ends the fetch
	is.advance(time.Minute)
	errc := make(chan error, 1)
	go func() { _, err := c.Key(t.Context(), "b"); errc <- err }()
	for is.fetches.Load() < 2 {
		time.Sleep(time.Millisecond)
	}
	c.Close()
	if err := <-errc; !errors.Is(err, keycache.ErrUnknownKey) || !strings.Contains(err.Error(), "canceled") {
		t.Fatalf("Key during Close: %v", err)
	}
	if _, err := c.Key(t.Context(), "a"); err != nil {
		t.Fatalf("a held key after Close: %v", err)
	}
	is.advance(time.Minute)
	c.Key(t.Context(), "c")
	if n := is.fetches.Load(); n != 2 {
		t.Fatalf("a closed cache fetched (%d fetches)", n)
	}
}

func TestParseJWKSKeepsOnlyUsableKeysAndDropsDuplicateKids(t *testing.T) {
	body := `{"keys":[
		{"kty":"oct","kid":"one","k":"AAAA"},
		{"kty":"oct","kid":"dup","k":"AAAA"},
		{"kty":"oct","kid":"dup","k":"BBBB"},
		{"kty":"oct","kid":"enc","k":"AAAA","use":"enc"},
		{"kty":"oct","k":"AAAA"},
		{"kty":"RSA","kid":"broken","n":"!!","e":"AQAB"}]}`
	usable := func(k jose.JSONWebKey) (string, bool) { return k.KeyID, true }
	keys, skipped, err := keycache.ParseJWKS([]byte(body), usable)
	if err != nil || len(keys) != 1 || keys["one"] != "one" || skipped != 5 {
		t.Fatalf("keys %v, skipped %d, err %v; want only one, five skipped", keys, skipped, err)
	}
	for _, bad := range []string{`{"keys":[]}`, `{}`, `null`, `<html>`} {
		if _, _, err := keycache.ParseJWKS([]byte(bad), usable); err == nil {
			t.Errorf("ParseJWKS(%s) succeeded", bad)
		}
	}
}

func TestGetRefusesBodiesOverTheCapAndErrorStatuses(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/big":
			w.Write([]byte(strings.Repeat("x", 2048)))
		case "/ok":
			w.Write([]byte("small"))
		default:
			http.Error(w, "no", http.StatusServiceUnavailable)
		}
	}))
	t.Cleanup(srv.Close)
	if b, err := keycache.Get(t.Context(), srv.Client(), srv.URL+"/ok", 1024); err != nil || string(b) != "small" {
		t.Fatalf("Get /ok: %q, %v", b, err)
	}
	if _, err := keycache.Get(t.Context(), srv.Client(), srv.URL+"/big", 1024); err == nil {
		t.Fatal("a body over the cap was returned")
	}
	if _, err := keycache.Get(t.Context(), srv.Client(), srv.URL+"/down", 1024); err == nil || !strings.Contains(err.Error(), "503") {
		t.Fatalf("Get /down: %v", err)
	}
}
