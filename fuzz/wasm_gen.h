/* A structured generator of WebAssembly modules for fuzzing the engine.
 *
 * Random bytes are almost never a valid module, so a fuzzer feeding them
 * to the engine spends its time in the decoder. This generator turns any
 * byte string into a VALID WebAssembly 2.0 module (no SIMD, no imports)
 * whose code mixes numeric operations of the four types, locals,
 * globals, structured control with multi-value blocks, direct and
 * indirect calls, memory accesses of every width, bulk memory and table
 * operations. Its exports are functions "e0", "e1", ... that take no
 * parameters and return one i64 or i32, and each finishes in well under
 * a millisecond: no recursion, every loop counted, a static cost bound.
 * Traps (division by zero, out-of-bounds accesses, failed conversions,
 * bad indirect calls) are part of the mix.
 *
 * The results are the same on every correct engine: NaN payloads, which
 * the spec leaves open, never reach anything observable, and memory or
 * table growth asks only for what every engine grants or what none can.
 * fuzz/diff_wasm.sh relies on that to compare the engine with wabt's
 * interpreter; fuzz/fuzz_wasm_gen.c runs the modules in-process. */
#ifndef ASSAY_FUZZ_WASM_GEN_H
#define ASSAY_FUZZ_WASM_GEN_H

#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"

/* Appends the module that data[0..len) describes to out. The same bytes
 * always give the same module; past the end of data every choice is the
 * smallest, so short inputs give small modules. Returns 0, or -1 when
 * memory ran out. */
int wasm_gen_module(const uint8_t *data, size_t len, struct buf *out);

#endif
