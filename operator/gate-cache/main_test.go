package main

import (
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

// upstream counts the questions that reach it and answers with the status in X-Answer.
func upstream(t *testing.T, asked *int32) *httptest.Server {
	t.Helper()
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		atomic.AddInt32(asked, 1)
		w.Header().Set("Content-Type", "application/json")
		status := http.StatusOK
		switch r.Header.Get("Authorization") {
		case "Bearer nobody":
			status = http.StatusUnauthorized
			w.Header().Set("Www-Authenticate", "Bearer")
		case "Bearer flaky":
			status = http.StatusServiceUnavailable
		}
		w.WriteHeader(status)
		w.Write([]byte(`{"status": ` + http.StatusText(status) + `}`))
	}))
}

func ask(t *testing.T, h http.Handler, method, path, auth, uri string) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(method, path, nil)
	if auth != "" {
		r.Header.Set("Authorization", auth)
	}
	r.Header.Set("X-Forwarded-Method", "POST")
	r.Header.Set("X-Forwarded-Uri", uri)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func TestTheSameQuestionIsAnsweredFromMemoryWithinTheTTL(t *testing.T) {
	var asked int32
	up := upstream(t, &asked)
	defer up.Close()
	h := handler(up.URL, time.Minute, 100)
	for i := 0; i < 3; i++ {
		if w := ask(t, h, "GET", "/ingress/demo", "Bearer a", "/services/x/y"); w.Code != 200 {
			t.Fatalf("got %d", w.Code)
		}
	}
	if asked != 1 {
		t.Fatalf("upstream asked %d times, want 1", asked)
	}
}

func TestAnyDifferenceInTheQuestionAsksAgain(t *testing.T) {
	var asked int32
	up := upstream(t, &asked)
	defer up.Close()
	h := handler(up.URL, time.Minute, 100)
	ask(t, h, "GET", "/ingress/demo", "Bearer a", "/services/x/y")
	ask(t, h, "GET", "/ingress/demo", "Bearer b", "/services/x/y")
	ask(t, h, "GET", "/ingress/other", "Bearer a", "/services/x/y")
	ask(t, h, "GET", "/ingress/demo", "Bearer a", "/services/z/y")
	ask(t, h, "GET", "/ingress/demo", "", "/services/x/y")
	if asked != 5 {
		t.Fatalf("upstream asked %d times, want 5", asked)
	}
}

func TestRefusalsAreKeptButUnavailabilityIsNot(t *testing.T) {
	var asked int32
	up := upstream(t, &asked)
	defer up.Close()
	h := handler(up.URL, time.Minute, 100)
	for i := 0; i < 2; i++ {
		w := ask(t, h, "GET", "/ingress/demo", "Bearer nobody", "/services/x/y")
		if w.Code != 401 || w.Header().Get("Www-Authenticate") != "Bearer" {
			t.Fatalf("got %d %v", w.Code, w.Header())
		}
	}
	for i := 0; i < 2; i++ {
		if w := ask(t, h, "GET", "/ingress/demo", "Bearer flaky", "/services/x/y"); w.Code != 503 {
			t.Fatalf("got %d", w.Code)
		}
	}
	if asked != 3 {
		t.Fatalf("upstream asked %d times, want 3 (one 401, two 503)", asked)
	}
}

func TestReviewsAndAnExpiredAnswerGoUpstream(t *testing.T) {
	var asked int32
	up := upstream(t, &asked)
	defer up.Close()
	h := handler(up.URL, 20*time.Millisecond, 100)
	ask(t, h, "POST", "/review", "Bearer a", "")
	ask(t, h, "POST", "/review", "Bearer a", "")
	ask(t, h, "GET", "/ingress/demo", "Bearer a", "/services/x/y")
	time.Sleep(30 * time.Millisecond)
	ask(t, h, "GET", "/ingress/demo", "Bearer a", "/services/x/y")
	if asked != 4 {
		t.Fatalf("upstream asked %d times, want 4", asked)
	}
}

func TestNoUpstreamIsA503(t *testing.T) {
	h := handler("http://127.0.0.1:1", time.Minute, 100)
	if w := ask(t, h, "GET", "/ingress/demo", "Bearer a", "/services/x/y"); w.Code != 503 {
		t.Fatalf("got %d", w.Code)
	}
}
