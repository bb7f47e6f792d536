package domain

import (
	"strings"
	"testing"

	"github.com/google/uuid"
)

const testNamespace = "6f1c3b5e-0d2a-4c8e-9b7a-3e5d1f2a4c6b"

func newIssuer(t *testing.T, secret string) *Issuer {
	t.Helper()
	i, err := NewIssuer(IssuerConfig{Namespace: testNamespace, Secret: []byte(secret)})
	if err != nil {
		t.Fatal(err)
	}
	return i
}

func TestRandom_IssuesVerifiableVersion4IDs(t *testing.T) {
	t.Parallel()
	i := newIssuer(t, "0123456789abcdef-secret")
	seen := map[string]bool{}
	for range 1000 {
		id, err := i.Random()
		if err != nil {
			t.Fatal(err)
		}
		u := uuid.MustParse(id)
		if u.Version() != 4 || u.Variant() != uuid.RFC4122 {
			t.Fatalf("%s: version %d variant %s", id, u.Version(), u.Variant())
		}
		if !i.Verify(id) {
			t.Fatalf("own ID %s not verified", id)
		}
		if seen[id] {
			t.Fatalf("ID %s issued twice", id)
		}
		seen[id] = true
	}
}

func TestFromKey_SameKeyAndBodyGiveTheSameIDOnEveryIssuer(t *testing.T) {
	t.Parallel()
	a := newIssuer(t, "0123456789abcdef-secret")
	b := newIssuer(t, "0123456789abcdef-secret") // another replica
	body := []byte(`{"hotel_id":"h1"}`)
	id := a.FromKey("key-1", body)
	if got := b.FromKey("key-1", body); got != id {
		t.Fatalf("replicas disagree: %s vs %s", id, got)
	}
	u := uuid.MustParse(id)
	if u.Version() != 5 || u.Variant() != uuid.RFC4122 {
		t.Fatalf("%s: version %d variant %s", id, u.Version(), u.Variant())
	}
	if !b.Verify(id) {
		t.Fatal("ID from another replica not verified")
	}
	if a.FromKey("key-1", []byte(`{"hotel_id":"h2"}`)) == id {
		t.Fatal("another body under the same key gave the same ID")
	}
	if a.FromKey("key-2", body) == id {
		t.Fatal("another key with the same body gave the same ID")
	}
	// The key/body boundary is unambiguous.
	if a.FromKey("ab", []byte("c")) == a.FromKey("a", []byte("bc")) {
		t.Fatal("key and body are not separated")
	}
}

func TestFromKey_NamespaceChangesTheID(t *testing.T) {
	t.Parallel()
	a := newIssuer(t, "0123456789abcdef-secret")
	other, err := NewIssuer(IssuerConfig{Namespace: "1b4e28ba-2fa1-11d2-883f-0016d3cca427", Secret: []byte("0123456789abcdef-secret")})
	if err != nil {
		t.Fatal(err)
	}
	if a.FromKey("k", nil) == other.FromKey("k", nil) {
		t.Fatal("namespace ignored")
	}
}

func TestVerify_RejectsIDsNotIssuedWithTheSecret(t *testing.T) {
	t.Parallel()
	i := newIssuer(t, "0123456789abcdef-secret")
	other := newIssuer(t, "another-secret-of-16-bytes")
	id, err := i.Random()
	if err != nil {
		t.Fatal(err)
	}
	foreign, err := other.Random()
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string]string{
		"plain random v4":      uuid.NewString(),
		"issued under another": foreign,
		"empty":                "",
		"not a uuid":           "not-a-booking-id",
		"upper case":           strings.ToUpper(id),
		"urn form":             "urn:uuid:" + id,
		"braces":               "{" + id + "}",
		"no hyphens":           strings.ReplaceAll(id, "-", ""),
	}
	for name, bad := range cases {
		if i.Verify(bad) {
			t.Errorf("%s: %q verified", name, bad)
		}
	}
}

func TestVerify_DetectsTamperingWithAnyHexDigit(t *testing.T) {
	t.Parallel()
	i := newIssuer(t, "0123456789abcdef-secret")
	for _, id := range []string{mustRandom(t, i), i.FromKey("k", []byte("body"))} {
		for pos, c := range id {
			if c == '-' {
				continue
			}
			for _, r := range "0123456789abcdef" {
				if r == c {
					continue
				}
				tampered := id[:pos] + string(r) + id[pos+1:]
				if i.Verify(tampered) {
					t.Fatalf("tampered %s (from %s) verified", tampered, id)
				}
			}
		}
	}
}

func TestVerify_RejectsOtherVersions(t *testing.T) {
	t.Parallel()
	i := newIssuer(t, "0123456789abcdef-secret")
	// Sign as version 1 by hand: the MAC is right but the version is not ours.
	u := i.sign(uuid.UUID{1, 2, 3, 4, 5, 6, 7, 8}, 1)
	if i.Verify(u.String()) {
		t.Fatal("version 1 ID verified")
	}
}

func TestNew_RejectsBadNamespaceAndShortSecret(t *testing.T) {
	t.Parallel()
	if _, err := NewIssuer(IssuerConfig{Namespace: "nope", Secret: []byte("0123456789abcdef")}); err == nil {
		t.Error("bad namespace accepted")
	}
	if _, err := NewIssuer(IssuerConfig{Namespace: testNamespace, Secret: []byte("short")}); err == nil {
		t.Error("short secret accepted")
	}
}

func TestKeyHash_IsSHA256Hex(t *testing.T) {
	t.Parallel()
	// echo -n abc | sha256sum
	if got := KeyHash("abc"); got != "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" {
		t.Fatal(got)
	}
}

func mustRandom(t *testing.T, i *Issuer) string {
	t.Helper()
	id, err := i.Random()
	if err != nil {
		t.Fatal(err)
	}
	return id
}
