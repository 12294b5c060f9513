// Command gate-cache answers the ingress's forwardAuth questions from memory and asks the
// Python gate (daeploy.access.gate) only what it has not been asked in the last few seconds.
//
// The gate's decision for a forwardAuth request depends only on the request's Authorization
// header values, the namespace in the path and the original method and URI; the same inputs
// within the TTL get the same answer, exactly as the gate's own cache would give it. A hit
// costs a hash and a map lookup in Go instead of a Python HTTP round trip, which on the
// 2-core VM was most of what forwardAuth added to a call. Everything else (the services'
// POST /review, health) is passed through uncached.
package main

import (
	"bytes"
	"crypto/sha256"
	"flag"
	"io"
	"log"
	"net/http"
	"strings"
	"sync"
	"time"
)

type answer struct {
	status  int
	header  http.Header
	body    []byte
	expires time.Time
}

type cache struct {
	mu      sync.Mutex
	entries map[[32]byte]answer
	ttl     time.Duration
	max     int
}

func (c *cache) get(key [32]byte, now time.Time) (answer, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	a, ok := c.entries[key]
	if !ok || now.After(a.expires) {
		return answer{}, false
	}
	return a, true
}

func (c *cache) put(key [32]byte, a answer) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.entries) >= c.max {
		now := time.Now()
		for k, v := range c.entries {
			if now.After(v.expires) {
				delete(c.entries, k)
			}
		}
		if len(c.entries) >= c.max {
			c.entries = make(map[[32]byte]answer) // a flood of distinct tokens: start over
		}
	}
	c.entries[key] = a
}

// cacheable: the gate's own verdicts; 503 (Kubernetes unreachable) is asked again.
func cacheable(status int) bool {
	return status == 200 || status == 400 || status == 401 || status == 403
}

// forwardedHeaders are what a forwardAuth decision depends on, besides the path.
var forwardedHeaders = []string{"Authorization", "X-Forwarded-Method", "X-Forwarded-Uri",
	"X-Original-Method", "X-Original-Uri"}

func key(r *http.Request) [32]byte {
	var b bytes.Buffer
	b.WriteString(r.Method)
	b.WriteByte(0)
	b.WriteString(r.URL.RequestURI())
	for _, name := range forwardedHeaders {
		b.WriteByte(0)
		b.WriteString(name)
		for _, v := range r.Header.Values(name) {
			b.WriteByte(1)
			b.WriteString(v)
		}
	}
	return sha256.Sum256(b.Bytes())
}

// handler answers forwardAuth questions (GET /ingress/...) from the cache, asking upstream
// on a miss; everything else goes to upstream as is.
func handler(upstream string, ttl time.Duration, maxEntries int) http.Handler {
	c := &cache{entries: make(map[[32]byte]answer), ttl: ttl, max: maxEntries}
	client := &http.Client{
		Timeout: 10 * time.Second,
		Transport: &http.Transport{
			MaxIdleConns:        64,
			MaxIdleConnsPerHost: 64,
			IdleConnTimeout:     30 * time.Second,
		},
	}
	forward := func(r *http.Request) answer {
		req, err := http.NewRequestWithContext(r.Context(), r.Method, upstream+r.URL.RequestURI(), r.Body)
		if err != nil {
			return unavailable
		}
		req.Header = r.Header.Clone()
		resp, err := client.Do(req)
		if err != nil {
			return unavailable
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(io.LimitReader(resp.Body, 64*1024))
		if err != nil {
			return unavailable
		}
		a := answer{status: resp.StatusCode, header: http.Header{}, body: body}
		for _, name := range []string{"Content-Type", "Www-Authenticate"} {
			if v := resp.Header.Get(name); v != "" {
				a.header.Set(name, v)
			}
		}
		return a
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet || !strings.HasPrefix(r.URL.Path, "/ingress/") {
			write(w, forward(r))
			return
		}
		k := key(r)
		now := time.Now()
		if a, ok := c.get(k, now); ok {
			write(w, a)
			return
		}
		a := forward(r)
		if cacheable(a.status) && c.ttl > 0 {
			a.expires = now.Add(c.ttl)
			c.put(k, a)
		}
		write(w, a)
	})
}

var unavailable = answer{
	status: http.StatusServiceUnavailable,
	header: http.Header{"Content-Type": {"application/json"}},
	body:   []byte(`{"allowed": false, "status": 503, "reason": "access could not be checked right now: try again"}`),
}

func write(w http.ResponseWriter, a answer) {
	for name, values := range a.header {
		w.Header()[name] = values
	}
	w.WriteHeader(a.status)
	w.Write(a.body)
}

func main() {
	listen := flag.String("listen", ":8481", "address to serve on")
	upstream := flag.String("upstream", "http://127.0.0.1:8480", "the Python gate")
	ttl := flag.Duration("ttl", 5*time.Second, "how long an answer is reused")
	maxEntries := flag.Int("max-entries", 10000, "answers kept at most")
	flag.Parse()
	log.Printf("gate-cache on %s in front of %s, answers kept %s", *listen, *upstream, *ttl)
	log.Fatal(http.ListenAndServe(*listen, handler(*upstream, *ttl, *maxEntries)))
}
