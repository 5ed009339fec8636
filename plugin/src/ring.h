/*
 * C side of the PersonaLive frame ring (layout and protocol: include/personalive-ring.h).
 *
 * Writer: creates a fresh object, publishes frames with the per-slot seqlock, keeps the
 * heartbeat fresh, marks STOPPED on close. Reader: maps by name, validates the header,
 * copies the newest complete frame without ever blocking the writer, and notices a writer
 * that stopped, died (stale heartbeat) or was replaced, reopening by name.
 *
 * Neither side takes locks or calls libobs: the caller passes the monotonic time
 * (os_gettime_ns() / 1000 in the plugin), and errors come back as text for the caller to
 * log. A ring object is used by one thread at a time.
 */
#pragma once

#include "shm.h"

#include "../include/personalive-ring.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define PL_RING_ERR_SIZE 256
#define PL_RING_MIN_DIMENSION 2u
#define PL_RING_MAX_DIMENSION 8192u
/* How many times a reader retries a frame the writer moved past or overwrote. */
#define PL_RING_READ_ATTEMPTS 4

struct pl_ring_geometry {
	uint32_t width;
	uint32_t height;
	uint32_t stride;
	uint32_t pixel_format;
	uint32_t slot_count;
	uint32_t slot_size;
};

/* Packed geometry of a new ring: stride = width * bytes per pixel, slots 4096-aligned.
 * Returns false (and explains in err) for sizes, formats or slot counts out of range. */
bool pl_ring_geometry_make(struct pl_ring_geometry *g, uint32_t width, uint32_t height, uint32_t pixel_format,
			   uint32_t slot_count, char *err, size_t err_size);

/* ------------------------------------------------------------------------------------ */
/* Writer */

struct pl_ring_writer {
	struct pl_shm shm;
	struct pl_ring_header *header;
	uint8_t *data;
	struct pl_ring_geometry geometry;
	char name[208];
	uint32_t frame_number;
	uint32_t writing_index;
	bool writing;
	uint64_t frames_written;
	uint64_t frames_dropped;
	uint64_t last_heartbeat_us;
};

/* Creates (replaces) the named ring and writes its header, state EMPTY until the first
 * frame. Returns false with err filled on failure; `w` is then closed. */
bool pl_ring_writer_create(struct pl_ring_writer *w, const char *name, const struct pl_ring_geometry *g,
			   uint32_t fps_num, uint32_t fps_den, uint64_t now_us, char *err, size_t err_size);

bool pl_ring_writer_is_open(const struct pl_ring_writer *w);

/* Starts frame n+1: marks its slot "being written" and returns the slot's first byte
 * (geometry.stride bytes per row, geometry.height rows). Must be followed by _end. */
uint8_t *pl_ring_writer_begin(struct pl_ring_writer *w);

/* Completes the frame started by _begin: slot complete, latest_frame, RUNNING, heartbeat.
 * Returns the frame number. */
uint32_t pl_ring_writer_end(struct pl_ring_writer *w, uint64_t capture_us, uint64_t now_us);

/* Copies `height` rows of `row_bytes` (<= stride) from src (src_linesize apart) as one frame. */
uint32_t pl_ring_writer_publish(struct pl_ring_writer *w, const uint8_t *src, uint32_t src_linesize,
				uint64_t capture_us, uint64_t now_us);

/* Refreshes the heartbeat if PL_RING_HEARTBEAT_INTERVAL_MS passed since the last one. */
void pl_ring_writer_heartbeat(struct pl_ring_writer *w, uint64_t now_us);

/* Adds to the header's frames_dropped (frames the writer chose not to publish). */
void pl_ring_writer_count_dropped(struct pl_ring_writer *w, uint64_t frames);

/* Marks STOPPED, unmaps, and (POSIX) removes the name if it is still ours. */
void pl_ring_writer_close(struct pl_ring_writer *w, uint64_t now_us);

/* ------------------------------------------------------------------------------------ */
/* Reader */

enum pl_ring_reader_state {
	PL_RING_READER_ABSENT = 0,  /* no object under the name */
	PL_RING_READER_WAITING = 1, /* writer alive, no frame yet (EMPTY) */
	PL_RING_READER_LIVE = 2,    /* writer alive (RUNNING, fresh heartbeat) */
	PL_RING_READER_STALE = 3,   /* heartbeat older than PL_RING_STALE_MS: writer died or hung */
	PL_RING_READER_STOPPED = 4, /* writer closed cleanly */
	PL_RING_READER_INVALID = 5, /* the object is not a ring of this version (see last_error) */
};

const char *pl_ring_reader_state_name(enum pl_ring_reader_state state);

struct pl_ring_reader_stats {
	uint64_t frames_read;
	uint64_t frames_skipped; /* frames published that this reader never copied */
	uint64_t torn_reads;     /* copies discarded because the writer overwrote the slot */
	uint64_t retries;        /* attempts repeated (torn, or the frame moved on before the copy) */
	uint64_t opens;          /* times an object under the name was mapped (first open included) */
};

struct pl_ring_frame_info {
	uint32_t frame_number;
	uint32_t skipped; /* frames between the previous copy and this one */
	uint64_t capture_us;
	uint64_t publish_us;
};

struct pl_ring_reader {
	char name[208];
	struct pl_shm shm;
	const struct pl_ring_header *header;
	const uint8_t *data;
	struct pl_ring_geometry geometry;
	uint64_t created_us;
	uint32_t last_frame;
	uint32_t writer_pid;
	enum pl_ring_reader_state state;
	uint64_t last_open_attempt_us;
	uint64_t last_identity_check_us;
	uint64_t stale_us;
	uint64_t reopen_interval_us;
	uint64_t identity_interval_us;
	struct pl_ring_reader_stats stats;
	char last_error[PL_RING_ERR_SIZE];
};

/* Sets up a reader for `name` (nothing is mapped until the first poll). */
void pl_ring_reader_init(struct pl_ring_reader *r, const char *name);

/*
 * Refreshes the state from shared memory, (re)opening by name when nothing is mapped or
 * the writer stopped, went stale or was replaced (attempts at most every 100 ms; a live
 * ring is checked for replacement every second). Cheap when nothing changed.
 */
enum pl_ring_reader_state pl_ring_reader_poll(struct pl_ring_reader *r, uint64_t now_us);

/* Bytes a frame copy needs (stride * height), 0 when nothing is mapped. */
size_t pl_ring_reader_frame_bytes(const struct pl_ring_reader *r);

/*
 * Copies the newest complete frame if it is newer than the last one copied.
 * Returns 1 with dst filled (stride * height bytes) and info set, 0 when there is no new
 * frame (or every attempt was torn), -1 when dst is too small.
 */
int pl_ring_reader_read(struct pl_ring_reader *r, uint8_t *dst, size_t dst_size, struct pl_ring_frame_info *info);

void pl_ring_reader_close(struct pl_ring_reader *r);

#ifdef __cplusplus
}
#endif
