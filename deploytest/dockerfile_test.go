package deploytest

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/linter"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"
)

const dockerfile = "Dockerfile"

// goBuildServiceRe matches the build of the service's main package:
// go build ... ./services/${SERVICE} (not one of its sub-packages).
// loadtestImage is the SERVICE that builds the load test (loadtest/) rather
// than a service: the compose profile loadtest runs it.
const loadtestImage = "loadtest"

var goBuildServiceRe = regexp.MustCompile(`go build [^;&|]*"?\./services/\$\{?SERVICE\}?"?(?:[\s;]|$)`)

// dockerfileStages parses the Dockerfile with BuildKit's own parser; its
// lint warnings (those found while parsing) are returned as problems.
func dockerfileStages(t testing.TB, src string) ([]instructions.Stage, []instructions.ArgCommand, []string) {
	t.Helper()
	res, err := parser.Parse(strings.NewReader(src))
	if err != nil {
		t.Fatalf("%s does not parse: %v", dockerfile, err)
	}
	var problems []string
	for _, w := range res.Warnings {
		problems = append(problems, fmt.Sprintf("%s:%d: %s", dockerfile, w.Location.Start.Line, w.Short))
	}
	lint := linter.New(&linter.Config{Warn: func(rule, description, url, msg string, loc []parser.Range) {
		line := 0
		if len(loc) > 0 {
			line = loc[0].Start.Line
		}
		problems = append(problems, fmt.Sprintf("%s:%d: %s: %s", dockerfile, line, rule, msg))
	}})
	stages, metaArgs, err := instructions.Parse(res.AST, lint)
	if err != nil {
		t.Fatalf("%s: %v", dockerfile, err)
	}
	if len(stages) == 0 {
		t.Fatalf("%s has no stage", dockerfile)
	}
	return stages, metaArgs, problems
}

func loadDockerfile(t testing.TB) string {
	return readFile(t, filepath.Join(repoRoot(t), dockerfile))
}

func commandLine(c instructions.Command) string {
	switch c := c.(type) {
	case *instructions.RunCommand:
		return strings.Join(c.CmdLine, " ")
	case *instructions.EntrypointCommand:
		return strings.Join(c.CmdLine, " ")
	}
	return ""
}

// buildStage is the stage that compiles the services (go build).
func buildStage(stages []instructions.Stage) *instructions.Stage {
	for i := range stages {
		for _, c := range stages[i].Commands {
			if strings.Contains(commandLine(c), "go build") {
				return &stages[i]
			}
		}
	}
	return nil
}

func checkDockerfileUser(stages []instructions.Stage) []string {
	final := stages[len(stages)-1]
	user := ""
	for _, c := range final.Commands {
		if u, ok := c.(*instructions.UserCommand); ok {
			user = u.User
		}
	}
	name, _, _ := strings.Cut(user, ":")
	switch {
	case user == "":
		return []string{"the final stage sets no USER: the container would run as the base image's user"}
	case name == "root" || name == "0":
		return []string{"the final stage runs as root (USER " + user + ")"}
	}
	if n, err := strconv.Atoi(name); err != nil {
		return []string{fmt.Sprintf("USER %s: use a numeric UID, or Kubernetes' runAsNonRoot cannot verify it", user)}
	} else if n <= 0 {
		return []string{"USER " + user + " is root"}
	}
	return nil
}

func checkDockerfileBaseImages(stages []instructions.Stage, metaArgs []instructions.ArgCommand) []string {
	args := map[string]string{}
	for _, a := range metaArgs {
		for _, kv := range a.Args {
			if kv.Value != nil {
				args[kv.Key] = *kv.Value
			}
		}
	}
	var out []string
	var names []string
	for _, s := range stages {
		base := os.Expand(s.BaseName, func(k string) string { return args[k] })
		switch {
		case slices.Contains(names, base), base == "scratch":
		default:
			if problem := imagePinProblem(base); problem != "" {
				out = append(out, fmt.Sprintf("FROM %s: not pinned: %s", s.BaseName, problem))
			}
		}
		if s.Name != "" {
			names = append(names, s.Name)
		}
	}
	return out
}

