package chaos

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/staybook/staybook/shared/testkit"
)

// PostgresCluster is a PostgreSQL cluster of the chaos run's own: initdb in a
// folder of its own, a port of its own, trust authentication on 127.0.0.1,
// run with pg_ctl as the postgres user (PostgreSQL refuses to run as root).
type PostgresCluster struct {
	// Port is the cluster's TCP port on 127.0.0.1.
	Port int
	// StopMode is pg_ctl's shutdown mode for Restart: "immediate" (the
	// default: a crash, then recovery from the WAL at start), "fast" or "smart".
	StopMode string
	// Down is how long Restart keeps the server stopped.
	Down time.Duration

	dir, data, socket, logFile string
	bin                        string
	runAs                      []string // runuser -u postgres --, when root
}

// errNotRoot explains why the private PostgreSQL needs root.
var errNotRoot = errors.New("the private PostgreSQL cluster runs as the postgres user: run as root or as postgres")

// PostgresBinDir finds PostgreSQL's server programs: $PG_BINDIR, else the
// newest /usr/lib/postgresql/<version>/bin (Debian), else pg_ctl's folder on the PATH.
func PostgresBinDir() (string, error) {
	if d := os.Getenv("PG_BINDIR"); d != "" {
		return d, nil
	}
	versions, _ := filepath.Glob("/usr/lib/postgresql/*/bin/pg_ctl")
	sort.Slice(versions, func(i, j int) bool { return pgVersion(versions[i]) > pgVersion(versions[j]) })
	if len(versions) > 0 {
		return filepath.Dir(versions[0]), nil
	}
	p, err := exec.LookPath("pg_ctl")
	if err != nil {
		return "", fmt.Errorf("PostgreSQL server programs not found (set PG_BINDIR): %w", err)
	}
	return filepath.Dir(p), nil
}

func pgVersion(pgCtlPath string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(pgCtlPath))))
	return v
}

// NewPostgresCluster runs initdb in dir (which it creates) and picks a free port.
func NewPostgresCluster(ctx context.Context, dir string) (*PostgresCluster, error) {
	bin, err := PostgresBinDir()
	if err != nil {
		return nil, err
	}
	ports, err := testkit.FreePorts(1)
	if err != nil {
		return nil, err
	}
	c := &PostgresCluster{
		Port: ports[0], StopMode: "immediate",
		dir: dir, data: filepath.Join(dir, "data"), socket: filepath.Join(dir, "socket"), logFile: filepath.Join(dir, "postgres.log"),
		bin: bin,
	}
	if err := os.MkdirAll(c.socket, 0o755); err != nil {
		return nil, err
	}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			return nil, fmt.Errorf("%w: %w", errNotRoot, err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		for _, d := range []string{c.dir, c.socket} {
			if err := os.Chown(d, uid, gid); err != nil {
				return nil, fmt.Errorf("give %s to postgres: %w", d, err)
			}
		}
		runuser, err := exec.LookPath("runuser")
		if err != nil {
			return nil, fmt.Errorf("%w: runuser: %w", errNotRoot, err)
		}
		c.runAs = []string{runuser, "-u", "postgres", "--"}
	}
	// --no-sync only skips flushing initdb's own files; the server itself
	// runs with fsync on, so a crash loses nothing it has committed.
	if _, err := c.run(ctx, "initdb", "-D", c.data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *PostgresCluster) run(ctx context.Context, program string, args ...string) (string, error) {
	argv := append(append(append([]string{}, c.runAs...), filepath.Join(c.bin, program)), args...)
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Dir = c.dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s %s: %w\n%s", program, strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

// URL is the URL of database db on the cluster.
func (c *PostgresCluster) URL(db string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", c.Port, db)
}

// Start starts the server and waits until it accepts connections.
func (c *PostgresCluster) Start(ctx context.Context) error {
	opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c max_connections=300", c.Port, c.socket)
	if _, err := c.run(ctx, "pg_ctl", "-D", c.data, "-o", opts, "-l", c.logFile, "-w", "-t", "120", "start"); err != nil {
		return err
	}
	return waitTCP(ctx, fmt.Sprintf("127.0.0.1:%d", c.Port), 30*time.Second)
}

// Stop stops the server with pg_ctl's mode (immediate, fast or smart).
func (c *PostgresCluster) Stop(ctx context.Context, mode string) error {
	_, err := c.run(ctx, "pg_ctl", "-D", c.data, "-m", mode, "-w", "-t", "60", "stop")
	return err
}

// Restart stops the server in StopMode and starts it again.
func (c *PostgresCluster) Restart(ctx context.Context) error {
	if err := c.Stop(ctx, c.StopMode); err != nil {
		return err
	}
	if err := sleep(ctx, c.Down); err != nil {
		return err
	}
	return c.Start(ctx)
}

// Close stops the server at once (its files are thrown away with dir).
func (c *PostgresCluster) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := os.Stat(filepath.Join(c.data, "postmaster.pid")); err != nil {
		return nil // not running
	}
	return c.Stop(ctx, "immediate")
}

// waitTCP waits until addr accepts TCP connections.
func waitTCP(ctx context.Context, addr string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		var d net.Dialer
		conn, err := d.DialContext(ctx, "tcp", addr)
		if err == nil {
			conn.Close()
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s not reachable: %w", addr, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}
