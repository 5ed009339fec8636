/*
 * "PersonaLive Output": an asynchronous video source showing the frames the daemon
 * writes into the output ring (include/personalive-ring.h).
 *
 * One worker thread per source (like obs-studio's test/test-input/test-random.c) does
 * all ring I/O: it polls the ring at about twice its frame rate, copies each new frame
 * with the seqlock read and hands it to obs_source_output_video (RGB24 is converted to
 * BGRA in the thread, into a reused buffer). When the writer is gone (no ring, STOPPED,
 * stale heartbeat) the last frame stays for hold_ms, then an "offline" placeholder is
 * shown and re-sent about once a second, until a writer comes back (reopened by name).
 * OBS callbacks never touch the ring; the figures GetStatus reports are atomics.
 */
#include "placeholder.h"
#include "plugin-support.h"
#include "registry.h"
#include "ring.h"

#include <util/bmem.h>
#include <util/platform.h>
#include <util/threading.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#define S_RING_NAME "ring_name"
#define S_HOLD_MS "hold_ms"
#define DEFAULT_HOLD_MS 1000
#define PLACEHOLDER_DEFAULT_SIZE 512u
#define PLACEHOLDER_REPEAT_NS 1000000000ull
#define OFFLINE_POLL_MS 50ul
#define MIN_POLL_MS 2ul
#define MAX_POLL_MS 50ul

struct output_source {
	obs_source_t *context;

	os_event_t *stop_signal;
	pthread_t thread;
	bool thread_started;

	/* Settings: written by update (UI thread), read by the worker when `settings_changed`. */
	pthread_mutex_t settings_mutex;
	char ring_name[208];
	long hold_ms;
	volatile bool settings_changed;

	/* Figures for GetStatus, written by the worker only. */
	volatile long connected;
	volatile long width;
	volatile long height;
	volatile long frames_shown;
	volatile long drops;
	volatile long torn_reads;
	volatile long writer_pid;
	volatile long last_frame;
	volatile long reader_state; /* enum pl_ring_reader_state */
	volatile long placeholder;  /* 1 while the placeholder is what the source shows */
};

/* Worker-thread state: lives on the worker's stack. */
struct worker {
	struct output_source *s;
	struct pl_ring_reader reader;
	uint8_t *frame;
	size_t frame_size;
	uint8_t *converted;
	size_t converted_size;
	uint8_t *placeholder;
	size_t placeholder_size;
	uint32_t placeholder_w, placeholder_h;
	uint32_t shown_w, shown_h; /* size of the last real frame */
	bool real_frame_shown;     /* the source currently shows a ring frame */
	uint64_t offline_since_ns; /* 0 while a writer is alive */
	uint64_t last_placeholder_ns;
	long hold_ms;
	enum pl_ring_reader_state logged_state;
	char logged_error[PL_RING_ERR_SIZE];
};

static const char *format_name(uint32_t format)
{
	switch (format) {
	case PL_PIXEL_FORMAT_RGB24:
		return "RGB24";
	case PL_PIXEL_FORMAT_RGBA:
		return "RGBA";
	case PL_PIXEL_FORMAT_BGRA:
		return "BGRA";
	default:
		return "unknown";
	}
}

static bool ensure_buffer(uint8_t **buffer, size_t *size, size_t needed)
{
	if (*size >= needed && *buffer)
		return true;
	bfree(*buffer);
	*buffer = bmalloc(needed);
	*size = *buffer ? needed : 0;
	return *buffer != NULL;
}

static void log_state_change(struct worker *w, enum pl_ring_reader_state state)
{
	struct output_source *s = w->s;
	const struct pl_ring_reader *r = &w->reader;
	const char *source_name = obs_source_get_name(s->context);

	if (state == PL_RING_READER_INVALID) {
		if (strcmp(w->logged_error, r->last_error) != 0) {
			pl_log(LOG_WARNING, "output '%s': %s", source_name, r->last_error);
			snprintf(w->logged_error, sizeof(w->logged_error), "%s", r->last_error);
		}
		w->logged_state = state;
		return;
	}
	if (state == w->logged_state)
		return;
	w->logged_error[0] = 0;
	w->logged_state = state;
	if (state == PL_RING_READER_LIVE || state == PL_RING_READER_WAITING) {
		pl_log(LOG_INFO, "output '%s': ring '%s' %s: %ux%u %s, %u slots, writer pid %u", source_name, r->name,
		       pl_ring_reader_state_name(state), r->geometry.width, r->geometry.height,
		       format_name(r->geometry.pixel_format), r->geometry.slot_count, r->writer_pid);
	} else {
		pl_log(LOG_INFO, "output '%s': ring '%s' %s", source_name, r->name, pl_ring_reader_state_name(state));
	}
}