// checkDockerfileBuild: the build stage takes the SERVICE argument, builds
// ./services/$SERVICE statically, and the final stage runs that binary as
// /app, which the health checks call (`/app healthcheck`).
func checkDockerfileBuild(stages []instructions.Stage) []string {
	var out []string
	build := buildStage(stages)
	if build == nil {
		return []string{"no stage runs go build"}
	}
	hasArg, cgoOff, builds := false, false, false
	for _, c := range build.Commands {
		switch c := c.(type) {
		case *instructions.ArgCommand:
			for _, kv := range c.Args {
				hasArg = hasArg || kv.Key == "SERVICE"
			}
		case *instructions.EnvCommand:
			for _, kv := range c.Env {
				cgoOff = cgoOff || (kv.Key == "CGO_ENABLED" && kv.Value == "0")
			}
		case *instructions.RunCommand:
			line := commandLine(c)
			cgoOff = cgoOff || strings.Contains(line, "CGO_ENABLED=0")
			builds = builds || goBuildServiceRe.MatchString(line)
		}
	}
	if !hasArg {
		out = append(out, "the build stage declares no ARG SERVICE")
	}
	if !builds {
		out = append(out, "no go build of ./services/${SERVICE}")
	}
	if !cgoOff {
		out = append(out, "CGO_ENABLED=0 is not set: the binary would need the C library the runtime image lacks")
	}
	final := stages[len(stages)-1]
	entry, copied := "", false
	for _, c := range final.Commands {
		switch c := c.(type) {
		case *instructions.EntrypointCommand:
			if c.PrependShell {
				out = append(out, "ENTRYPOINT in shell form: the runtime image has no shell")
			}
			entry = strings.Join(c.CmdLine, " ")
		case *instructions.CopyCommand:
			copied = copied || (c.From == build.Name && c.DestPath == "/app")
		}
	}
	if entry != "/app" {
		out = append(out, fmt.Sprintf(`ENTRYPOINT %q, want ["/app"] (the health checks run /app healthcheck)`, entry))
	}
	if !copied {
		out = append(out, "the final stage does not copy the binary from the build stage to /app")
	}
	return out
}

// checkComposeBuilds: every Staybook service is built from this Dockerfile
// with its own name as SERVICE, and every service the Dockerfile is asked
// to build exists.
func checkComposeBuilds(t testing.TB, root string, p *types.Project) []string {
	var out []string
	for _, svc := range serviceDirs(t) {
		s, ok := p.Services[svc]
		if !ok || s.Build == nil {
			out = append(out, svc+": no build section in "+composeFile)
			continue
		}
		ctx := s.Build.Context
		if !filepath.IsAbs(ctx) {
			ctx = filepath.Join(root, ctx)
		}
		file := s.Build.Dockerfile
		if file == "" {
			file = dockerfile
		}
		if !filepath.IsAbs(file) {
			file = filepath.Join(ctx, file)
		}
		if filepath.Clean(ctx) != filepath.Clean(root) {
			out = append(out, fmt.Sprintf("%s: build context %s, want the repository root (go.work, shared/, services/)", svc, ctx))
		}
		if filepath.Clean(file) != filepath.Join(root, dockerfile) {
			out = append(out, fmt.Sprintf("%s: built from %s, want %s", svc, file, dockerfile))
		}
		if arg := s.Build.Args["SERVICE"]; arg == nil || *arg != svc {
			out = append(out, fmt.Sprintf("%s: build argument SERVICE is %v, want %q", svc, deref(arg), svc))
		}
		if repo, _, _ := splitImage(s.Image); path.Base(repo) != svc {
			out = append(out, fmt.Sprintf("%s: image %q is not named after the service", svc, s.Image))
		}
	}
	for name, s := range p.Services {
		if s.Build == nil || s.Build.Args["SERVICE"] == nil {
			continue
		}
		if arg := *s.Build.Args["SERVICE"]; !isStaybookService(t, arg) && arg != loadtestImage {
			out = append(out, fmt.Sprintf("%s: SERVICE=%s names no directory of services/ (nor %s)", name, arg, loadtestImage))
		}
	}
	return out
}

func deref(s *string) string {
	if s == nil {
		return "<unset>"
	}
	return strconv.Quote(*s)
}

func TestDockerfile_ParsesWithoutLintWarnings(t *testing.T) {
	t.Parallel()
	_, _, problems := dockerfileStages(t, loadDockerfile(t))
	report(t, problems)
}

func TestDockerfile_FinalStageRunsAsANonRootUser(t *testing.T) {
	t.Parallel()
	stages, _, _ := dockerfileStages(t, loadDockerfile(t))
	report(t, checkDockerfileUser(stages))
}

