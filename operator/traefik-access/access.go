// Package access is a Traefik middleware plugin (run by Traefik's Yaegi interpreter) that asks
// the Daeploy access gate, exactly as forwardAuth would, and keeps its answers for a few seconds.
//
// forwardAuth sends every request's question over HTTP; on the 2-core development VM that
// round trip alone added 0.4 ms to a 2.2 ms call, however fast the gate answered. This plugin
// asks the same question (GET <gate>/ingress/<namespace>, the request's Authorization values,
// X-Forwarded-Method and X-Forwarded-Uri) only when it has not had the answer for the very same
// request inputs within the TTL, which is the gate's own caching rule, so the decision is the
// gate's either way. Only the standard library: Yaegi interprets it inside Traefik, from this
// folder's files alone, which is also why its small cache is not shared with operator/gate-cache.
//
// A caller that keeps calling never waits for the gate once its answer is known: in the last
// fifth of an answer's TTL the next request asks again in the background and is served the
// answer it has, which is still within its TTL. So a revoked right is refused no later than
// before; only the pause every TTL is gone.
package access

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Config is the Middleware's spec.plugin.<name> object.
type Config struct {
	// Gate is the full question URL: <gate>/ingress/<namespace>.
	Gate string `json:"gate,omitempty"`
	// TTLSeconds is how long an answer is reused; 0 asks every time.
	TTLSeconds int `json:"ttlSeconds,omitempty"`
	// MaxEntries bounds the memory a flood of distinct tokens can take.
	MaxEntries int `json:"maxEntries,omitempty"`
}

// CreateConfig gives the defaults.
func CreateConfig() *Config {
	return &Config{TTLSeconds: 5, MaxEntries: 10000}
}

type answer struct {
	status    int
	body      []byte
	challenge string
	expires   time.Time
	refreshAt time.Time
}

// question is what the gate is asked, copied out of a request so that it can be asked again
// after the request is done.
type question struct {
	method string
	uri    string
	host   string
	auth   []string
}

// Access is the middleware.
type Access struct {
	next    http.Handler
	gate    string
	ttl     time.Duration
	max     int
	client  *http.Client
	mu      sync.Mutex
	entries map[string]answer
	// refreshing holds the keys being asked again in the background, one question each.
	refreshing map[string]bool
}

// New builds the middleware for one Middleware object.
func New(_ context.Context, next http.Handler, config *Config, _ string) (http.Handler, error) {
	if config.Gate == "" {
		return nil, errors.New("gate: give the gate's question URL, <gate>/ingress/<namespace>")
	}
	max := config.MaxEntries
	if max <= 0 {
		max = 10000
	}
	return &Access{
		next:       next,
		gate:       config.Gate,
		ttl:        time.Duration(config.TTLSeconds) * time.Second,
		max:        max,
		client:     &http.Client{Timeout: 10 * time.Second},
		entries:    map[string]answer{},
		refreshing: map[string]bool{},
	}, nil
}

// key is the question itself, not a digest of it: hashing in interpreted code cost more than
// the native map hash of the whole string (at most MaxEntries of them, about 1 KiB each).
// The raw request target is part of it: two targets that read the same make two entries, never
// one shared answer. Every call costs interpreted steps, so the common case takes the fewest.
func key(req *http.Request) string {
	uri := req.RequestURI
	if uri == "" {
		uri = req.URL.RequestURI()
	}
	values := req.Header["Authorization"]
	auth := ""
	if len(values) == 1 {
		auth = values[0]
	} else if len(values) > 1 {
		auth = strings.Join(values, "\x01")
	}
	return req.Method + "\x00" + uri + "\x00" + auth
}

// cacheable: the gate's own verdicts; 503 (Kubernetes unreachable) is asked again.
func cacheable(status int) bool {
	return status == http.StatusOK || status == http.StatusBadRequest ||
		status == http.StatusUnauthorized || status == http.StatusForbidden
}

// lookup gives the answer if it is still valid, and whether this caller should ask again in
// the background (the answer is in the last fifth of its TTL and no one is asking yet).
func (a *Access) lookup(k string, now time.Time) (answer, bool, bool) {
	a.mu.Lock()
	found, ok := a.entries[k]
	if !ok || now.After(found.expires) {
		a.mu.Unlock()
		return answer{}, false, false
	}
	refresh := false
	if now.After(found.refreshAt) && !a.refreshing[k] {
		a.refreshing[k] = true
		refresh = true
	}
	a.mu.Unlock()
	return found, true, refresh
}

func (a *Access) store(k string, found answer) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.entries) >= a.max {
		now := time.Now()
		for old, entry := range a.entries {
			if now.After(entry.expires) {
				delete(a.entries, old)
			}
		}
		if len(a.entries) >= a.max {
			a.entries = map[string]answer{}
		}
	}
	a.entries[k] = found
	delete(a.refreshing, k)
}

func (a *Access) refresh(k string, q question) {
	found := a.ask(context.Background(), q)
	if cacheable(found.status) {
		a.remember(k, found, time.Now())
		return
	}
	// The gate could not answer: the answer held stays until it expires, then it is asked again.
	a.mu.Lock()
	delete(a.refreshing, k)
	a.mu.Unlock()
}

func (a *Access) remember(k string, found answer, now time.Time) {
	found.expires = now.Add(a.ttl)
	found.refreshAt = now.Add(a.ttl - a.ttl/5)
	a.store(k, found)
}

func questionOf(req *http.Request) question {
	return question{
		method: req.Method,
		uri:    req.URL.RequestURI(),
		host:   req.Host,
		auth:   append([]string(nil), req.Header.Values("Authorization")...),
	}
}

// ask puts the question as forwardAuth does: the client's X-Forwarded-* never pass.
func (a *Access) ask(ctx context.Context, q question) answer {
	out, err := http.NewRequestWithContext(ctx, http.MethodGet, a.gate, nil)
	if err != nil {
		return unavailable()
	}
	for _, v := range q.auth {
		out.Header.Add("Authorization", v)
	}
	out.Header.Set("X-Forwarded-Method", q.method)
	out.Header.Set("X-Forwarded-Uri", q.uri)
	out.Header.Set("X-Forwarded-Host", q.host)
	resp, err := a.client.Do(out)
	if err != nil {
		return unavailable()
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64*1024))
	if err != nil {
		return unavailable()
	}
	return answer{status: resp.StatusCode, body: body, challenge: resp.Header.Get("Www-Authenticate")}
}

func unavailable() answer {
	return answer{
		status: http.StatusServiceUnavailable,
		body:   []byte(`{"allowed": false, "status": 503, "reason": "access could not be checked right now: try again"}`),
	}
}

func (a *Access) ServeHTTP(rw http.ResponseWriter, req *http.Request) {
	k := key(req)
	now := time.Now()
	found, ok, refresh := a.lookup(k, now)
	if !ok {
		found = a.ask(req.Context(), questionOf(req))
		if a.ttl > 0 && cacheable(found.status) {
			a.remember(k, found, now)
		}
	} else if refresh {
		go a.refresh(k, questionOf(req))
	}
	if found.status >= 200 && found.status < 300 {
		a.next.ServeHTTP(rw, req)
		return
	}
	rw.Header().Set("Content-Type", "application/json")
	if found.challenge != "" {
		rw.Header().Set("Www-Authenticate", found.challenge)
	}
	rw.WriteHeader(found.status)
	rw.Write(found.body)
}
