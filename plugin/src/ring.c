/*
 * PersonaLive frame ring, C side. Layout and protocol: include/personalive-ring.h.
 */
#include "ring.h"
#include "ring-atomic.h"

#include <stdio.h>
#include <string.h>

/* The header must fit in front of the pixel data (checked once at compile time). */
typedef char pl_ring_header_fits[(sizeof(struct pl_ring_header) <= PL_RING_DATA_OFFSET) ? 1 : -1];

#define US_PER_MS 1000u

bool pl_ring_geometry_make(struct pl_ring_geometry *g, uint32_t width, uint32_t height, uint32_t pixel_format,
			   uint32_t slot_count, char *err, size_t err_size)
{
	uint32_t bpp = pl_pixel_format_bytes(pixel_format);
	memset(g, 0, sizeof(*g));
	if (bpp == 0) {
		if (err)
			snprintf(err, err_size, "unknown pixel format %u", pixel_format);
		return false;
	}
	if (width < PL_RING_MIN_DIMENSION || height < PL_RING_MIN_DIMENSION || width > PL_RING_MAX_DIMENSION ||
	    height > PL_RING_MAX_DIMENSION) {
		if (err)
			snprintf(err, err_size, "frame size %ux%u is out of range %u..%u", width, height,
				 PL_RING_MIN_DIMENSION, PL_RING_MAX_DIMENSION);
		return false;
	}
	if (slot_count < 2 || slot_count > PL_RING_MAX_SLOTS) {
		if (err)
			snprintf(err, err_size, "slot count %u is out of range 2..%u", slot_count, PL_RING_MAX_SLOTS);
		return false;
	}
	uint32_t stride = width * bpp;
	uint32_t bytes = stride * height;
	g->width = width;
	g->height = height;
	g->stride = stride;
	g->pixel_format = pixel_format;
	g->slot_count = slot_count;
	g->slot_size = (bytes + PL_RING_SLOT_ALIGN - 1) / PL_RING_SLOT_ALIGN * PL_RING_SLOT_ALIGN;
	return true;
}

/* ------------------------------------------------------------------------------------ */
/* Writer */

bool pl_ring_writer_is_open(const struct pl_ring_writer *w)
{
	return w && w->header != NULL;
}

bool pl_ring_writer_create(struct pl_ring_writer *w, const char *name, const struct pl_ring_geometry *g,
			   uint32_t fps_num, uint32_t fps_den, uint64_t now_us, char *err, size_t err_size)
{
	memset(w, 0, sizeof(*w));
	if (!pl_shm_name_valid(name)) {
		if (err)
			snprintf(err, err_size,
				 "ring name \"%s\" is invalid: expected " PL_SHM_NAME_RULE,
				 name ? name : "(null)");
		return false;
	}
	uint64_t total = pl_ring_total_size(g->slot_count, g->slot_size);
	if (pl_shm_create(&w->shm, name, (size_t)total, err, err_size) != PL_SHM_OK)
		return false;

	struct pl_ring_header *h = (struct pl_ring_header *)w->shm.addr;
	memset(h, 0, sizeof(*h));
	h->version = PL_RING_VERSION;
	h->header_size = (uint32_t)sizeof(struct pl_ring_header);
	h->data_offset = PL_RING_DATA_OFFSET;
	h->width = g->width;
	h->height = g->height;
	h->stride = g->stride;
	h->pixel_format = g->pixel_format;
	h->slot_count = g->slot_count;
	h->slot_size = g->slot_size;
	h->fps_num = fps_num;
	h->fps_den = fps_den ? fps_den : 1;
	h->writer_pid = pl_shm_process_id();
	h->writer_state = PL_WRITER_STATE_EMPTY;
	h->heartbeat_us = now_us;
	h->created_us = now_us;
	/* The magic goes last: a reader that sees it sees a complete header. */
	pl_atomic_store_release_u32(&h->magic, PL_RING_MAGIC);

	w->header = h;
	w->data = (uint8_t *)w->shm.addr + PL_RING_DATA_OFFSET;
	w->geometry = *g;
	snprintf(w->name, sizeof(w->name), "%s", name);
	w->last_heartbeat_us = now_us;
	return true;
}

