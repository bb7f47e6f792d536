package stack

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// MailpitConfig places Mailpit's SMTP server and HTTP API.
type MailpitConfig struct {
	SMTPAddr, HTTPAddr string
}

// StartMailpit starts Mailpit (built by BuildTools) keeping every message
// (--max 0) uncompressed (no CPU spent compressing each 30 KB email;
// Mailpit is among the dearest processes of a load run) in a database in
// memory, and waits for its API.
//
// In memory: Mailpit's own default is a temporary file on disk, where it
// wrote about 160 KB per email (the message, SQLite's WAL, its indexes),
// so a load run's emails went to disk beside RabbitMQ's and PostgreSQL's
// synced writes. The database is removed when the stack closes.
func (s *Stack) StartMailpit(ctx context.Context, cfg MailpitConfig) error {
	if cfg.SMTPAddr == "" {
		cfg.SMTPAddr = "127.0.0.1:1025"
	}
	if cfg.HTTPAddr == "" {
		cfg.HTTPAddr = "127.0.0.1:8025"
	}
	dir, err := memoryTempDir("staybook-mailpit-")
	if err != nil {
		return fmt.Errorf("mailpit: %w", err)
	}
	p, err := s.StartProgram("mailpit", filepath.Join(s.cfg.BinDir, "mailpit"),
		[]string{"--smtp", cfg.SMTPAddr, "--listen", cfg.HTTPAddr, "--max", "0", "--compression", "0", "--disable-version-check",
			"--smtp-disable-rdns", "--quiet", "--database", filepath.Join(dir, "mailpit.db")}, nil)
	if err != nil {
		os.RemoveAll(dir)
		return err
	}
	// Removed when the stack closes, after Mailpit has exited (a goroutine
	// waiting for its exit would race the end of the process that runs the
	// stack: make dev left empty directories behind).
	s.onClose(func() { os.RemoveAll(dir) })
	return WaitHTTP(ctx, "http://"+cfg.HTTPAddr+"/api/v1/info", p, 60*time.Second)
}

// JaegerConfig places Jaeger's OTLP receivers and query API. Empty
// addresses keep the defaults of deployments/jaeger/local.yaml (4317, 4318,
// 16686, 16685 on 127.0.0.1).
type JaegerConfig struct {
	// ConfigFile is a Jaeger v2 configuration (deployments/jaeger/local.yaml).
	ConfigFile string
	// QueryAddr, QueryGRPCAddr, OTLPGRPCAddr, OTLPHTTPAddr move its ports.
	QueryAddr, QueryGRPCAddr, OTLPGRPCAddr, OTLPHTTPAddr string
}

// StartJaeger starts Jaeger v2 (all in one, in memory) and waits for its query API.
func (s *Stack) StartJaeger(ctx context.Context, cfg JaegerConfig) error {
	if cfg.ConfigFile == "" {
		cfg.ConfigFile = filepath.Join(s.cfg.Root, "deployments", "jaeger", "local.yaml")
	}
	if cfg.QueryAddr == "" {
		cfg.QueryAddr = "127.0.0.1:16686"
	}
	env := os.Environ()
	for k, v := range map[string]string{
		"JAEGER_QUERY_HTTP": cfg.QueryAddr, "JAEGER_QUERY_GRPC": cfg.QueryGRPCAddr,
		"JAEGER_OTLP_GRPC": cfg.OTLPGRPCAddr, "JAEGER_OTLP_HTTP": cfg.OTLPHTTPAddr,
	} {
		if v != "" {
			env = append(env, k+"="+v)
		}
	}
	p, err := s.StartProgram("jaeger", filepath.Join(s.cfg.BinDir, "jaeger"), []string{"--config", "file:" + cfg.ConfigFile}, env)
	if err != nil {
		return err
	}
	if err := WaitHTTP(ctx, "http://"+cfg.QueryAddr+"/api/services", p, 90*time.Second); err != nil {
		return fmt.Errorf("jaeger: %w", err)
	}
	return nil
}

// memoryTempDir makes a temporary directory in /dev/shm (Linux's tmpfs: its
// files live in memory), or in the system's temporary directory where there
// is no /dev/shm to write to.
func memoryTempDir(pattern string) (string, error) {
	if dir, err := os.MkdirTemp("/dev/shm", pattern); err == nil {
		return dir, nil
	}
	return os.MkdirTemp("", pattern)
}
