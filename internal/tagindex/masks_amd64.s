//go:build amd64 && !purego

#include "textflag.h"

// func classifyBlocksSSE2(b []byte, semi, eq, attn []uint64)
//
// For each 64-byte block, four 16-byte loads; per load PCMPEQB against
// ';' and '=' and, for attention, a signed PCMPGTB (0x20 > c is true for
// control bytes and for every byte >= 0x80, negative as int8) ORed with
// PCMPEQB against '"', '&', '<', '>' and '\\'; PMOVMSKB turns each result
// into 16 bits of the block's mask words.
TEXT ·classifyBlocksSSE2(SB), NOSPLIT, $0-96
	MOVQ b_base+0(FP), SI
	MOVQ b_len+8(FP), CX
	MOVQ semi_base+24(FP), DI
	MOVQ eq_base+48(FP), R8
	MOVQ attn_base+72(FP), R9
	SHRQ $6, CX

#define SPLAT(c, x) MOVQ $c, AX; MOVQ AX, x; PUNPCKLQDQ x, x
	SPLAT(0x3b3b3b3b3b3b3b3b, X8)  // ';'
	SPLAT(0x3d3d3d3d3d3d3d3d, X9)  // '='
	SPLAT(0x2020202020202020, X10) // 0x20
	SPLAT(0x2222222222222222, X11) // '"'
	SPLAT(0x2626262626262626, X12) // '&'
	SPLAT(0x3c3c3c3c3c3c3c3c, X13) // '<'
	SPLAT(0x3e3e3e3e3e3e3e3e, X14) // '>'
	SPLAT(0x5c5c5c5c5c5c5c5c, X7)  // '\\'

// CHUNK classifies the 16 bytes at off(SI) into 16-bit masks in AX
// (semi), BX (eq) and DX (attention).
#define CHUNK(off) \
	MOVOU off(SI), X0; \
	MOVOU X0, X1; PCMPEQB X8, X1; PMOVMSKB X1, AX; \
	MOVOU X0, X1; PCMPEQB X9, X1; PMOVMSKB X1, BX; \
	MOVOU X10, X2; PCMPGTB X0, X2; \
	MOVOU X0, X1; PCMPEQB X11, X1; POR X1, X2; \
	MOVOU X0, X1; PCMPEQB X12, X1; POR X1, X2; \
	MOVOU X0, X1; PCMPEQB X13, X1; POR X1, X2; \
	MOVOU X0, X1; PCMPEQB X14, X1; POR X1, X2; \
	MOVOU X0, X1; PCMPEQB X7, X1; POR X1, X2; \
	PMOVMSKB X2, DX

// ACC shifts a chunk's masks into place and ORs them into R10-R12.
#define ACC(shift) \
	SHLQ $shift, AX; ORQ AX, R10; \
	SHLQ $shift, BX; ORQ BX, R11; \
	SHLQ $shift, DX; ORQ DX, R12

loop:
	TESTQ CX, CX
	JZ done
	CHUNK(0)
	MOVQ AX, R10
	MOVQ BX, R11
	MOVQ DX, R12
	CHUNK(16)
	ACC(16)
	CHUNK(32)
	ACC(32)
	CHUNK(48)
	ACC(48)
	MOVQ R10, (DI)
	MOVQ R11, (R8)
	MOVQ R12, (R9)
	ADDQ $64, SI
	ADDQ $8, DI
	ADDQ $8, R8
	ADDQ $8, R9
	DECQ CX
	JMP loop

done:
	RET