uint8_t *pl_ring_writer_begin(struct pl_ring_writer *w)
{
	if (!pl_ring_writer_is_open(w))
		return NULL;
	uint32_t n = w->frame_number + 1u;
	if (n == 0) /* 0 means "no frame"; skip it on wrap-around */
		n = 1;
	uint32_t i = n % w->geometry.slot_count;
	struct pl_ring_slot *slot = &w->header->slots[i];
	pl_atomic_store_relaxed_u32(&slot->sequence, 2u * n - 1u);
	/* Orders the odd sequence before the pixel stores that follow. */
	pl_atomic_fence_release();
	w->writing_index = i;
	w->writing = true;
	return w->data + (size_t)i * w->geometry.slot_size;
}

uint32_t pl_ring_writer_end(struct pl_ring_writer *w, uint64_t capture_us, uint64_t now_us)
{
	if (!pl_ring_writer_is_open(w) || !w->writing)
		return 0;
	uint32_t n = w->frame_number + 1u;
	if (n == 0)
		n = 1;
	struct pl_ring_header *h = w->header;
	struct pl_ring_slot *slot = &h->slots[w->writing_index];
	slot->frame_number = n;
	slot->capture_us = capture_us;
	slot->publish_us = now_us;
	slot->width = w->geometry.width;
	pl_atomic_store_release_u32(&slot->sequence, 2u * n);
	pl_atomic_store_release_u32(&h->latest_frame, n);
	pl_atomic_store_release_u32(&h->writer_state, PL_WRITER_STATE_RUNNING);
	pl_atomic_store_relaxed_u64(&h->heartbeat_us, now_us);
	w->frames_written++;
	pl_atomic_store_relaxed_u64(&h->frames_written, w->frames_written);
	w->frame_number = n;
	w->writing = false;
	w->last_heartbeat_us = now_us;
	return n;
}

uint32_t pl_ring_writer_publish(struct pl_ring_writer *w, const uint8_t *src, uint32_t src_linesize,
				uint64_t capture_us, uint64_t now_us)
{
	uint8_t *dst = pl_ring_writer_begin(w);
	if (!dst)
		return 0;
	const struct pl_ring_geometry *g = &w->geometry;
	uint32_t row_bytes = g->width * pl_pixel_format_bytes(g->pixel_format);
	if (src_linesize == g->stride && row_bytes == g->stride) {
		memcpy(dst, src, (size_t)g->stride * g->height);
	} else {
		for (uint32_t y = 0; y < g->height; y++)
			memcpy(dst + (size_t)y * g->stride, src + (size_t)y * src_linesize, row_bytes);
	}
	return pl_ring_writer_end(w, capture_us, now_us);
}

void pl_ring_writer_heartbeat(struct pl_ring_writer *w, uint64_t now_us)
{
	if (!pl_ring_writer_is_open(w))
		return;
	if (now_us - w->last_heartbeat_us < (uint64_t)PL_RING_HEARTBEAT_INTERVAL_MS * US_PER_MS)
		return;
	pl_atomic_store_relaxed_u64(&w->header->heartbeat_us, now_us);
	w->last_heartbeat_us = now_us;
}

void pl_ring_writer_count_dropped(struct pl_ring_writer *w, uint64_t frames)
{
	if (!pl_ring_writer_is_open(w))
		return;
	w->frames_dropped += frames;
	pl_atomic_store_relaxed_u64(&w->header->frames_dropped, w->frames_dropped);
}

void pl_ring_writer_close(struct pl_ring_writer *w, uint64_t now_us)
{
	if (!pl_ring_writer_is_open(w))
		return;
	pl_atomic_store_release_u32(&w->header->writer_state, PL_WRITER_STATE_STOPPED);
	pl_atomic_store_relaxed_u64(&w->header->heartbeat_us, now_us);
	struct pl_shm shm = w->shm;
	char name[sizeof(w->name)];
	memcpy(name, w->name, sizeof(name));
	pl_shm_close(&w->shm);
	/* Readers that already mapped it keep seeing STOPPED; new ones find no name. */
	pl_shm_unlink_own(&shm, name);
	memset(w, 0, sizeof(*w));
}

