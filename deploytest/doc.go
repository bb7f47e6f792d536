// Package deploytest checks the files that build and deploy Staybook against
// the code and the contract (docs/architecture.md): the Dockerfile,
// docker-compose.yml with .env.example, and the Kubernetes manifests under
// deployments/k8s. Its tests parse those files with the tools that use them
// (compose-go, BuildKit's Dockerfile parser, kustomize) and fail on the
// mistakes a user would otherwise meet at `docker compose up` or `kubectl
// apply`: a missing health check or variable, an unpinned image, a secret
// with a default, a service that one list has and another lacks.
//
// It is a module of its own so that those heavy dependencies stay out of the
// services' modules; it needs no Staybook module, only the repository's files.
//
//	cd deploytest && go test ./...
package deploytest
