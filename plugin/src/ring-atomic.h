/*
 * The few atomic operations the ring protocol needs on plain uint32_t / uint64_t fields
 * of shared memory (the layout header cannot use _Atomic types: the TypeScript side maps
 * the same bytes). GCC and Clang: __atomic builtins. MSVC: volatile accesses with
 * compiler barriers on x86/x64 (whose loads acquire and stores release), ldar/stlr and
 * dmb on ARM64. No read-modify-write: readers map the ring read-only.
 */
#pragma once

#include <stdint.h>

#if defined(_MSC_VER) && !defined(__clang__)
#include <intrin.h>

#if defined(_M_ARM64)
static inline uint32_t pl_atomic_load_acquire_u32(const uint32_t *p)
{
	return (uint32_t)__ldar32((volatile unsigned __int32 *)p);
}
static inline void pl_atomic_store_release_u32(uint32_t *p, uint32_t v)
{
	__stlr32((volatile unsigned __int32 *)p, v);
}
static inline void pl_atomic_fence_acquire(void)
{
	__dmb(_ARM64_BARRIER_ISH);
}
static inline void pl_atomic_fence_release(void)
{
	__dmb(_ARM64_BARRIER_ISH);
}
#else
static inline uint32_t pl_atomic_load_acquire_u32(const uint32_t *p)
{
	uint32_t v = *(const volatile uint32_t *)p;
	_ReadWriteBarrier();
	return v;
}
static inline void pl_atomic_store_release_u32(uint32_t *p, uint32_t v)
{
	_ReadWriteBarrier();
	*(volatile uint32_t *)p = v;
}
static inline void pl_atomic_fence_acquire(void)
{
	_ReadWriteBarrier();
}
static inline void pl_atomic_fence_release(void)
{
	_ReadWriteBarrier();
}
#endif

static inline uint32_t pl_atomic_load_relaxed_u32(const uint32_t *p)
{
	return *(const volatile uint32_t *)p;
}
static inline void pl_atomic_store_relaxed_u32(uint32_t *p, uint32_t v)
{
	*(volatile uint32_t *)p = v;
}
/* Aligned 64-bit accesses are single instructions on x64 and ARM64. */
static inline uint64_t pl_atomic_load_relaxed_u64(const uint64_t *p)
{
	return *(const volatile uint64_t *)p;
}
static inline void pl_atomic_store_relaxed_u64(uint64_t *p, uint64_t v)
{
	*(volatile uint64_t *)p = v;
}

#else /* GCC, Clang */

static inline uint32_t pl_atomic_load_acquire_u32(const uint32_t *p)
{
	return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}
static inline void pl_atomic_store_release_u32(uint32_t *p, uint32_t v)
{
	__atomic_store_n(p, v, __ATOMIC_RELEASE);
}
static inline uint32_t pl_atomic_load_relaxed_u32(const uint32_t *p)
{
	return __atomic_load_n(p, __ATOMIC_RELAXED);
}
static inline void pl_atomic_store_relaxed_u32(uint32_t *p, uint32_t v)
{
	__atomic_store_n(p, v, __ATOMIC_RELAXED);
}
static inline uint64_t pl_atomic_load_relaxed_u64(const uint64_t *p)
{
	return __atomic_load_n(p, __ATOMIC_RELAXED);
}
static inline void pl_atomic_store_relaxed_u64(uint64_t *p, uint64_t v)
{
	__atomic_store_n(p, v, __ATOMIC_RELAXED);
}
static inline void pl_atomic_fence_acquire(void)
{
	__atomic_thread_fence(__ATOMIC_ACQUIRE);
}
static inline void pl_atomic_fence_release(void)
{
	__atomic_thread_fence(__ATOMIC_RELEASE);
}
#endif
