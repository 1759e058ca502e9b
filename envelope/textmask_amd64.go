package envelope

// textAttention fills one word of mask per 64-byte block of b (len(b) a
// multiple of 64): the bytes appendValidText must look at
// (textAttentionGeneric says which). It is SSE2 (textmask_amd64.s).
//
//go:noescape
func textAttention(b []byte, mask *uint64)
