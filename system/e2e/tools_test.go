package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/staybook/staybook/shared/testkit"
	"github.com/staybook/staybook/system/stack"
)

var toolsBuilt bool

// toolBin returns the folder holding the jaeger and mailpit binaries:
// bin/ at the root when `make tools` built them, else the test's own build.
func toolBin(t testing.TB) string {
	t.Helper()
	build(t, nil)
	rootBin := filepath.Join(root, "bin")
	if fileExists(filepath.Join(rootBin, "jaeger")) && fileExists(filepath.Join(rootBin, "mailpit")) {
		return rootBin
	}
	buildMu.Lock()
	defer buildMu.Unlock()
	if !toolsBuilt {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
		defer cancel()
		if err := stack.BuildTools(ctx, root, binDir); err != nil {
			t.Fatal(err)
		}
		toolsBuilt = true
	}
	return binDir
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// mailpit is a running Mailpit of the test's own.
type mailpit struct{ SMTP, API string }

// startMailpit starts Mailpit on free ports and points SMTP_ADDR at it;
// call it before starting the services.
func (s *system) startMailpit(t *testing.T) mailpit {
	t.Helper()
	m := mailpit{SMTP: testkit.FreeAddr(t), API: testkit.FreeAddr(t)}
	bin := toolBin(t)
	p, err := s.StartProgram("mailpit", filepath.Join(bin, "mailpit"),
		[]string{"--smtp", m.SMTP, "--listen", m.API, "--max", "0", "--disable-version-check", "--smtp-disable-rdns", "--quiet"}, nil)
	testkit.Must(t, err)
	testkit.Must(t, stack.WaitHTTP(context.Background(), "http://"+m.API+"/api/v1/info", p, time.Minute))
	s.setEnv("SMTP_ADDR", m.SMTP)
	return m
}

// jaeger is a running Jaeger of the test's own.
type jaeger struct{ Query string }

// startJaeger starts Jaeger on free ports and points the services' OTLP
// exporter at it with a short batch delay; call it before starting them.
func (s *system) startJaeger(t *testing.T) jaeger {
	t.Helper()
	bin := toolBin(t)
	cfg := stack.JaegerConfig{
		QueryAddr: testkit.FreeAddr(t), QueryGRPCAddr: testkit.FreeAddr(t),
		OTLPGRPCAddr: testkit.FreeAddr(t), OTLPHTTPAddr: testkit.FreeAddr(t),
	}
	env := append(os.Environ(), "JAEGER_QUERY_HTTP="+cfg.QueryAddr, "JAEGER_QUERY_GRPC="+cfg.QueryGRPCAddr,
		"JAEGER_OTLP_GRPC="+cfg.OTLPGRPCAddr, "JAEGER_OTLP_HTTP="+cfg.OTLPHTTPAddr)
	p, err := s.StartProgram("jaeger", filepath.Join(bin, "jaeger"),
		[]string{"--config", "file:" + filepath.Join(root, "deployments", "jaeger", "local.yaml")}, env)
	testkit.Must(t, err)
	testkit.Must(t, stack.WaitHTTP(context.Background(), "http://"+cfg.QueryAddr+"/api/services", p, 2*time.Minute))
	s.setEnv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://"+cfg.OTLPHTTPAddr)
	s.setEnv("OTEL_BSP_SCHEDULE_DELAY", "100")
	return jaeger{Query: "http://" + cfg.QueryAddr}
}

// mailpitMessage is a message as Mailpit's API lists it.
type mailpitMessage struct {
	ID        string `json:"ID"`
	MessageID string `json:"MessageID"`
	To        []struct {
		Address string `json:"Address"`
	} `json:"To"`
	Subject     string `json:"Subject"`
	Attachments int    `json:"Attachments"`
}

// messagesTo lists the messages Mailpit holds for address.
func (m mailpit) messagesTo(t testing.TB, address string) []mailpitMessage {
	t.Helper()
	return m.list(t, "/api/v1/search?query="+strings.ReplaceAll("to:"+address, "@", "%40"))
}

// list returns the messages of a Mailpit API listing (path and query).
func (m mailpit) list(t testing.TB, path string) []mailpitMessage {
	t.Helper()
	resp, err := http.Get("http://" + m.API + path)
	testkit.Must(t, err)
	defer resp.Body.Close()
	var body struct {
		Messages []mailpitMessage `json:"messages"`
	}
	testkit.Must(t, json.NewDecoder(resp.Body).Decode(&body))
	return body.Messages
}

// attachment returns the bytes of a message's first attachment.
func (m mailpit) attachment(t testing.TB, id string) (name string, data []byte) {
	t.Helper()
	resp, err := http.Get("http://" + m.API + "/api/v1/message/" + id)
	testkit.Must(t, err)
	defer resp.Body.Close()
	var msg struct {
		Attachments []struct {
			PartID   string `json:"PartID"`
			FileName string `json:"FileName"`
		} `json:"Attachments"`
	}
	testkit.Must(t, json.NewDecoder(resp.Body).Decode(&msg))
	if len(msg.Attachments) != 1 {
		t.Fatalf("message %s has %d attachments, want 1", id, len(msg.Attachments))
	}
	r := do(t, http.MethodGet, fmt.Sprintf("http://%s/api/v1/message/%s/part/%s", m.API, id, msg.Attachments[0].PartID), nil, nil)
	return msg.Attachments[0].FileName, r.Raw
}

// startReplica starts another process of service under name, on a free
// port, with the same environment, and returns its base URL.
func (s *system) startReplica(t *testing.T, service, name string) string {
	t.Helper()
	addr := testkit.FreeAddr(t)
	env := append(s.Env(service), "HTTP_ADDR="+addr) // the later value wins
	p, err := s.StartProgram(name, filepath.Join(binDir, service), nil, env)
	testkit.Must(t, err)
	testkit.Must(t, stack.WaitHTTP(context.Background(), "http://"+addr+"/readyz", p, time.Minute))
	return "http://" + addr
}

// restart starts Mailpit again on the same ports (after s.Stop("mailpit")).
func (m mailpit) restart(t *testing.T, s *system) {
	t.Helper()
	p, err := s.StartProgram("mailpit", filepath.Join(toolBin(t), "mailpit"),
		[]string{"--smtp", m.SMTP, "--listen", m.API, "--max", "0", "--disable-version-check", "--smtp-disable-rdns", "--quiet"}, nil)
	testkit.Must(t, err)
	testkit.Must(t, stack.WaitHTTP(context.Background(), "http://"+m.API+"/api/v1/info", p, time.Minute))
}