static void output_frame(struct output_source *s, const uint8_t *data, uint32_t linesize, uint32_t width,
			 uint32_t height, enum video_format format, uint64_t timestamp_ns)
{
	struct obs_source_frame frame;
	memset(&frame, 0, sizeof(frame));
	frame.data[0] = (uint8_t *)data;
	frame.linesize[0] = linesize;
	frame.width = width;
	frame.height = height;
	frame.format = format;
	frame.timestamp = timestamp_ns;
	frame.full_range = true;
	obs_source_output_video(s->context, &frame);
}

static void show_ring_frame(struct worker *w, const struct pl_ring_frame_info *info, uint64_t now_ns)
{
	struct output_source *s = w->s;
	const struct pl_ring_geometry *g = &w->reader.geometry;
	const uint8_t *pixels = w->frame;
	uint32_t linesize = g->stride;
	enum video_format format;

	switch (g->pixel_format) {
	case PL_PIXEL_FORMAT_RGBA:
		format = VIDEO_FORMAT_RGBA;
		break;
	case PL_PIXEL_FORMAT_BGRA:
		format = VIDEO_FORMAT_BGRA;
		break;
	case PL_PIXEL_FORMAT_RGB24: {
		/* OBS has no packed 24-bit RGB input format: widen to BGRA. */
		size_t needed = (size_t)g->width * 4u * g->height;
		if (!ensure_buffer(&w->converted, &w->converted_size, needed))
			return;
		for (uint32_t y = 0; y < g->height; y++) {
			const uint8_t *src = w->frame + (size_t)y * g->stride;
			uint8_t *dst = w->converted + (size_t)y * g->width * 4u;
			for (uint32_t x = 0; x < g->width; x++, src += 3, dst += 4) {
				dst[0] = src[2];
				dst[1] = src[1];
				dst[2] = src[0];
				dst[3] = 255;
			}
		}
		pixels = w->converted;
		linesize = g->width * 4u;
		format = VIDEO_FORMAT_BGRA;
		break;
	}
	default:
		return;
	}

	uint64_t timestamp = info->capture_us ? info->capture_us * 1000u : now_ns;
	output_frame(s, pixels, linesize, g->width, g->height, format, timestamp);

	w->real_frame_shown = true;
	w->shown_w = g->width;
	w->shown_h = g->height;
	os_atomic_inc_long(&s->frames_shown);
	if (info->skipped)
		os_atomic_set_long(&s->drops, os_atomic_load_long(&s->drops) + (long)info->skipped);
	os_atomic_set_long(&s->last_frame, (long)info->frame_number);
	os_atomic_set_long(&s->width, (long)g->width);
	os_atomic_set_long(&s->height, (long)g->height);
	os_atomic_set_long(&s->placeholder, 0);
}

static void show_placeholder(struct worker *w, uint64_t now_ns)
{
	struct output_source *s = w->s;
	uint32_t width = w->shown_w ? w->shown_w : PLACEHOLDER_DEFAULT_SIZE;
	uint32_t height = w->shown_h ? w->shown_h : PLACEHOLDER_DEFAULT_SIZE;
	if (width != w->placeholder_w || height != w->placeholder_h || !w->placeholder) {
		if (!ensure_buffer(&w->placeholder, &w->placeholder_size, (size_t)width * 4u * height))
			return;
		pl_placeholder_draw(w->placeholder, width, height, width * 4u);
		w->placeholder_w = width;
		w->placeholder_h = height;
	}
	output_frame(s, w->placeholder, width * 4u, width, height, VIDEO_FORMAT_BGRA, now_ns);
	if (w->real_frame_shown)
		pl_log(LOG_INFO, "output '%s': writer gone, showing the offline placeholder",
		       obs_source_get_name(s->context));
	w->real_frame_shown = false;
	w->last_placeholder_ns = now_ns;
	os_atomic_set_long(&s->width, (long)width);
	os_atomic_set_long(&s->height, (long)height);
	os_atomic_set_long(&s->placeholder, 1);
}

static void apply_settings(struct worker *w)
{
	struct output_source *s = w->s;
	char name[sizeof(s->ring_name)];
	pthread_mutex_lock(&s->settings_mutex);
	os_atomic_set_bool(&s->settings_changed, false);
	memcpy(name, s->ring_name, sizeof(name));
	w->hold_ms = s->hold_ms;
	pthread_mutex_unlock(&s->settings_mutex);

	if (strcmp(name, w->reader.name) != 0) {
		pl_ring_reader_close(&w->reader);
		pl_ring_reader_init(&w->reader, name);
		w->logged_state = PL_RING_READER_ABSENT;
		w->logged_error[0] = 0;
		os_atomic_set_long(&s->last_frame, 0);
	}
}

