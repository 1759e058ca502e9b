//go:build !amd64 || purego

package envelope

// stdSHA1: sha1OneBlock everywhere but on amd64 with SHA-NI, where it was
// measured against crypto/sha1 (shani_amd64.go).
const stdSHA1 = false
