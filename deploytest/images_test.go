package deploytest

import (
	"regexp"
	"strings"
	"testing"
)

var (
	digestRe     = regexp.MustCompile(`@sha256:[0-9a-f]{64}$`)
	versionTagRe = regexp.MustCompile(`^v?\d+\.\d+`)
)

// splitImage returns an image reference's repository, tag and digest.
func splitImage(ref string) (repo, tag, digest string) {
	if i := strings.Index(ref, "@"); i >= 0 {
		ref, digest = ref[:i], ref[i:]
	}
	slash := strings.LastIndex(ref, "/")
	if i := strings.LastIndex(ref, ":"); i > slash {
		return ref[:i], ref[i+1:], digest
	}
	return ref, "", digest
}

// imagePinProblem says why an image pulled from a registry is not pinned
// ("" when it is): a digest, or a tag that names a version (at least
// major.minor, such as 17.6-bookworm or v1.27.11). "latest", no tag, and
// words such as "stable" or "nonroot" move under the same name.
func imagePinProblem(ref string) string {
	_, tag, digest := splitImage(ref)
	switch {
	case ref == "":
		return "no image"
	case digest != "":
		if !digestRe.MatchString(digest) {
			return "malformed digest " + digest
		}
		if tag == "latest" {
			return `tag "latest" beside the digest misleads readers`
		}
		return ""
	case tag == "":
		return "no tag: that is latest"
	case tag == "latest":
		return `tag "latest" moves`
	case !versionTagRe.MatchString(tag):
		return "tag " + tag + " names no version (want major.minor at least, or a digest)"
	}
	return ""
}

func TestImagePinProblem_TellsPinnedFromMoving(t *testing.T) {
	t.Parallel()
	for ref, pinned := range map[string]bool{
		"rabbitmq:4.1.4-management": true,
		"postgres:17.6-bookworm":    true,
		"axllent/mailpit:v1.27.11":  true,
		"gcr.io/distroless/static-debian12:nonroot@sha256:afa5c872c891853ca7fcf1f12c3edb23f7eeef36189728842dd51042ff57f7ab": true,
		"localhost:5000/app@sha256:afa5c872c891853ca7fcf1f12c3edb23f7eeef36189728842dd51042ff57f7ab":                        true,
		"rabbitmq":        false,
		"rabbitmq:latest": false,
		"gcr.io/distroless/static-debian12:nonroot": false,
		"localhost:5000/app":                        false,
		"rabbitmq:management":                       false,
		"golang:1-bookworm":                         false,
		"jaegertracing/jaeger@sha256:1234":          false,
	} {
		if got := imagePinProblem(ref) == ""; got != pinned {
			t.Errorf("%s: pinned = %v, want %v (%s)", ref, got, pinned, imagePinProblem(ref))
		}
	}
}
