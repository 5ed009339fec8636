/*
 * Named shared memory, the only OS-specific part of the ring code.
 *
 * POSIX (Linux, macOS): shm_open("/<name>") + ftruncate + mmap (shm-posix.c).
 * Windows: CreateFileMappingW / OpenFileMappingW ("Local\<name>") + MapViewOfFile
 * (shm-windows.c, written to the documented API; not built or run on this project's CI).
 * CMake compiles exactly one of the two.
 *
 * No libobs dependency, so the ring tools and self-test build without OBS.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include "../include/personalive-ring.h"

#ifdef __cplusplus
extern "C" {
#endif

enum pl_shm_result {
	PL_SHM_OK = 0,
	PL_SHM_NOT_FOUND = 1, /* no object of that name */
	PL_SHM_TOO_SMALL = 2, /* it exists but is smaller than asked for */
	PL_SHM_ERROR = 3,     /* the OS refused; the error text says why */
};

struct pl_shm {
	void *addr;
	size_t size;
	bool writable;
	/* POSIX: identity of the object we created (device, inode), to unlink only our own.
	 * Windows: the file mapping handle. */
	uint64_t id_a;
	uint64_t id_b;
	void *handle;
};

/* Names: pl_ring_name_valid() in personalive-ring.h (the one rule, shared with the daemon). */
static inline bool pl_shm_name_valid(const char *name)
{
	return pl_ring_name_valid(name);
}

/* Like pl_shm_name_valid, with the message for `err` (both platforms' open/create say the same). */
static inline bool pl_shm_check_name(const char *name, char *err, size_t err_size)
{
	if (pl_shm_name_valid(name))
		return true;
	snprintf(err, err_size, "shared-memory name \"%s\" is invalid: expected " PL_SHM_NAME_RULE,
		 name ? name : "(null)");
	return false;
}

/*
 * Creates a fresh zero-filled object of `size` bytes and maps it read-write.
 * POSIX replaces any object of that name (unlink, then O_CREAT|O_EXCL, mode 0600), so
 * readers of the old object keep a valid mapping and see its writer stop.
 * Windows cannot unlink: an existing mapping of that name is reused if large enough.
 */
enum pl_shm_result pl_shm_create(struct pl_shm *shm, const char *name, size_t size, char *err, size_t err_size);

/* Maps an existing object (at least `size` bytes). */
enum pl_shm_result pl_shm_open(struct pl_shm *shm, const char *name, size_t size, bool writable, char *err,
			       size_t err_size);

/* Unmaps (no-op on an unmapped struct). */
void pl_shm_close(struct pl_shm *shm);

/* POSIX: removes the name if it still refers to the object `shm` created. Windows: no-op. */
void pl_shm_unlink_own(const struct pl_shm *shm, const char *name);

/* The calling process id. */
uint32_t pl_shm_process_id(void);

/*
 * Monotonic microseconds on the clock OBS's os_gettime_ns() uses on this platform
 * (CLOCK_MONOTONIC on Linux, mach_absolute_time on macOS, QueryPerformanceCounter on
 * Windows). The plugin itself uses os_gettime_ns(); this is for the standalone tools.
 */
uint64_t pl_shm_monotonic_us(void);

#ifdef __cplusplus
}
#endif
