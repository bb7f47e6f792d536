package stack

import (
	"context"
	"fmt"
	"path/filepath"
	"time"
)

// MailpitConfig places Mailpit's SMTP server and HTTP API.
type MailpitConfig struct {
	SMTPAddr, HTTPAddr string
}

// StartMailpit starts Mailpit (built by BuildTools) keeping every message
// (--max 0) in memory, and waits for its API.
func (s *Stack) StartMailpit(ctx context.Context, cfg MailpitConfig) error {
	if cfg.SMTPAddr == "" {
		cfg.SMTPAddr = "127.0.0.1:1025"
	}
	if cfg.HTTPAddr == "" {
		cfg.HTTPAddr = "127.0.0.1:8025"
	}
	p, err := s.StartProgram("mailpit", filepath.Join(s.cfg.BinDir, "mailpit"),
		[]string{"--smtp", cfg.SMTPAddr, "--listen", cfg.HTTPAddr, "--max", "0", "--disable-version-check",
			"--smtp-disable-rdns", "--quiet"}, nil)
	if err != nil {
		return err
	}
	return WaitHTTP(ctx, "http://"+cfg.HTTPAddr+"/api/v1/info", p, 60*time.Second)
}

// JaegerConfig places Jaeger's OTLP receivers and query API. Empty fields
// keep Jaeger's defaults (4317, 4318, 16686).
type JaegerConfig struct {
	// ConfigFile is a Jaeger v2 configuration (deployments/jaeger/local.yaml).
	ConfigFile string
	// QueryURL is where its query API answers, to wait for it.
	QueryURL string
}

// StartJaeger starts Jaeger v2 (all in one, in memory) and waits for its query API.
func (s *Stack) StartJaeger(ctx context.Context, cfg JaegerConfig) error {
	var args []string
	if cfg.ConfigFile != "" {
		args = append(args, "--config", "file:"+cfg.ConfigFile)
	}
	if cfg.QueryURL == "" {
		cfg.QueryURL = "http://127.0.0.1:16686"
	}
	p, err := s.StartProgram("jaeger", filepath.Join(s.cfg.BinDir, "jaeger"), args, nil)
	if err != nil {
		return err
	}
	if err := WaitHTTP(ctx, cfg.QueryURL+"/api/services", p, 90*time.Second); err != nil {
		return fmt.Errorf("jaeger: %w", err)
	}
	return nil
}
