package seccomp

// The system call tables come from Debian's linux-libc-dev (Architecture:
// all, Linux >= 6.x), whose .deb the generator unpacks; its doc says how to
// fetch one. go generate expands $LINUX_LIBC_DEV_DEB; unset, the generator
// says what it needs.
//go:generate go run ./internal/gensysnum -deb=$LINUX_LIBC_DEV_DEB -o zsysnum.go
