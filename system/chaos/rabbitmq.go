package chaos

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	amqp091 "github.com/rabbitmq/amqp091-go"

	"github.com/staybook/staybook/shared/testkit"
	"github.com/staybook/staybook/system/stack"
)

// RabbitNode is a RabbitMQ node of the chaos run's own, beside the machine's:
// its own node name, ports, Erlang cookie, database and logs in a folder of
// its own, started as a child process so that the run can stop and start it
// without touching anybody else's broker.
type RabbitNode struct {
	// Node is the Erlang node name (chaos-<random>@localhost).
	Node string
	// AMQPPort, ManagementPort and DistPort are the node's listeners.
	AMQPPort, ManagementPort, DistPort int
	// Crash makes Restart kill the node (SIGKILL, as a crash or an OOM kill
	// would) instead of stopping it with rabbitmqctl.
	Crash bool
	// Down is how long Restart keeps the node stopped.
	Down time.Duration

	dir    string
	server string // rabbitmq-server
	ctl    string // rabbitmqctl
	env    []string
	procs  *stack.Stack
}

// rabbitBinDirs are where RabbitMQ's own scripts live (Debian's /usr/sbin
// ones are wrappers that switch to the rabbitmq user and write their output
// to /var/log; the run needs the node as its child, with its output).
var rabbitBinDirs = []string{"/usr/lib/rabbitmq/bin"}

// NewRabbitNode prepares (but does not start) a node in dir, on free ports.
// procs supervises its process (output, stop); it must not be the stack the
// services run in, which stops its processes in its own order.
func NewRabbitNode(dir string, procs *stack.Stack) (*RabbitNode, error) {
	server, err := findProgram("rabbitmq-server", "RABBITMQ_SERVER", rabbitBinDirs)
	if err != nil {
		return nil, err
	}
	ctl, err := findProgram("rabbitmqctl", "RABBITMQ_CTL", rabbitBinDirs)
	if err != nil {
		return nil, err
	}
	ports, err := testkit.FreePorts(3)
	if err != nil {
		return nil, err
	}
	n := &RabbitNode{
		Node:     "chaos-" + randomHex(4) + "@localhost",
		AMQPPort: ports[0], ManagementPort: ports[1], DistPort: ports[2],
		dir: dir, server: server, ctl: ctl, procs: procs,
	}
	home := filepath.Join(dir, "home")
	for _, d := range []string{home, filepath.Join(dir, "mnesia"), filepath.Join(dir, "log")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
	}
	// The cookie only has to match between this node and the rabbitmqctl
	// calls below, both of which get HOME=dir/home; Erlang refuses a cookie
	// file that others can read.
	cookie := filepath.Join(home, ".erlang.cookie")
	if err := os.WriteFile(cookie, []byte(strings.ToUpper(randomHex(16))), 0o400); err != nil {
		return nil, fmt.Errorf("erlang cookie: %w", err)
	}
	files := map[string]string{
		"enabled_plugins": "[rabbitmq_management].\n",
		"rabbitmq.conf": fmt.Sprintf("listeners.tcp.default = 127.0.0.1:%d\nmanagement.tcp.ip = 127.0.0.1\nmanagement.tcp.port = %d\n",
			n.AMQPPort, n.ManagementPort),
		// An empty rabbitmq-env.conf: the machine's (/etc/rabbitmq) sets
		// NODENAME and would make this node collide with the real one.
		"rabbitmq-env.conf": "",
	}
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			return nil, err
		}
	}
	n.env = append(os.Environ(),
		"HOME="+home,
		"RABBITMQ_CONF_ENV_FILE="+filepath.Join(dir, "rabbitmq-env.conf"),
		"RABBITMQ_NODENAME="+n.Node,
		fmt.Sprintf("RABBITMQ_NODE_PORT=%d", n.AMQPPort),
		fmt.Sprintf("RABBITMQ_DIST_PORT=%d", n.DistPort),
		"RABBITMQ_NODE_IP_ADDRESS=127.0.0.1",
		"RABBITMQ_MNESIA_BASE="+filepath.Join(dir, "mnesia"),
		"RABBITMQ_LOG_BASE="+filepath.Join(dir, "log"),
		"RABBITMQ_PLUGINS_EXPAND_DIR="+filepath.Join(dir, "plugins-expand"),
		"RABBITMQ_PID_FILE="+filepath.Join(dir, "rabbitmq.pid"),
		"RABBITMQ_ENABLED_PLUGINS_FILE="+filepath.Join(dir, "enabled_plugins"),
		"RABBITMQ_CONFIG_FILE="+filepath.Join(dir, "rabbitmq.conf"),
		"ERL_EPMD_ADDRESS=127.0.0.1",
		"RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS=-kernel inet_dist_use_interface {127,0,0,1}",
	)
	return n, nil
}

