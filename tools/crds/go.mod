// The CRDs the API server tests load, from each project's own published Go module, the way envtest users load
// them: `go mod download` (tools/build-kube.sh) puts the modules into the Go module cache, and the tests read
// the YAML files from the directory `go list -m -json MODULE` names (docs/kubernetes-tests.md). Nothing here
// is built; no package imports them.
module podforge/tools/crds

go 1.26.0

require (
	github.com/cert-manager/cert-manager v1.21.2
	github.com/kedacore/keda/v2 v2.21.0
	github.com/prometheus-operator/prometheus-operator v0.85.0
	sigs.k8s.io/lws v0.8.0
)
