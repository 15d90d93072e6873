/*
 * Architecturally undefined RFLAGS bits, per mnemonic.
 *
 * After most instructions a flag is either written with a defined value or
 * left alone. A few leave some flags "undefined": the Intel SDM and the AMD
 * APM let each implementation choose, so KVM (the host CPU) and vessel may
 * legitimately disagree there. The generator tracks the set of currently
 * undefined flags, never emits an instruction that reads one (Zydis tells
 * which flags an instruction tests), and the comparator masks the set left
 * at the end (or at the faulting instruction). This table is the union of
 * both vendors' "undefined" (U) entries:
 *
 *   and or xor test                    AF
 *   mul imul                           SF ZF AF PF      (CF OF defined)
 *   div idiv                           CF OF SF ZF AF PF
 *   bt bts btr btc                     OF SF AF PF      (ZF unchanged on Intel; AMD: ZF too,
 *                                                        so ZF is masked as well)
 *   bsf bsr                            CF OF SF AF PF   (ZF defined)
 *   shl/sal shr sar  count 1           AF
 *                    count > 1         AF OF
 *                    count >= width    AF OF CF         (8/16-bit operands only)
 *   rol ror          count != 1        OF               (CF defined when count != 0)
 *   rcl rcr          count != 1        OF
 *   shld shrd        count 1           AF
 *                    count > 1         AF OF
 *                    count > width     all six (the generator avoids it)
 *
 * "count" is the count after masking to 5 bits (6 for 64-bit operands); a
 * masked count of 0 changes no flag at all (the generator passes the count
 * so the caller can also treat such an instruction as not writing flags).
 * Instructions not listed define every flag they write.
 */
#include <Zydis/Zydis.h>

#include "tests/diff/diff.h"

static unsigned flags_masked(unsigned opbits, int count)
{
	return (unsigned)count & (opbits == 64 ? 63u : 31u);
}

uint32_t vsl_diff_flags_undef(int mnemonic, unsigned opbits, int count)
{
	unsigned c;

	switch (mnemonic) {
	case ZYDIS_MNEMONIC_AND:
	case ZYDIS_MNEMONIC_OR:
	case ZYDIS_MNEMONIC_XOR:
	case ZYDIS_MNEMONIC_TEST:
		return DIFF_AF;
	case ZYDIS_MNEMONIC_MUL:
	case ZYDIS_MNEMONIC_IMUL:
		return DIFF_SF | DIFF_ZF | DIFF_AF | DIFF_PF;
	case ZYDIS_MNEMONIC_DIV:
	case ZYDIS_MNEMONIC_IDIV:
		return DIFF_ARITH;
	case ZYDIS_MNEMONIC_BT:
	case ZYDIS_MNEMONIC_BTS:
	case ZYDIS_MNEMONIC_BTR:
	case ZYDIS_MNEMONIC_BTC:
		return DIFF_OF | DIFF_SF | DIFF_AF | DIFF_PF | DIFF_ZF;
	case ZYDIS_MNEMONIC_BSF:
	case ZYDIS_MNEMONIC_BSR:
		return DIFF_CF | DIFF_OF | DIFF_SF | DIFF_AF | DIFF_PF;
	case ZYDIS_MNEMONIC_SHL:
	case ZYDIS_MNEMONIC_SHR:
	case ZYDIS_MNEMONIC_SAR:
		if (count < 0)
			return DIFF_AF | DIFF_OF | DIFF_CF;
		c = flags_masked(opbits, count);
		if (c == 0)
			return 0;
		if (c >= opbits)
			return DIFF_AF | DIFF_OF | DIFF_CF;
		return c == 1 ? DIFF_AF : DIFF_AF | DIFF_OF;
	case ZYDIS_MNEMONIC_ROL:
	case ZYDIS_MNEMONIC_ROR:
	case ZYDIS_MNEMONIC_RCL:
	case ZYDIS_MNEMONIC_RCR:
		if (count < 0)
			return DIFF_OF;
		c = flags_masked(opbits, count);
		return (c == 0 || c == 1) ? 0 : DIFF_OF;
	case ZYDIS_MNEMONIC_SHLD:
	case ZYDIS_MNEMONIC_SHRD:
		if (count < 0)
			return DIFF_ARITH;
		c = flags_masked(opbits, count);
		if (c == 0)
			return 0;
		if (c > opbits)
			return DIFF_ARITH;
		return c == 1 ? DIFF_AF : DIFF_AF | DIFF_OF;
	default:
		return 0;
	}
}

/* True for the mnemonics whose flag effect depends on a count (see above). */
bool vsl_diff_flags_counted(int mnemonic)
{
	switch (mnemonic) {
	case ZYDIS_MNEMONIC_SHL: case ZYDIS_MNEMONIC_SHR:
	case ZYDIS_MNEMONIC_SAR: case ZYDIS_MNEMONIC_ROL: case ZYDIS_MNEMONIC_ROR:
	case ZYDIS_MNEMONIC_RCL: case ZYDIS_MNEMONIC_RCR: case ZYDIS_MNEMONIC_SHLD:
	case ZYDIS_MNEMONIC_SHRD:
		return true;
	default:
		return false;
	}
}
