//go:build !unix

package ledger

import "os"

// lockFile only creates path: without flock, one writing process per file is the
// operator's to ensure.
func lockFile(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
}
