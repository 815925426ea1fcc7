package pgtest

import "syscall"

// procAttr runs a child as cred (nil: as the test itself) and kills it if the test binary
// dies first, so that a crashed or timed-out test leaves no server behind.
func procAttr(cred *syscall.Credential) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Credential: cred, Pdeathsig: syscall.SIGKILL}
}
