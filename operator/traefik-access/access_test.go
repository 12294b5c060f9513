package access

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

// gate answers like daeploy.access.gate: 200 for "Bearer good", 401 otherwise, 503 for "flaky";
// it records the forwarded method and URI it was asked about.
func gate(t *testing.T, asked *int32, seen *[]string) *httptest.Server {
	t.Helper()
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		atomic.AddInt32(asked, 1)
		*seen = append(*seen, r.Method+" "+r.URL.Path+" "+r.Header.Get("X-Forwarded-Method")+" "+r.Header.Get("X-Forwarded-Uri"))
		switch r.Header.Get("Authorization") {
		case "Bearer good":
			w.WriteHeader(http.StatusOK)
		case "Bearer flaky":
			w.WriteHeader(http.StatusServiceUnavailable)
		default:
			w.Header().Set("Www-Authenticate", `Bearer realm="daeploy"`)
			w.WriteHeader(http.StatusUnauthorized)
			w.Write([]byte(`{"status": 401}`))
		}
	}))
}

func serve(t *testing.T, h http.Handler, auth, path string, spoof bool) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest("POST", path, nil)
	if auth != "" {
		r.Header.Set("Authorization", auth)
	}
	if spoof {
		r.Header.Set("X-Forwarded-Uri", "/services/public/x")
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func setup(t *testing.T, ttl int) (http.Handler, *int32, *[]string, *int32) {
	t.Helper()
	var asked, reached int32
	seen := &[]string{}
	g := gate(t, &asked, seen)
	t.Cleanup(g.Close)
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		atomic.AddInt32(&reached, 1)
		w.WriteHeader(http.StatusOK)
	})
	cfg := CreateConfig()
	cfg.Gate = g.URL + "/ingress/demo"
	cfg.TTLSeconds = ttl
	h, err := New(context.Background(), next, cfg, "test")
	if err != nil {
		t.Fatal(err)
	}
	return h, &asked, seen, &reached
}

func TestAllowedRequestsPassAndTheAnswerIsReused(t *testing.T) {
	h, asked, seen, reached := setup(t, 60)
	for i := 0; i < 3; i++ {
		if w := serve(t, h, "Bearer good", "/services/x/roll?a=1", false); w.Code != 200 {
			t.Fatalf("got %d", w.Code)
		}
	}
	if *asked != 1 || *reached != 3 {
		t.Fatalf("gate asked %d, service reached %d; want 1 and 3", *asked, *reached)
	}
	if (*seen)[0] != "GET /ingress/demo POST /services/x/roll?a=1" {
		t.Fatalf("question %q", (*seen)[0])
	}
}

func TestRefusalsNeverReachTheServiceAndSayWhy(t *testing.T) {
	h, asked, _, reached := setup(t, 60)
	for i := 0; i < 2; i++ {
		w := serve(t, h, "Bearer bad", "/services/x/roll", false)
		if w.Code != 401 || w.Header().Get("Www-Authenticate") == "" || w.Body.String() != `{"status": 401}` {
			t.Fatalf("got %d %v %q", w.Code, w.Header(), w.Body.String())
		}
	}
	if *reached != 0 || *asked != 1 {
		t.Fatalf("service reached %d, gate asked %d", *reached, *asked)
	}
}

func TestAnotherTokenOrPathIsAnotherQuestion(t *testing.T) {
	h, asked, _, _ := setup(t, 60)
	serve(t, h, "Bearer good", "/services/x/roll", false)
	serve(t, h, "Bearer bad", "/services/x/roll", false)
	serve(t, h, "Bearer good", "/services/y/roll", false)
	serve(t, h, "", "/services/x/roll", false)
	if *asked != 4 {
		t.Fatalf("gate asked %d, want 4", *asked)
	}
}

func TestTheClientsForwardedHeadersAreNotPassedOn(t *testing.T) {
	h, _, seen, _ := setup(t, 0)
	serve(t, h, "Bearer good", "/services/x/roll", true)
	if (*seen)[0] != "GET /ingress/demo POST /services/x/roll" {
		t.Fatalf("question %q", (*seen)[0])
	}
}

func TestUnavailableIsAskedAgainAndAnUnreachableGateIs503(t *testing.T) {
	h, asked, _, reached := setup(t, 60)
	serve(t, h, "Bearer flaky", "/services/x/roll", false)
	serve(t, h, "Bearer flaky", "/services/x/roll", false)
	if *asked != 2 || *reached != 0 {
		t.Fatalf("gate asked %d, service reached %d", *asked, *reached)
	}
	cfg := CreateConfig()
	cfg.Gate = "http://127.0.0.1:1/ingress/demo"
	down, _ := New(context.Background(), http.NotFoundHandler(), cfg, "test")
	if w := serve(t, down, "Bearer good", "/services/x/roll", false); w.Code != 503 {
		t.Fatalf("got %d", w.Code)
	}
}

func TestAnExpiredAnswerIsAskedAgain(t *testing.T) {
	h, asked, _, _ := setup(t, 1)
	serve(t, h, "Bearer good", "/services/x/roll", false)
	time.Sleep(1100 * time.Millisecond)
	serve(t, h, "Bearer good", "/services/x/roll", false)
	if *asked != 2 {
		t.Fatalf("gate asked %d, want 2", *asked)
	}
}

func TestNoGateIsAConfigurationError(t *testing.T) {
	if _, err := New(context.Background(), http.NotFoundHandler(), CreateConfig(), "x"); err == nil {
		t.Fatal("want an error")
	}
}

func TestASteadyCallerIsAskedAgainInTheBackgroundAndNeverWaits(t *testing.T) {
	var asked int32
	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if atomic.AddInt32(&asked, 1) > 1 {
			<-release // the second question hangs until the test lets it go
		}
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(slow.Close)
	t.Cleanup(func() { close(release) })
	cfg := CreateConfig()
	cfg.Gate = slow.URL + "/ingress/demo"
	cfg.TTLSeconds = 1
	h, err := New(context.Background(), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}), cfg, "t")
	if err != nil {
		t.Fatal(err)
	}
	serve(t, h, "Bearer good", "/services/x/roll", false)
	time.Sleep(850 * time.Millisecond) // in the last fifth of the TTL
	for i := 0; i < 5; i++ {
		start := time.Now()
		if w := serve(t, h, "Bearer good", "/services/x/roll", false); w.Code != 200 {
			t.Fatalf("got %d", w.Code)
		}
		if took := time.Since(start); took > 50*time.Millisecond {
			t.Fatalf("request %d waited %v for the gate", i, took)
		}
	}
	time.Sleep(50 * time.Millisecond)
	if n := atomic.LoadInt32(&asked); n != 2 {
		t.Fatalf("gate asked %d times, want 2 (one background question for five requests)", n)
	}
	time.Sleep(300 * time.Millisecond) // past the first answer's TTL: the hung question gave none
	start := time.Now()
	done := make(chan int)
	go func() { done <- serve(t, h, "Bearer good", "/services/x/roll", false).Code }()
	select {
	case code := <-done:
		t.Fatalf("an expired answer was served (%d after %v)", code, time.Since(start))
	case <-time.After(100 * time.Millisecond): // it waits for the gate, as it must
	}
}