/* ------------------------------------------------------------------------------------ */
/* Reader */

const char *pl_ring_reader_state_name(enum pl_ring_reader_state state)
{
	switch (state) {
	case PL_RING_READER_ABSENT:
		return "absent";
	case PL_RING_READER_WAITING:
		return "waiting";
	case PL_RING_READER_LIVE:
		return "live";
	case PL_RING_READER_STALE:
		return "stale";
	case PL_RING_READER_STOPPED:
		return "stopped";
	case PL_RING_READER_INVALID:
		return "invalid";
	}
	return "unknown";
}

void pl_ring_reader_init(struct pl_ring_reader *r, const char *name)
{
	memset(r, 0, sizeof(*r));
	snprintf(r->name, sizeof(r->name), "%s", name ? name : "");
	r->state = PL_RING_READER_ABSENT;
	r->stale_us = (uint64_t)PL_RING_STALE_MS * US_PER_MS;
	r->reopen_interval_us = 100u * US_PER_MS;
	r->identity_interval_us = 1000u * US_PER_MS;
}

static void reader_unmap(struct pl_ring_reader *r)
{
	pl_shm_close(&r->shm);
	r->header = NULL;
	r->data = NULL;
	memset(&r->geometry, 0, sizeof(r->geometry));
	r->created_us = 0;
}

void pl_ring_reader_close(struct pl_ring_reader *r)
{
	reader_unmap(r);
	r->state = PL_RING_READER_ABSENT;
}

/* The heartbeat may be written as two 32-bit halves (the daemon has no cheap 64-bit
 * atomics); of two consecutive loads the larger is never a torn low value. */
static uint64_t load_heartbeat(const struct pl_ring_header *h)
{
	uint64_t a = pl_atomic_load_relaxed_u64(&h->heartbeat_us);
	uint64_t b = pl_atomic_load_relaxed_u64(&h->heartbeat_us);
	return a > b ? a : b;
}

static enum pl_ring_reader_state liveness(const struct pl_ring_reader *r, uint64_t now_us)
{
	const struct pl_ring_header *h = r->header;
	uint32_t state = pl_atomic_load_acquire_u32(&h->writer_state);
	uint64_t heartbeat = load_heartbeat(h);
	if (state == PL_WRITER_STATE_STOPPED)
		return PL_RING_READER_STOPPED;
	if (now_us > heartbeat && now_us - heartbeat > r->stale_us)
		return PL_RING_READER_STALE;
	return state == PL_WRITER_STATE_EMPTY ? PL_RING_READER_WAITING : PL_RING_READER_LIVE;
}

/* Validates a mapped header; fills g. Returns false with r->last_error set. */
static bool validate_header(struct pl_ring_reader *r, const struct pl_ring_header *h, struct pl_ring_geometry *g)
{
	char *err = r->last_error;
	size_t n = sizeof(r->last_error);
	uint32_t magic = pl_atomic_load_acquire_u32(&h->magic);
	if (magic != PL_RING_MAGIC) {
		snprintf(err, n, "ring \"%.64s\": field magic: expected 0x%08x, got 0x%08x", r->name, PL_RING_MAGIC, magic);
		return false;
	}
	if (h->version != PL_RING_VERSION) {
		snprintf(err, n, "ring \"%.64s\": field version: expected %u, got %u", r->name, PL_RING_VERSION, h->version);
		return false;
	}
	if (h->header_size != sizeof(struct pl_ring_header)) {
		snprintf(err, n, "ring \"%.64s\": field header_size: expected %u, got %u", r->name,
			 (unsigned)sizeof(struct pl_ring_header), h->header_size);
		return false;
	}
	if (h->data_offset != PL_RING_DATA_OFFSET) {
		snprintf(err, n, "ring \"%.64s\": field data_offset: expected %u, got %u", r->name, PL_RING_DATA_OFFSET,
			 h->data_offset);
		return false;
	}
	struct pl_ring_geometry packed;
	char why[128];
	if (!pl_ring_geometry_make(&packed, h->width, h->height, h->pixel_format, h->slot_count, why, sizeof(why))) {
		snprintf(err, n, "ring \"%.64s\": %.120s", r->name, why);
		return false;
	}
	/* Writers may pad rows or slots, never pack them tighter. */
	if (h->stride < packed.stride) {
		snprintf(err, n, "ring \"%.64s\": field stride: expected >= %u, got %u", r->name, packed.stride, h->stride);
		return false;
	}
	if ((uint64_t)h->slot_size < (uint64_t)h->stride * h->height) {
		snprintf(err, n, "ring \"%.64s\": field slot_size: expected >= %llu, got %u", r->name,
			 (unsigned long long)h->stride * h->height, h->slot_size);
		return false;
	}
	*g = packed;
	g->stride = h->stride;
	g->slot_size = h->slot_size;
	return true;
}

