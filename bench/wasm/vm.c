/* Kernel: a bytecode interpreter. A tiny stack machine (a switch in a
 * loop over an operand stack and 16 variables) runs two loop-heavy
 * programs: counting the primes below N by trial division, and a
 * pseudo-random walk that sums what it draws.
 *
 * Exercises what an interpreter inside wasm does: an indirect branch
 * per instruction (a br_table), short dependent loads and stores on a
 * stack in memory, and unpredictable control flow. Interpreters are
 * a common payload of sandboxes (scripting engines, policy languages).
 *
 *	vm [N]		(default 160000) */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

enum op {
	OP_PUSH,	/* imm: push imm */
	OP_LOAD,	/* var: push vars[var] */
	OP_STORE,	/* var: pop into vars[var] */
	OP_ADD, OP_SUB, OP_MUL, OP_MOD, OP_AND, OP_XOR, OP_SHR,
	OP_LT,		/* pop b, a: push a < b */
	OP_EQ,		/* pop b, a: push a == b */
	OP_JMP,		/* target */
	OP_JZ,		/* target: pop, jump when zero */
	OP_INC,		/* var: vars[var]++ */
	OP_HALT,
};

struct vm {
	uint32_t vars[16];
	uint32_t stack[64];
	long steps;
};

/* Runs code until OP_HALT. Programs are ours and well formed: the stack
 * stays within bounds by construction. */
static void vm_run(struct vm *m, const int32_t *code)
{
	uint32_t *sp = m->stack, a, b;
	const int32_t *pc = code;
	long steps = 0;

	for (;;) {
		steps++;
		switch (*pc++) {
		case OP_PUSH: *sp++ = (uint32_t)*pc++; break;
		case OP_LOAD: *sp++ = m->vars[*pc++]; break;
		case OP_STORE: m->vars[*pc++] = *--sp; break;
		case OP_ADD: b = *--sp; a = *--sp; *sp++ = a + b; break;
		case OP_SUB: b = *--sp; a = *--sp; *sp++ = a - b; break;
		case OP_MUL: b = *--sp; a = *--sp; *sp++ = a * b; break;
		case OP_MOD: b = *--sp; a = *--sp; *sp++ = b ? a % b : 0; break;
		case OP_AND: b = *--sp; a = *--sp; *sp++ = a & b; break;
		case OP_XOR: b = *--sp; a = *--sp; *sp++ = a ^ b; break;
		case OP_SHR: b = *--sp; a = *--sp; *sp++ = a >> (b & 31); break;
		case OP_LT: b = *--sp; a = *--sp; *sp++ = a < b; break;
		case OP_EQ: b = *--sp; a = *--sp; *sp++ = a == b; break;
		case OP_JMP: pc = code + *pc; break;
		case OP_JZ:
			if (*--sp == 0)
				pc = code + *pc;
			else
				pc++;
			break;
		case OP_INC: m->vars[*pc++]++; break;
		case OP_HALT: m->steps += steps; return;
		default:
			fprintf(stderr, "vm: bad opcode %d\n", (int)pc[-1]);
			exit(1);
		}
	}
}

/* Variables of the programs. */
enum { V_N, V_I, V_J, V_COUNT, V_X, V_SUM, V_PRIME };

/* count = 0; for (i = 2; i < n; i++) { prime = 1;
 *   for (j = 2; j * j <= i; j++) if (i % j == 0) { prime = 0; break; }
 *   count += prime; }
 * Jump targets are indexes into the array (written out by hand). */
static const int32_t prog_primes[] = {
	/*  0 */ OP_PUSH, 0, OP_STORE, V_COUNT,
	/*  4 */ OP_PUSH, 2, OP_STORE, V_I,
	/*  8 */ OP_LOAD, V_I, OP_LOAD, V_N, OP_LT, OP_JZ, 62,
	/* 15 */ OP_PUSH, 1, OP_STORE, V_PRIME, OP_PUSH, 2, OP_STORE, V_J,
	/* 23 */ OP_LOAD, V_I, OP_LOAD, V_J, OP_LOAD, V_J, OP_MUL, OP_LT, OP_PUSH, 0,
		 OP_EQ, OP_JZ, 51,
	/* 36 */ OP_LOAD, V_I, OP_LOAD, V_J, OP_MOD, OP_JZ, 47,
	/* 43 */ OP_INC, V_J, OP_JMP, 23,
	/* 47 */ OP_PUSH, 0, OP_STORE, V_PRIME,
	/* 51 */ OP_LOAD, V_COUNT, OP_LOAD, V_PRIME, OP_ADD, OP_STORE, V_COUNT,
	/* 58 */ OP_INC, V_I, OP_JMP, 8,
	/* 62 */ OP_HALT,
};

/* x = 1; sum = 0; for (i = 0; i < n * 8; i++) {
 *   x = x * 1103515245 + 12345; sum += (x >> 16) & 1023 ^ i; } */
static const int32_t prog_walk[] = {
	/*  0 */ OP_PUSH, 1, OP_STORE, V_X, OP_PUSH, 0, OP_STORE, V_SUM,
	/*  8 */ OP_PUSH, 0, OP_STORE, V_I,
	/* 12 */ OP_LOAD, V_I, OP_LOAD, V_N, OP_PUSH, 8, OP_MUL, OP_LT, OP_JZ, 52,
	/* 22 */ OP_LOAD, V_X, OP_PUSH, 1103515245, OP_MUL, OP_PUSH, 12345, OP_ADD,
		 OP_STORE, V_X,
	/* 32 */ OP_LOAD, V_SUM, OP_LOAD, V_X, OP_PUSH, 16, OP_SHR, OP_PUSH, 1023,
		 OP_AND, OP_LOAD, V_I, OP_XOR, OP_ADD, OP_STORE, V_SUM,
	/* 48 */ OP_INC, V_I, OP_JMP, 12,
	/* 52 */ OP_HALT,
};

int main(int argc, char **argv)
{
	uint32_t n = argc > 1 ? (uint32_t)strtoul(argv[1], NULL, 10) : 160000;
	struct vm m = { .steps = 0 };

	/* The walk runs to n * 8 in 32-bit arithmetic. */
	if (n > (1u << 28)) {
		fprintf(stderr, "vm: N is at most %u\n", 1u << 28);
		return 2;
	}

	m.vars[V_N] = n;
	vm_run(&m, prog_primes);
	m.vars[V_N] = n;
	vm_run(&m, prog_walk);
	printf("vm n=%u primes=%u walk=%08x steps=%ld\n", (unsigned)n,
	       (unsigned)m.vars[V_COUNT], (unsigned)m.vars[V_SUM], m.steps);
	return 0;
}
