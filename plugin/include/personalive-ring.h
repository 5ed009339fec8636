/*
 * PersonaLive shared-memory frame ring: the one definition of the layout.
 *
 * Two rings use it: "output" (the daemon writes animated frames, the OBS
 * source reads them) and "driving" (the OBS capture filter writes camera
 * frames, the daemon reads them). The TypeScript mirror lives in
 * daemon/ffi/ring-layout.ts; test/ffi/ring-layout.test.ts compiles
 * a C program that prints sizeof/offsetof of these structs and compares.
 *
 * Memory: one named shared-memory object (POSIX shm_open name "/<name>", or a
 * Windows file mapping "Local\<name>"), laid out as
 *
 *   [pl_ring_header, PL_RING_DATA_OFFSET bytes][slot 0 pixels][slot 1] ...
 *
 * each slot slot_size bytes (stride * height rounded up to 4096).
 *
 * Protocol (single writer, any number of readers, nobody ever blocks):
 *   writer, frame n (n = 1, 2, ...), slot i = n % slot_count:
 *     slots[i].sequence = odd  (2n - 1)     -- "being written"
 *     copy pixels, set capture_us / frame_number
 *     slots[i].sequence = even (2n)         -- "complete"
 *     latest_frame = n; heartbeat_us = now
 *   reader:
 *     n = latest_frame; i = n % slot_count
 *     s1 = slots[i].sequence; if odd or s1 != 2n: the frame moved on, retry
 *     copy pixels
 *     s2 = slots[i].sequence; if s2 != s1: torn, retry (the writer lapped us)
 *   The sequence fields are 32-bit so both sides can use plain atomic 32-bit
 *   loads and stores (JavaScript has no cheap 64-bit atomics).
 *
 * Liveness: the writer refreshes heartbeat_us (CLOCK_MONOTONIC microseconds,
 * the clock of os_gettime_ns() in OBS and process.hrtime() in Node) at every
 * frame and at least every PL_RING_HEARTBEAT_INTERVAL_MS when idle. A reader
 * treats the writer as gone when writer_state is STOPPED or the heartbeat is
 * older than PL_RING_STALE_MS (a killed writer cannot say goodbye).
 *
 * A writer that starts creates a fresh object (POSIX: unlink then create), so
 * readers holding the old mapping see it stop and reopen by name.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define PL_RING_MAGIC 0x52474E50u /* "PNGR" in memory: 'P' 'N' 'G' 'R' */
#define PL_RING_VERSION 1u
#define PL_RING_MAX_SLOTS 8u
#define PL_RING_DATA_OFFSET 4096u
#define PL_RING_SLOT_ALIGN 4096u
#define PL_RING_HEARTBEAT_INTERVAL_MS 200u
#define PL_RING_STALE_MS 1500u
#define PL_RING_NAME_OUTPUT "personalive-output"
#define PL_RING_NAME_DRIVING "personalive-driving"

/* Shared-memory (ring) names: 1..PL_SHM_NAME_MAX characters of A-Z a-z 0-9 . _ -, portable
 * across POSIX shm ("/name") and Win32 mappings ("Local\\name"). The daemon checks the same
 * rule (daemon/util/checks.ts; test/ffi/ring-layout.test.ts compares the two). */
#define PL_SHM_NAME_MAX 200
#define PL_SHM_NAME_RULE "1-200 characters of A-Z a-z 0-9 . _ -" /* in words, for messages */

static inline bool pl_ring_name_valid(const char *name)
{
	size_t len = 0;
	if (!name)
		return false;
	for (const char *p = name; *p; p++, len++) {
		char c = *p;
		bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
			  c == '_' || c == '-';
		if (!ok || len >= PL_SHM_NAME_MAX)
			return false;
	}
	return len > 0;
}

enum pl_pixel_format {
	PL_PIXEL_FORMAT_NONE = 0,
	PL_PIXEL_FORMAT_RGB24 = 1, /* packed R,G,B */
	PL_PIXEL_FORMAT_RGBA = 2,  /* R,G,B,A bytes */
	PL_PIXEL_FORMAT_BGRA = 3,  /* B,G,R,A bytes (what OBS stages) */
};

enum pl_writer_state {
	PL_WRITER_STATE_EMPTY = 0,   /* created, no frame yet */
	PL_WRITER_STATE_RUNNING = 1, /* frames flowing or idle with heartbeat */
	PL_WRITER_STATE_STOPPED = 2, /* the writer closed cleanly */
};

/* Per-slot descriptor, 32 bytes. */
struct pl_ring_slot {
	uint32_t sequence;     /* seqlock: odd while written, 2n when frame n is complete */
	uint32_t frame_number; /* n */
	uint64_t capture_us;   /* when the source frame was captured (monotonic us) */
	uint64_t publish_us;   /* when the writer finished the copy (monotonic us) */
	uint32_t width;        /* equal to the header's; kept per slot for readers' checks */
	uint32_t reserved;
};

struct pl_ring_header {
	uint32_t magic;        /* PL_RING_MAGIC */
	uint32_t version;      /* PL_RING_VERSION */
	uint32_t header_size;  /* sizeof(struct pl_ring_header) */
	uint32_t data_offset;  /* PL_RING_DATA_OFFSET */
	uint32_t width;        /* pixels */
	uint32_t height;       /* pixels */
	uint32_t stride;       /* bytes per row */
	uint32_t pixel_format; /* enum pl_pixel_format */
	uint32_t slot_count;   /* 2..PL_RING_MAX_SLOTS */
	uint32_t slot_size;    /* bytes per slot, stride*height rounded up to PL_RING_SLOT_ALIGN */
	uint32_t fps_num;      /* nominal rate, informative (0 if unknown) */
	uint32_t fps_den;
	uint32_t writer_pid;
	uint32_t writer_state;  /* enum pl_writer_state */
	uint32_t latest_frame;  /* n of the newest complete frame, 0 = none yet */
	uint32_t reserved0;
	uint64_t heartbeat_us;  /* writer's monotonic clock, microseconds */
	uint64_t created_us;    /* when this object was created */
	uint64_t frames_written;
	uint64_t frames_dropped; /* frames the writer skipped (e.g. rate limit, source not ready) */
	uint64_t reserved[8];
	struct pl_ring_slot slots[PL_RING_MAX_SLOTS];
};

/* Total size of a ring's shared-memory object. */
static inline uint64_t pl_ring_total_size(uint32_t slot_count, uint32_t slot_size)
{
	return (uint64_t)PL_RING_DATA_OFFSET + (uint64_t)slot_count * (uint64_t)slot_size;
}

/* Bytes per pixel of a format, 0 for unknown. */
static inline uint32_t pl_pixel_format_bytes(uint32_t format)
{
	switch (format) {
	case PL_PIXEL_FORMAT_RGB24:
		return 3;
	case PL_PIXEL_FORMAT_RGBA:
	case PL_PIXEL_FORMAT_BGRA:
		return 4;
	default:
		return 0;
	}
}

#ifdef __cplusplus
}
#endif