/* Maps the header page only; returns PL_SHM_* and leaves probe mapped on success. */
static enum pl_shm_result probe_header(struct pl_ring_reader *r, struct pl_shm *probe)
{
	return pl_shm_open(probe, r->name, PL_RING_DATA_OFFSET, false, r->last_error, sizeof(r->last_error));
}

static void reader_map(struct pl_ring_reader *r, uint64_t now_us)
{
	struct pl_shm probe;
	struct pl_ring_geometry g;
	enum pl_shm_result res = probe_header(r, &probe);
	if (res == PL_SHM_NOT_FOUND || res == PL_SHM_TOO_SMALL) {
		/* Too small for a header: a writer between create and ftruncate; try again later. */
		r->state = PL_RING_READER_ABSENT;
		return;
	}
	if (res != PL_SHM_OK) {
		r->state = PL_RING_READER_INVALID;
		return;
	}
	const struct pl_ring_header *h = (const struct pl_ring_header *)probe.addr;
	if (pl_atomic_load_acquire_u32(&h->magic) == 0) {
		/* Created, header not written yet. */
		pl_shm_close(&probe);
		r->state = PL_RING_READER_ABSENT;
		return;
	}
	if (!validate_header(r, h, &g)) {
		pl_shm_close(&probe);
		r->state = PL_RING_READER_INVALID;
		return;
	}
	uint64_t created = pl_atomic_load_relaxed_u64(&h->created_us);
	pl_shm_close(&probe);

	uint64_t total = pl_ring_total_size(g.slot_count, g.slot_size);
	res = pl_shm_open(&r->shm, r->name, (size_t)total, false, r->last_error, sizeof(r->last_error));
	if (res == PL_SHM_NOT_FOUND) {
		r->state = PL_RING_READER_ABSENT;
		return;
	}
	if (res != PL_SHM_OK) {
		r->state = PL_RING_READER_INVALID;
		return;
	}
	r->header = (const struct pl_ring_header *)r->shm.addr;
	/* The object could have been replaced between the two opens: check it again. */
	if (!validate_header(r, r->header, &g) || pl_atomic_load_relaxed_u64(&r->header->created_us) != created) {
		reader_unmap(r);
		r->state = PL_RING_READER_ABSENT;
		return;
	}
	r->data = (const uint8_t *)r->shm.addr + PL_RING_DATA_OFFSET;
	r->geometry = g;
	r->created_us = created;
	r->writer_pid = r->header->writer_pid;
	r->last_frame = 0;
	r->last_identity_check_us = now_us;
	r->last_error[0] = 0;
	r->stats.opens++;
	r->state = liveness(r, now_us);
}

/* Returns true when the object now under the name differs from the mapped one (or the
 * name is gone: *gone set). */
static bool replaced_under_name(struct pl_ring_reader *r, bool *gone)
{
	struct pl_shm probe;
	*gone = false;
	enum pl_shm_result res = probe_header(r, &probe);
	if (res == PL_SHM_NOT_FOUND) {
		*gone = true;
		return false;
	}
	if (res != PL_SHM_OK)
		return false;
	const struct pl_ring_header *h = (const struct pl_ring_header *)probe.addr;
	bool differs = pl_atomic_load_acquire_u32(&h->magic) == PL_RING_MAGIC &&
		       pl_atomic_load_relaxed_u64(&h->created_us) != r->created_us;
	pl_shm_close(&probe);
	return differs;
}