// URL is the AMQP URL of the node's default vhost.
func (n *RabbitNode) URL() string {
	return fmt.Sprintf("amqp://guest:guest@127.0.0.1:%d/", n.AMQPPort)
}

// ManagementURL is the node's management API, with credentials.
func (n *RabbitNode) ManagementURL() string {
	return fmt.Sprintf("http://guest:guest@127.0.0.1:%d", n.ManagementPort)
}

const rabbitProcess = "rabbitmq"

// Start starts the node and waits until it takes AMQP connections and its
// management API answers.
func (n *RabbitNode) Start(ctx context.Context) error {
	p, err := n.procs.StartProgram(rabbitProcess, n.server, nil, n.env)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	for {
		select {
		case <-p.Done():
			return fmt.Errorf("rabbitmq node %s exited at start: %v (logs in %s)", n.Node, p.Err(), filepath.Join(n.dir, "log"))
		default:
		}
		if n.ready(ctx) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("rabbitmq node %s not ready: %w", n.Node, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func (n *RabbitNode) ready(ctx context.Context) bool {
	conn, err := amqp091.Dial(n.URL())
	if err != nil {
		return false
	}
	conn.Close()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("http://127.0.0.1:%d/api/overview", n.ManagementPort), nil)
	req.SetBasicAuth("guest", "guest")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// Stop stops the node the way an operator would (rabbitmqctl stop), and
// waits for its process to end; SIGTERM, then SIGKILL, if that fails.
func (n *RabbitNode) Stop(ctx context.Context) error {
	if n.procs.Process(rabbitProcess) == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, n.ctl, "-n", n.Node, "stop")
	cmd.Env = n.env
	out, err := cmd.CombinedOutput()
	p := n.procs.Process(rabbitProcess)
	if err == nil && p != nil {
		select {
		case <-p.Done():
		case <-ctx.Done():
		}
	}
	stopErr := n.procs.Stop(rabbitProcess, 30*time.Second)
	if err != nil {
		return fmt.Errorf("rabbitmqctl stop: %w: %s (then: %v)", err, strings.TrimSpace(string(out)), stopErr)
	}
	return nil
}

// Restart stops (or, with Crash, kills) the node and starts it again after
// Down; the durable queues and their persistent messages are kept on disk.
func (n *RabbitNode) Restart(ctx context.Context) error {
	if n.Crash {
		n.procs.Kill(rabbitProcess)
	} else if err := n.Stop(ctx); err != nil {
		return err
	}
	if err := sleep(ctx, n.Down); err != nil {
		return err
	}
	return n.Start(ctx)
}

// Alarm makes the node raise its memory alarm for d, as a node short of
// memory would: it blocks every connection that publishes, while consumers
// go on.
func (n *RabbitNode) Alarm(ctx context.Context, d time.Duration) error {
	if err := n.SetAlarm(ctx, true); err != nil {
		return err
	}
	waitErr := sleep(ctx, d)
	if err := n.SetAlarm(context.WithoutCancel(ctx), false); err != nil {
		return err
	}
	return waitErr
}

// SetAlarm raises the memory alarm (the watermark set near zero) or clears
// it (the watermark back to the default, 0.4).
func (n *RabbitNode) SetAlarm(ctx context.Context, on bool) error {
	watermark := "0.4"
	if on {
		watermark = "0.0000001"
	}
	return n.ctlRun(ctx, "set_vm_memory_high_watermark", watermark)
}

// Outage stops the node the way an operator would and starts it again
// after d.
func (n *RabbitNode) Outage(ctx context.Context, d time.Duration) error {
	if err := n.Stop(ctx); err != nil {
		return err
	}
	if err := sleep(ctx, d); err != nil {
		return err
	}
	return n.Start(ctx)
}

func (n *RabbitNode) ctlRun(ctx context.Context, args ...string) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, n.ctl, append([]string{"-n", n.Node}, args...)...)
	cmd.Env = n.env
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("rabbitmqctl %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// findProgram returns the program named by the environment variable env,
// else the first of dirs holding name, else name on the PATH.
func findProgram(name, env string, dirs []string) (string, error) {
	if p := os.Getenv(env); p != "" {
		return p, nil
	}
	for _, d := range dirs {
		p := filepath.Join(d, name)
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p, nil
		}
	}
	p, err := exec.LookPath(name)
	if err != nil {
		return "", fmt.Errorf("%s not found (set %s): %w", name, env, err)
	}
	return p, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
