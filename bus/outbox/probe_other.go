//go:build !linux

package outbox

func memoryBacked(string) bool { return false }

func totalMemory() int64 { return 0 }
