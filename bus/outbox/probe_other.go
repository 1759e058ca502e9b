//go:build !linux

package outbox

func memoryBacked(string) bool { return false }

func totalMemory() int64 { return 0 }

var diskFree = func(string) int64 { return 0 }