/* Time to the next poll: half a frame of the ring's rate (else of OBS's), 2..50 ms. */
static unsigned long poll_interval_ms(const struct pl_ring_reader *r, bool alive)
{
	if (!alive)
		return OFFLINE_POLL_MS;
	uint32_t num = 0, den = 1;
	if (r->header) {
		num = r->header->fps_num;
		den = r->header->fps_den ? r->header->fps_den : 1;
	}
	if (!num) {
		struct obs_video_info ovi;
		if (obs_get_video_info(&ovi) && ovi.fps_num) {
			num = ovi.fps_num;
			den = ovi.fps_den ? ovi.fps_den : 1;
		} else {
			num = 30;
			den = 1;
		}
	}
	unsigned long ms = (unsigned long)(500ull * den / num);
	if (ms < MIN_POLL_MS)
		ms = MIN_POLL_MS;
	if (ms > MAX_POLL_MS)
		ms = MAX_POLL_MS;
	return ms;
}

static void poll_once(struct worker *w)
{
	struct output_source *s = w->s;
	uint64_t now_ns = os_gettime_ns();
	enum pl_ring_reader_state state = pl_ring_reader_poll(&w->reader, now_ns / 1000u);
	bool alive = state == PL_RING_READER_LIVE || state == PL_RING_READER_WAITING;
	log_state_change(w, state);

	os_atomic_set_long(&s->reader_state, (long)state);
	os_atomic_set_long(&s->connected, alive ? 1 : 0);
	os_atomic_set_long(&s->writer_pid, w->reader.header ? (long)w->reader.writer_pid : 0);

	if (alive) {
		w->offline_since_ns = 0;
		size_t bytes = pl_ring_reader_frame_bytes(&w->reader);
		if (bytes && ensure_buffer(&w->frame, &w->frame_size, bytes)) {
			struct pl_ring_frame_info info;
			if (pl_ring_reader_read(&w->reader, w->frame, w->frame_size, &info) == 1)
				show_ring_frame(w, &info, now_ns);
			os_atomic_set_long(&s->torn_reads, (long)w->reader.stats.torn_reads);
		}
		return;
	}

	if (!w->offline_since_ns)
		w->offline_since_ns = now_ns;
	if (w->real_frame_shown) {
		/* Keep the last frame a moment: a restarting daemon should not flash the placeholder. */
		if (now_ns - w->offline_since_ns >= (uint64_t)w->hold_ms * 1000000ull)
			show_placeholder(w, now_ns);
	} else if (!w->last_placeholder_ns || now_ns - w->last_placeholder_ns >= PLACEHOLDER_REPEAT_NS) {
		/* Re-sent about once a second so a scene switched to later shows it too. */
		show_placeholder(w, now_ns);
	}
}

/* The worker thread: all ring I/O of this source happens here. */
static void *output_thread(void *data)
{
	struct worker w;
	memset(&w, 0, sizeof(w));
	w.s = data;
	w.logged_state = PL_RING_READER_ABSENT;
	os_set_thread_name("personalive-output");
	pl_ring_reader_init(&w.reader, "");
	apply_settings(&w);

	unsigned long wait_ms = 0;
	while (os_event_timedwait(w.s->stop_signal, wait_ms) == ETIMEDOUT) {
		if (os_atomic_load_bool(&w.s->settings_changed))
			apply_settings(&w);
		poll_once(&w);
		wait_ms = poll_interval_ms(&w.reader, os_atomic_load_long(&w.s->connected) != 0);
	}

	pl_ring_reader_close(&w.reader);
	bfree(w.frame);
	bfree(w.converted);
	bfree(w.placeholder);
	return NULL;
}

/* ------------------------------------------------------------------------------------ */
/* OBS callbacks */

/* UI thread (source lists, properties). */
static const char *output_get_name(void *type_data)
{
	UNUSED_PARAMETER(type_data);
	return obs_module_text("OutputSource.Name");
}

/* UI thread, or obs-websocket's thread for GetSourceSettings / GetInputDefaultSettings. */
static void output_get_defaults(obs_data_t *settings)
{
	obs_data_set_default_string(settings, S_RING_NAME, PL_RING_NAME_OUTPUT);
	obs_data_set_default_int(settings, S_HOLD_MS, DEFAULT_HOLD_MS);
}

/* UI thread (properties dialog). */
static obs_properties_t *output_get_properties(void *data)
{
	UNUSED_PARAMETER(data);
	obs_properties_t *props = obs_properties_create();
	obs_properties_add_text(props, S_RING_NAME, obs_module_text("OutputSource.RingName"), OBS_TEXT_DEFAULT);
	obs_property_t *hold =
		obs_properties_add_int(props, S_HOLD_MS, obs_module_text("OutputSource.HoldMs"), 0, 60000, 100);
	obs_property_int_set_suffix(hold, " ms");
	obs_property_set_long_description(hold, obs_module_text("OutputSource.HoldMs.Description"));
	return props;
}