func TestDockerfile_EveryBaseImageIsPinned(t *testing.T) {
	t.Parallel()
	stages, metaArgs, _ := dockerfileStages(t, loadDockerfile(t))
	report(t, checkDockerfileBaseImages(stages, metaArgs))
}

func TestDockerfile_BuildsTheServiceTheArgumentNames(t *testing.T) {
	t.Parallel()
	stages, _, _ := dockerfileStages(t, loadDockerfile(t))
	report(t, checkDockerfileBuild(stages))
	report(t, checkComposeBuilds(t, repoRoot(t), loadCompose(t)))
}

// TestDockerfile_BuildContextHoldsEverythingEachServiceNeeds does what
// `docker build` does up to the compilation, without Docker: it takes the
// files that .dockerignore lets into the build context, performs the build
// stage's COPY instructions and its RUN steps that do not compile (the
// go.work trimming), and asks `go list` whether every service's packages,
// imports and embedded files resolve there. A .dockerignore that drops a
// needed file, a COPY that misses a module, or a go.work entry the image
// lacks fails here rather than in someone's `docker compose up --build`.
func TestDockerfile_BuildContextHoldsEverythingEachServiceNeeds(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("runs go list over every service")
	}
	root := repoRoot(t)
	stages, _, _ := dockerfileStages(t, loadDockerfile(t))
	build := buildStage(stages)
	if build == nil {
		t.Fatal("no build stage")
	}
	context := t.TempDir()
	for _, rel := range buildContextFiles(t, root) {
		copyFile(t, filepath.Join(root, rel), filepath.Join(context, rel))
	}
	image := t.TempDir()
	workdir := image
	env := []string{"GOWORK=", "GOFLAGS=", "GOTOOLCHAIN=local"}
	for _, c := range build.Commands {
		switch c := c.(type) {
		case *instructions.WorkdirCommand:
			workdir = filepath.Join(image, c.Path)
			if err := os.MkdirAll(workdir, 0o755); err != nil {
				t.Fatal(err)
			}
		case *instructions.EnvCommand:
			for _, kv := range c.Env {
				env = append(env, kv.Key+"="+kv.Value)
			}
		case *instructions.CopyCommand:
			if c.From != "" {
				continue
			}
			for _, src := range c.SourcePaths {
				dockerCopy(t, context, src, workdir, c.DestPath)
			}
		case *instructions.RunCommand:
			line := commandLine(c)
			if strings.Contains(line, "go build") {
				continue
			}
			cmd := exec.Command("sh", "-c", line)
			cmd.Dir = workdir
			cmd.Env = append(os.Environ(), env...)
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("RUN %s: %v\n%s", line, err, out)
			}
		}
	}
	for _, svc := range append(serviceDirs(t), loadtestImage) {
		patterns := []string{"./services/" + svc}
		if svc == loadtestImage {
			patterns = []string{"./" + loadtestImage}
		} else if _, err := os.Stat(filepath.Join(root, "services", svc, "cmd")); err == nil {
			patterns = append(patterns, "./services/"+svc+"/cmd/...")
		}
		args := append([]string{"list", "-e", "-deps", "-f",
			`{{with .Error}}{{$.ImportPath}}: {{.}}{{"\n"}}{{end}}{{range .DepsErrors}}{{$.ImportPath}}: {{.}}{{"\n"}}{{end}}`}, patterns...)
		cmd := exec.Command("go", args...)
		cmd.Dir = workdir
		cmd.Env = append(os.Environ(), env...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil || len(bytes.TrimSpace(out)) > 0 {
			t.Errorf("service %s does not resolve in the image's build stage: %v\n%s%s", svc, err, out, stderr.Bytes())
		}
	}
}

