package httpapi_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"math/rand"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/auditevents/auditevents"
	"github.com/auditevents/auditevents/httpapi"
	"github.com/auditevents/auditevents/store/memstore"
)

// Mount both endpoints on the host's own ServeMux, beside its other routes.
func Example() {
	store := memstore.New()
	defer store.Close()
	err := store.Append(context.Background(), auditevents.AuditEvent{
		ID:            "01JP9ZMQCNABYZR1S1G9JMY5HZ",
		Timestamp:     time.Date(2025, 3, 14, 9, 26, 53, 0, time.UTC),
		User:          "alice",
		Action:        auditevents.ActionCreated,
		ResourceKind:  auditevents.KindConfiguration,
		ResourceName:  "prod",
		Configuration: "prod:1",
	})
	if err != nil {
		log.Fatal(err)
	}

	api, err := httpapi.New(store, &httpapi.Options{
		// Every request needs the API key; all events are one account's.
		Authorize: func(r *http.Request) (string, error) {
			if r.Header.Get("X-Bindplane-Api-Key") != "secret" {
				return "", httpapi.ErrUnauthorized
			}
			return "", nil
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok\n")
	})
	api.Register(mux) // GET /v1/audit-events and /v1/audit-events/download

	srv := httptest.NewServer(mux)
	defer srv.Close()
	for _, path := range []string{"/healthz", "/v1/audit-events?user=alice", "/v1/audit-events?user=bob"} {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+path, nil)
		req.Header.Set("X-Bindplane-Api-Key", "secret")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			log.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		fmt.Printf("%s %d %s\n", path, res.StatusCode, body)
	}
	res, err := http.Get(srv.URL + "/v1/audit-events")
	if err != nil {
		log.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	fmt.Printf("without a key: %d %s\n", res.StatusCode, body)
	// Output:
	// /healthz 200 ok
	//
	// /v1/audit-events?user=alice 200 [{"id":"01JP9ZMQCNABYZR1S1G9JMY5HZ","timestamp":"2025-03-14T09:26:53.000000Z","account":"","user":"alice","action":"Created","resourceKind":"Configuration","resourceName":"prod","configuration":"prod:1","description":""}]
	// /v1/audit-events?user=bob 200 []
	// without a key: 401 {"errors":["missing or invalid credentials"]}
}

// Page through the events with limit: each page that is not the last names
// the next one in its Link header.
func ExampleHandler_List() {
	store := memstore.New()
	defer store.Close()
	rec := auditevents.NewRecorder(store, &auditevents.RecorderOptions{
		Now:     func() time.Time { return time.Date(2025, 3, 14, 9, 0, 0, 0, time.UTC) },
		Entropy: rand.New(rand.NewSource(1)), // deterministic IDs
	})
	for _, user := range []string{"alice", "bob", "carol"} {
		if err := rec.Record(context.Background(), auditevents.AuditEvent{User: user, Action: auditevents.ActionCreated, ResourceKind: auditevents.KindUser}); err != nil {
			log.Fatal(err)
		}
	}
	api, err := httpapi.New(store, nil)
	if err != nil {
		log.Fatal(err)
	}
	// The plain handler, served by hand; Link names the path it was asked at.
	list := api.List()

	next := "/v1/audit-events?limit=2"
	for next != "" {
		w := httptest.NewRecorder()
		list.ServeHTTP(w, httptest.NewRequest(http.MethodGet, next, nil))
		var page []auditevents.AuditEvent
		if err := json.Unmarshal(w.Body.Bytes(), &page); err != nil {
			log.Fatal(err)
		}
		for _, e := range page {
			fmt.Print(e.User, " ")
		}
		fmt.Println("|", w.Header().Get("Link"))
		next = ""
		if link := w.Header().Get("Link"); link != "" {
			next = link[1 : len(link)-len(`>; rel="next"`)]
		}
	}
	// Output:
	// carol bob | </v1/audit-events?cursor=1741942800000000_01JP9Y3FM0ABYZR1S1GBEMMSVC&limit=2>; rel="next"
	// alice |
}

// List the routes, to mount them on a router that Register cannot use, such
// as gorilla/mux, echo or gin: each handler, for every method, at a prefix
// plus its pattern.
func ExampleHandler_Routes() {
	api, err := httpapi.New(memstore.New(), nil)
	if err != nil {
		log.Fatal(err)
	}
	for _, rt := range api.Routes() {
		fmt.Println(rt.Method, api.Prefix()+rt.Pattern)
	}
	// Output:
	// GET /v1/audit-events
	// GET /v1/audit-events/download
}

// Follow an account's events as they are committed, and resume after the
// last one received, as EventSource does when it reconnects.
func ExampleHandler_Tail() {
	store := memstore.New()
	defer store.Close()
	api, err := httpapi.New(store, &httpapi.Options{Tail: &httpapi.TailOptions{}})
	if err != nil {
		log.Fatal(err)
	}
	srv := httptest.NewServer(api.Tail())
	defer srv.Close()

	// from=0: the whole log, then what comes.
	res, err := http.Get(srv.URL + "?from=0&action=Created")
	if err != nil {
		log.Fatal(err)
	}
	defer res.Body.Close()
	for i, action := range []auditevents.Action{auditevents.ActionCreated, auditevents.ActionModified, auditevents.ActionCreated} {
		err := store.Append(context.Background(), auditevents.AuditEvent{
			ID:           fmt.Sprintf("01JP9ZMQCNABYZR1S1G9JMY5H%d", i),
			Timestamp:    time.Date(2025, 3, 14, 9, 26, 53+i, 0, time.UTC),
			User:         "alice",
			Action:       action,
			ResourceKind: auditevents.KindConfiguration,
			ResourceName: "prod",
		})
		if err != nil {
			log.Fatal(err)
		}
	}
	lines := bufio.NewScanner(res.Body)
	for range 8 { // the start, then the two events created: ids -1, 0 and 2
		lines.Scan()
		fmt.Println(lines.Text())
	}

	// Reconnecting with the last id received resumes after it.
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"?action=Created", nil)
	req.Header.Set(httpapi.LastEventIDHeader, "0")
	res2, err := http.DefaultClient.Do(req)
	if err != nil {
		log.Fatal(err)
	}
	defer res2.Body.Close()
	lines = bufio.NewScanner(res2.Body)
	for range 4 {
		lines.Scan()
		fmt.Println(lines.Text())
	}
	// Output:
	// id: -1
	//
	// id: 0
	// data: {"id":"01JP9ZMQCNABYZR1S1G9JMY5H0","timestamp":"2025-03-14T09:26:53.000000Z","account":"","user":"alice","action":"Created","resourceKind":"Configuration","resourceName":"prod","configuration":"","description":""}
	//
	// id: 2
	// data: {"id":"01JP9ZMQCNABYZR1S1G9JMY5H2","timestamp":"2025-03-14T09:26:55.000000Z","account":"","user":"alice","action":"Created","resourceKind":"Configuration","resourceName":"prod","configuration":"","description":""}
	//
	// id: 0
	//
	// id: 2
	// data: {"id":"01JP9ZMQCNABYZR1S1G9JMY5H2","timestamp":"2025-03-14T09:26:55.000000Z","account":"","user":"alice","action":"Created","resourceKind":"Configuration","resourceName":"prod","configuration":"","description":""}
}
