package main

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
)

// The first line the server prints is the viewer's URL, which serves the
// page, and the key to sign in with.
func TestViewerURLComesFirst(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"-addr", "127.0.0.1:0", "-db", filepath.Join(t.TempDir(), "audit.db"), "-keys", "k1=acme"}, pw, io.Discard)
		pw.Close()
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	}()
	sc := bufio.NewScanner(pr)
	if !sc.Scan() {
		t.Fatal("the server printed nothing")
	}
	first := sc.Text()
	go io.Copy(io.Discard, pr)
	prefix, rest, ok := strings.Cut(first, "Audit log viewer: ")
	url, _, _ := strings.Cut(rest, " ")
	if !ok || prefix != "" || !strings.HasSuffix(url, "/v1/audit-events/viewer/") || !strings.Contains(first, "API key k1") {
		t.Fatalf("the first line is %q, want the viewer's URL and the key k1", first)
	}
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	page, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(page), `data-key-header="X-Bindplane-Api-Key"`) {
		t.Errorf("GET %s: %d, a page that does not ask for the X-Bindplane-Api-Key header:\n%.300s", url, resp.StatusCode, page)
	}
}
