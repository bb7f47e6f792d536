package adapters

import (
	"crypto/tls"
	"crypto/x509"
)

// SetRecordFault makes the store's attempts to record a send's outcome fail
// while fault returns an error (attempt counts from 1 for each outcome).
func SetRecordFault(s *EmailStore, fault func(attempt int) error) { s.recordFault = fault }

// TrustRoots makes m accept only SMTP server certificates signed by roots
// (a test's server with a certificate of its own).
func TrustRoots(m *Mailer, roots *x509.CertPool) error {
	return m.client.SetTLSConfig(&tls.Config{ServerName: m.host, RootCAs: roots, MinVersion: tls.VersionTLS12})
}
