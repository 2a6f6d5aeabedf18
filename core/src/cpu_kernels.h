// Helpers for the core's hand-written CPU kernels (batch_norm_act.cpp, conv.cpp): element access in
// fp32 for float and bfloat16 storage, written so that GCC vectorises the loops that use them, and
// the attributes that compile a kernel for AVX-512, AVX2 and baseline x86-64 (picked at load time;
// the rest of the core is built for the baseline).
#pragma once
#include <cstdint>
#include <cstring>

#define ALI_INLINE __attribute__((always_inline)) inline
// Sanitizer builds (scripts/sanitize) get one baseline copy: the clones are picked by ifunc
// resolvers that the dynamic loader runs while it relocates the program, before ThreadSanitizer's
// runtime is set up, and an instrumented resolver crashes there (every test binary died at load).
#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
#define ALI_KERNEL
#else
#define ALI_KERNEL __attribute__((target_clones("avx512f", "avx2", "default")))
#endif

namespace ali::cpu_kernels {

// Element access in fp32, written so that GCC vectorises the per-channel loops below.
inline float load(const float* p) { return *p; }
// bfloat16 as its bits (uint16_t): GCC vectorises plain integer loads, not c10::BFloat16's.
inline float load(const uint16_t* p) {
  const uint32_t u = uint32_t(*p) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
inline void store(float* p, float v) { *p = v; }
inline uint32_t as_bits(float v) {
  uint32_t u;
  std::memcpy(&u, &v, 4);
  return u;
}
inline float from_bits(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
// c ? a : b as a bit mask, which GCC vectorises for every target (a ?: on floats stays a branch).
inline float select(bool c, float a, float b) {
  const uint32_t m = 0u - uint32_t(c);
  return from_bits((as_bits(a) & m) | (as_bits(b) & ~m));
}
inline uint32_t select(bool c, uint32_t a, uint32_t b) {
  const uint32_t m = 0u - uint32_t(c);
  return (a & m) | (b & ~m);
}
inline void store(uint16_t* p,
                  float v) {  // round to nearest even, as c10::BFloat16(float); NaN stays NaN
  const uint32_t u = as_bits(v);
  const uint32_t rounded = (u + 0x7FFFu + ((u >> 16) & 1u)) >> 16;
  *p = uint16_t(select((u & 0x7FFFFFFFu) > 0x7F800000u, 0x7FC0u, rounded));
}

}  // namespace ali::cpu_kernels
