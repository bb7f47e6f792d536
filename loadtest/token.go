package main

import (
	"bufio"
	"os"
	"path/filepath"
	"strings"

	"github.com/staybook/staybook/system/stack"
)

// defaultLoadTestToken is the web tier's LOADTEST_TOKEN as the operator
// has it: $LOADTEST_TOKEN, else the LOADTEST_TOKEN line of the repository's
// .env (the file `docker compose up` reads), else none. With it, a load
// test through the load balancer is not rate-limited (SECURITY.md).
func defaultLoadTestToken() string {
	if t := os.Getenv("LOADTEST_TOKEN"); t != "" {
		return t
	}
	root, err := stack.FindRoot()
	if err != nil {
		return ""
	}
	return dotEnvValue(filepath.Join(root, ".env"), "LOADTEST_TOKEN")
}

// dotEnvValue reads KEY=value from a compose .env file ("" if absent).
func dotEnvValue(path, key string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(strings.TrimSpace(sc.Text()), "=")
		if !ok || strings.TrimSpace(strings.TrimPrefix(k, "export ")) != key {
			continue
		}
		v = strings.TrimSpace(v)
		if len(v) >= 2 && (v[0] == '"' || v[0] == '\'') && v[len(v)-1] == v[0] {
			v = v[1 : len(v)-1]
		}
		return v
	}
	return ""
}
