#include "textflag.h"

// func textAttention(b []byte, mask *uint64)
//
// For each 64-byte block of b (len(b) a multiple of 64), one mask word:
// bit i set where byte i needs the escaper's attention in text known to
// be valid UTF-8: a control byte (unsigned c <= 0x1f: PMINUB with 0x1f
// leaves it unchanged), '"' or '&' (c|0x04 == '&'), '<' or '>' (c|0x02
// == '>'), '\\', or 0xe2, the first byte of U+2028 and U+2029. SSE2, the
// amd64 baseline.
TEXT ·textAttention(SB), NOSPLIT, $0-32
	MOVQ b_base+0(FP), SI
	MOVQ b_len+8(FP), CX
	MOVQ mask+24(FP), DI
	SHRQ $6, CX

#define SPLAT(c, x) MOVQ $c, AX; MOVQ AX, x; PUNPCKLQDQ x, x
	SPLAT(0x1f1f1f1f1f1f1f1f, X8)
	SPLAT(0x0404040404040404, X9)
	SPLAT(0x2626262626262626, X10)
	SPLAT(0x0202020202020202, X11)
	SPLAT(0x3e3e3e3e3e3e3e3e, X12)
	SPLAT(0x5c5c5c5c5c5c5c5c, X13)
	SPLAT(0xe2e2e2e2e2e2e2e2, X14)

// CHUNK leaves the attention bits of the 16 bytes at off(SI) in AX.
#define CHUNK(off) \
	MOVOU off(SI), X0; \
	MOVOU X0, X2; PMINUB X8, X2; PCMPEQB X0, X2; \
	MOVOU X0, X1; POR X9, X1; PCMPEQB X10, X1; POR X1, X2; \
	MOVOU X0, X1; POR X11, X1; PCMPEQB X12, X1; POR X1, X2; \
	MOVOU X0, X1; PCMPEQB X13, X1; POR X1, X2; \
	PCMPEQB X14, X0; POR X0, X2; \
	PMOVMSKB X2, AX

loop:
	TESTQ CX, CX
	JZ done
	CHUNK(0)
	MOVQ AX, DX
	CHUNK(16)
	SHLQ $16, AX
	ORQ AX, DX
	CHUNK(32)
	SHLQ $32, AX
	ORQ AX, DX
	CHUNK(48)
	SHLQ $48, AX
	ORQ AX, DX
	MOVQ DX, (DI)
	ADDQ $64, SI
	ADDQ $8, DI
	DECQ CX
	JMP loop

done:
	RET