// buildContextFiles lists the files .dockerignore lets into the context.
func buildContextFiles(t testing.TB, root string) []string {
	t.Helper()
	f, err := os.Open(filepath.Join(root, ".dockerignore"))
	if err != nil {
		t.Fatalf(".dockerignore: %v (without it the context is the whole repository, .git included)", err)
	}
	defer f.Close()
	patterns, err := ignorefile.ReadAll(f)
	if err != nil {
		t.Fatal(err)
	}
	pm, err := patternmatcher.New(patterns)
	if err != nil {
		t.Fatal(err)
	}
	// An excluded directory is walked only if an exception pattern could
	// let something inside it back in.
	reincluded := func(dir string) bool {
		for _, p := range pm.Patterns() {
			text := p.String()
			if p.Exclusion() && (strings.HasPrefix(text, dir+"/") || text == dir || strings.HasPrefix(text, "**")) {
				return true
			}
		}
		return false
	}
	var files []string
	err = filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if rel == "." {
			return nil
		}
		rel = filepath.ToSlash(rel)
		excluded, err := pm.MatchesOrParentMatches(rel)
		if err != nil {
			return err
		}
		if d.IsDir() {
			if rel == ".git" || (excluded && !reincluded(rel)) {
				return filepath.SkipDir
			}
			return nil
		}
		if !excluded && d.Type().IsRegular() {
			files = append(files, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// dockerCopy performs `COPY src dest` (sources relative to the context,
// dest relative to the working directory): a directory's contents go into
// dest; a file goes into dest/ when dest ends with a slash or is ".".
func dockerCopy(t testing.TB, context, src, workdir, dest string) {
	t.Helper()
	from := filepath.Join(context, src)
	to := dest
	if !filepath.IsAbs(to) {
		to = filepath.Join(workdir, dest)
	}
	info, err := os.Stat(from)
	if err != nil {
		t.Fatalf("COPY %s %s: %s is not in the build context (.dockerignore?): %v", src, dest, src, err)
	}
	if !info.IsDir() {
		if strings.HasSuffix(dest, "/") || dest == "." || dest == "./" {
			to = filepath.Join(to, filepath.Base(src))
		}
		copyFile(t, from, to)
		return
	}
	err = filepath.WalkDir(from, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(from, p)
		copyFile(t, p, filepath.Join(to, rel))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func copyFile(t testing.TB, from, to string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
		t.Fatal(err)
	}
	in, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.Create(to)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestDockerfileChecks_CatchCommonMistakes(t *testing.T) {
	t.Parallel()
	src := loadDockerfile(t)
	check := func(src string) []string {
		stages, metaArgs, problems := dockerfileStages(t, src)
		problems = append(problems, checkDockerfileUser(stages)...)
		problems = append(problems, checkDockerfileBaseImages(stages, metaArgs)...)
		return append(problems, checkDockerfileBuild(stages)...)
	}
	if got := check(src); len(got) != 0 {
		t.Fatalf("the checks fail on the real Dockerfile already: %v", got)
	}
	lines := strings.Split(src, "\n")
	replaceLine := func(prefix, with string) string {
		out := slices.Clone(lines)
		for i, l := range out {
			if strings.HasPrefix(l, prefix) {
				out[i] = with
				return strings.Join(out, "\n")
			}
		}
		t.Fatalf("no line starts with %q: update the test", prefix)
		return ""
	}
	for name, broken := range map[string]string{
		"no USER":              replaceLine("USER ", ""),
		"USER root":            replaceLine("USER ", "USER root"),
		"USER by name":         replaceLine("USER ", "USER nonroot:nonroot"),
		"builder on latest":    replaceLine("FROM golang:", "FROM golang:latest AS build"),
		"untagged runtime":     replaceLine("FROM gcr.io/distroless", "FROM gcr.io/distroless/static-debian12 AS runtime"),
		"floating runtime tag": replaceLine("FROM gcr.io/distroless", "FROM gcr.io/distroless/static-debian12:nonroot AS runtime"),
		"shell entrypoint":     replaceLine("ENTRYPOINT ", "ENTRYPOINT /app"),
		"no SERVICE argument":  strings.Replace(src, "ARG SERVICE\nWORKDIR /src", "WORKDIR /src", 1),
		"cgo left on":          strings.Replace(src, "CGO_ENABLED=0 ", "", 1),
		"a fixed service":      strings.ReplaceAll(src, `"./services/${SERVICE}"`, "./services/web"),
	} {
		if broken == src {
			t.Errorf("%s: the mutation did not apply; update the test", name)
			continue
		}
		if got := check(broken); len(got) == 0 {
			t.Errorf("%s: not caught", name)
		}
	}
	p := loadCompose(t)
	s := p.Services["email"]
	s.Build.Args["SERVICE"] = ptr("voucher")
	if len(checkComposeBuilds(t, repoRoot(t), p)) == 0 {
		t.Error("a compose build with another service's SERVICE argument is not caught")
	}
}