/* Whichever thread changes the settings (UI thread, obs-websocket's thread); also from create. */
static void output_update(void *data, obs_data_t *settings)
{
	struct output_source *s = data;
	const char *name = obs_data_get_string(settings, S_RING_NAME);
	long long hold = obs_data_get_int(settings, S_HOLD_MS);
	if (!name || !*name)
		name = PL_RING_NAME_OUTPUT;
	if (!pl_shm_name_valid(name)) {
		pl_log(LOG_WARNING, "output '%s': ring name \"%s\" is invalid (expected " PL_SHM_NAME_RULE "); using \"%s\"",
		       obs_source_get_name(s->context), name, PL_RING_NAME_OUTPUT);
		name = PL_RING_NAME_OUTPUT;
	}
	if (hold < 0)
		hold = 0;
	if (hold > 600000)
		hold = 600000;
	pthread_mutex_lock(&s->settings_mutex);
	snprintf(s->ring_name, sizeof(s->ring_name), "%s", name);
	s->hold_ms = (long)hold;
	os_atomic_set_bool(&s->settings_changed, true);
	pthread_mutex_unlock(&s->settings_mutex);
}

/* Under the registry mutex, on obs-websocket's request thread (GetStatus). */
static void output_describe(void *data, obs_data_t *item)
{
	struct output_source *s = data;
	char ring[sizeof(s->ring_name)];
	pthread_mutex_lock(&s->settings_mutex);
	memcpy(ring, s->ring_name, sizeof(ring));
	pthread_mutex_unlock(&s->settings_mutex);

	obs_data_set_string(item, "source", obs_source_get_name(s->context));
	obs_data_set_string(item, "ring", ring);
	obs_data_set_bool(item, "connected", os_atomic_load_long(&s->connected) != 0);
	obs_data_set_string(item, "state",
			    pl_ring_reader_state_name((enum pl_ring_reader_state)os_atomic_load_long(&s->reader_state)));
	obs_data_set_bool(item, "placeholder", os_atomic_load_long(&s->placeholder) != 0);
	obs_data_set_int(item, "width", os_atomic_load_long(&s->width));
	obs_data_set_int(item, "height", os_atomic_load_long(&s->height));
	obs_data_set_int(item, "framesShown", os_atomic_load_long(&s->frames_shown));
	obs_data_set_int(item, "drops", os_atomic_load_long(&s->drops));
	obs_data_set_int(item, "tornReads", os_atomic_load_long(&s->torn_reads));
	obs_data_set_int(item, "writerPid", os_atomic_load_long(&s->writer_pid));
	obs_data_set_int(item, "lastFrame", (long long)(unsigned long)os_atomic_load_long(&s->last_frame));
}

/* Any thread that releases the last reference (usually the UI thread). */
static void output_destroy(void *data)
{
	struct output_source *s = data;
	if (!s)
		return;
	pl_registry_remove(s);
	if (s->thread_started) {
		os_event_signal(s->stop_signal);
		pthread_join(s->thread, NULL);
	}
	os_event_destroy(s->stop_signal);
	pthread_mutex_destroy(&s->settings_mutex);
	bfree(s);
}

/* UI thread, or obs-websocket's thread for CreateInput. */
static void *output_create(obs_data_t *settings, obs_source_t *source)
{
	struct output_source *s = bzalloc(sizeof(struct output_source));
	s->context = source;
	if (pthread_mutex_init(&s->settings_mutex, NULL) != 0) {
		bfree(s);
		return NULL;
	}
	if (os_event_init(&s->stop_signal, OS_EVENT_TYPE_MANUAL) != 0) {
		pthread_mutex_destroy(&s->settings_mutex);
		bfree(s);
		return NULL;
	}
	output_update(s, settings);

	/* Newest frame at once: a live feed should not be delayed to smooth its timestamps. */
	obs_source_set_async_unbuffered(source, true);

	if (pthread_create(&s->thread, NULL, output_thread, s) != 0) {
		pl_log(LOG_ERROR, "output '%s': could not start its thread", obs_source_get_name(source));
		output_destroy(s);
		return NULL;
	}
	s->thread_started = true;
	pl_registry_add(PL_REGISTRY_OUTPUT, s, output_describe);
	return s;
}

struct obs_source_info pl_output_source_info = {
	.id = PL_OUTPUT_SOURCE_ID,
	.type = OBS_SOURCE_TYPE_INPUT,
	.output_flags = OBS_SOURCE_ASYNC_VIDEO | OBS_SOURCE_DO_NOT_DUPLICATE,
	.icon_type = OBS_ICON_TYPE_CAMERA,
	.get_name = output_get_name,
	.create = output_create,
	.destroy = output_destroy,
	.update = output_update,
	.get_defaults = output_get_defaults,
	.get_properties = output_get_properties,
};