/* A writer that reuses the mapping in place (Windows) rewrites the header: geometry or
 * creation time no longer match what was mapped. */
static bool header_changed_in_place(const struct pl_ring_reader *r)
{
	const struct pl_ring_header *h = r->header;
	return pl_atomic_load_acquire_u32(&h->magic) != PL_RING_MAGIC ||
	       pl_atomic_load_relaxed_u64(&h->created_us) != r->created_us || h->width != r->geometry.width ||
	       h->height != r->geometry.height || h->stride != r->geometry.stride ||
	       h->pixel_format != r->geometry.pixel_format || h->slot_count != r->geometry.slot_count ||
	       h->slot_size != r->geometry.slot_size;
}

enum pl_ring_reader_state pl_ring_reader_poll(struct pl_ring_reader *r, uint64_t now_us)
{
	if (!r->header) {
		if (r->last_open_attempt_us && now_us - r->last_open_attempt_us < r->reopen_interval_us)
			return r->state;
		r->last_open_attempt_us = now_us;
		reader_map(r, now_us);
		return r->state;
	}

	if (header_changed_in_place(r)) {
		reader_unmap(r);
		r->last_open_attempt_us = now_us;
		reader_map(r, now_us);
		return r->state;
	}

	r->state = liveness(r, now_us);
	bool alive = r->state == PL_RING_READER_LIVE || r->state == PL_RING_READER_WAITING;
	if (alive) {
		/* Another writer may have replaced the object while this one still beats. */
		if (now_us - r->last_identity_check_us < r->identity_interval_us)
			return r->state;
		r->last_identity_check_us = now_us;
	} else {
		if (now_us - r->last_open_attempt_us < r->reopen_interval_us)
			return r->state;
		r->last_open_attempt_us = now_us;
	}

	bool gone = false;
	if (replaced_under_name(r, &gone)) {
		reader_unmap(r);
		reader_map(r, now_us);
	} else if (gone && !alive) {
		/* Stopped or dead, and its name removed: nothing left to watch. */
		reader_unmap(r);
		r->state = PL_RING_READER_ABSENT;
	}
	return r->state;
}

size_t pl_ring_reader_frame_bytes(const struct pl_ring_reader *r)
{
	return r->header ? (size_t)r->geometry.stride * r->geometry.height : 0;
}

int pl_ring_reader_read(struct pl_ring_reader *r, uint8_t *dst, size_t dst_size, struct pl_ring_frame_info *info)
{
	if (!r->header)
		return 0;
	const struct pl_ring_geometry *g = &r->geometry;
	size_t bytes = (size_t)g->stride * g->height;
	if (dst_size < bytes)
		return -1;
	const struct pl_ring_header *h = r->header;

	for (int attempt = 0; attempt < PL_RING_READ_ATTEMPTS; attempt++) {
		uint32_t n = pl_atomic_load_acquire_u32(&h->latest_frame);
		if (n == 0 || n == r->last_frame)
			return 0;
		uint32_t i = n % g->slot_count;
		const struct pl_ring_slot *slot = &h->slots[i];
		uint32_t before = pl_atomic_load_acquire_u32(&slot->sequence);
		if (before != 2u * n) {
			/* Already being overwritten by a newer frame: take the newest again. */
			r->stats.retries++;
			continue;
		}
		memcpy(dst, r->data + (size_t)i * g->slot_size, bytes);
		uint64_t capture_us = slot->capture_us;
		uint64_t publish_us = slot->publish_us;
		/* Orders the copy before the second sequence load. */
		pl_atomic_fence_acquire();
		uint32_t after = pl_atomic_load_relaxed_u32(&slot->sequence);
		if (after != before) {
			r->stats.torn_reads++;
			r->stats.retries++;
			continue;
		}
		uint32_t skipped = (r->last_frame == 0 || n < r->last_frame) ? 0 : n - r->last_frame - 1u;
		r->last_frame = n;
		r->stats.frames_read++;
		r->stats.frames_skipped += skipped;
		if (info) {
			info->frame_number = n;
			info->skipped = skipped;
			info->capture_us = capture_us;
			info->publish_us = publish_us;
		}
		return 1;
	}
	return 0;
}
