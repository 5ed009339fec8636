/*
 * "PersonaLive Driving Capture": a video filter that leaves its source untouched and, at
 * most at the configured rate, copies what the source shows (optionally a crop of it,
 * scaled to the configured size) into the driving ring as BGRA for the daemon.
 *
 * GPU path (graphics thread only): render the filter's target into a gs_texrender of the
 * ring size with an orthographic projection over the crop rectangle, stage it with
 * gs_stage_texture, and map that staging surface on a LATER frame (tick), when the GPU
 * copy is long finished, so mapping never stalls the frame that staged it. The mapped
 * rows go straight into the ring slot (seqlock write). One staging surface is enough:
 * each render first finishes the previous tick's copy, then stages the next.
 *
 * The ring is created lazily at the first copy and again when the size or name changes;
 * the heartbeat is refreshed at every copy and from video_tick while idle; destroy marks
 * it STOPPED.
 */
#include "plugin-support.h"
#include "registry.h"
#include "ring.h"

#include <graphics/graphics.h>
#include <graphics/vec4.h>
#include <util/bmem.h>
#include <util/platform.h>
#include <util/threading.h>

#include <stdio.h>
#include <string.h>

#define S_RING_NAME "ring_name"
#define S_FPS "fps"
#define S_WIDTH "width"
#define S_HEIGHT "height"
#define S_CROP "crop"
#define S_CROP_X "crop_x"
#define S_CROP_Y "crop_y"
#define S_CROP_W "crop_w"
#define S_CROP_H "crop_h"

#define DEFAULT_FPS 25
#define DEFAULT_SIZE 512
#define RING_SLOTS 4u
#define RING_RETRY_NS 2000000000ull

struct filter_settings {
	char ring_name[208];
	int fps;
	uint32_t width;
	uint32_t height;
	bool crop;
	int crop_x, crop_y, crop_w, crop_h; /* source pixels; w/h 0 = to the right/bottom edge */
};

struct driving_filter {
	obs_source_t *context;

	/* Written by update (UI thread), taken by video_tick when `settings_changed`. */
	pthread_mutex_t settings_mutex;
	struct filter_settings pending;
	volatile bool settings_changed;

	/* Graphics thread only (video_tick, video_render). */
	struct filter_settings active;
	gs_texrender_t *texrender;
	gs_stagesurf_t *stage;
	uint32_t stage_w, stage_h;
	bool staged;
	uint64_t staged_tick;
	uint64_t staged_capture_us;
	uint64_t tick;
	double since_capture;
	bool capture_due;
	uint64_t captured_tick;
	struct pl_ring_writer ring;
	uint64_t ring_retry_ns;
	char logged_error[PL_RING_ERR_SIZE];

	/* Figures for GetStatus. */
	volatile long frames_written;
	volatile long frames_skipped;
	volatile long ring_open;
};

static void count_skipped(struct driving_filter *f)
{
	os_atomic_inc_long(&f->frames_skipped);
	pl_ring_writer_count_dropped(&f->ring, 1);
}

static void read_settings(struct filter_settings *out, obs_data_t *settings)
{
	const char *name = obs_data_get_string(settings, S_RING_NAME);
	if (!name || !*name || !pl_shm_name_valid(name)) {
		if (name && *name)
			pl_log(LOG_WARNING, "driving filter: ring name \"%s\" is invalid (expected " PL_SHM_NAME_RULE "); using \"%s\"",
			       name, PL_RING_NAME_DRIVING);
		name = PL_RING_NAME_DRIVING;
	}
	snprintf(out->ring_name, sizeof(out->ring_name), "%s", name);
	long long fps = obs_data_get_int(settings, S_FPS);
	long long w = obs_data_get_int(settings, S_WIDTH);
	long long h = obs_data_get_int(settings, S_HEIGHT);
	out->fps = (int)(fps < 1 ? 1 : fps > 120 ? 120 : fps);
	out->width = (uint32_t)(w < 16 ? 16 : w > 4096 ? 4096 : w);
	out->height = (uint32_t)(h < 16 ? 16 : h > 4096 ? 4096 : h);
	out->crop = obs_data_get_bool(settings, S_CROP);
	out->crop_x = (int)obs_data_get_int(settings, S_CROP_X);
	out->crop_y = (int)obs_data_get_int(settings, S_CROP_Y);
	out->crop_w = (int)obs_data_get_int(settings, S_CROP_W);
	out->crop_h = (int)obs_data_get_int(settings, S_CROP_H);
}

/* Creates the ring when missing or when its size or name no longer match. Graphics thread. */
static bool ensure_ring(struct driving_filter *f, uint32_t width, uint32_t height, uint64_t now_ns)
{
	struct pl_ring_writer *r = &f->ring;
	if (pl_ring_writer_is_open(r) && r->geometry.width == width && r->geometry.height == height &&
	    strcmp(r->name, f->active.ring_name) == 0)
		return true;
	if (!pl_ring_writer_is_open(r) && f->ring_retry_ns && now_ns < f->ring_retry_ns)
		return false;

	uint64_t now_us = now_ns / 1000u;
	pl_ring_writer_close(r, now_us);
	os_atomic_set_long(&f->ring_open, 0);

	struct pl_ring_geometry g;
	char err[PL_RING_ERR_SIZE];
	bool ok = pl_ring_geometry_make(&g, width, height, PL_PIXEL_FORMAT_BGRA, RING_SLOTS, err, sizeof(err)) &&
		  pl_ring_writer_create(r, f->active.ring_name, &g, (uint32_t)f->active.fps, 1, now_us, err,
					sizeof(err));
	if (!ok) {
		f->ring_retry_ns = now_ns + RING_RETRY_NS;
		if (strcmp(err, f->logged_error) != 0) {
			pl_log(LOG_WARNING, "driving filter '%s': cannot create ring '%s': %s",
			       obs_source_get_name(f->context), f->active.ring_name, err);
			snprintf(f->logged_error, sizeof(f->logged_error), "%s", err);
		}
		return false;
	}
	f->ring_retry_ns = 0;
	f->logged_error[0] = 0;
	os_atomic_set_long(&f->ring_open, 1);
	pl_log(LOG_INFO, "driving filter '%s': writing ring '%s' (%ux%u BGRA, %u slots, %d fps)",
	       obs_source_get_name(f->context), f->active.ring_name, width, height, RING_SLOTS, f->active.fps);
	return true;
}

/* Copies the frame staged on an earlier tick into the ring. Graphics thread. */
static void finish_staged_copy(struct driving_filter *f)
{
	if (!f->staged || f->staged_tick == f->tick)
		return;
	f->staged = false;

	uint64_t now_ns = os_gettime_ns();
	if (!ensure_ring(f, f->stage_w, f->stage_h, now_ns)) {
		count_skipped(f);
		return;
	}
	uint8_t *data = NULL;
	uint32_t linesize = 0;
	if (!gs_stagesurface_map(f->stage, &data, &linesize)) {
		count_skipped(f);
		return;
	}
	pl_ring_writer_publish(&f->ring, data, linesize, f->staged_capture_us, now_ns / 1000u);
	gs_stagesurface_unmap(f->stage);
	os_atomic_inc_long(&f->frames_written);
}

/* The crop rectangle in source pixels, clamped to the source. */
static void crop_rect(const struct filter_settings *s, uint32_t src_w, uint32_t src_h, float *x, float *y, float *w,
		      float *h)
{
	if (!s->crop) {
		*x = 0.0f;
		*y = 0.0f;
		*w = (float)src_w;
		*h = (float)src_h;
		return;
	}
	long cx = s->crop_x < 0 ? 0 : s->crop_x;
	long cy = s->crop_y < 0 ? 0 : s->crop_y;
	if (cx > (long)src_w - 1)
		cx = (long)src_w - 1;
	if (cy > (long)src_h - 1)
		cy = (long)src_h - 1;
	long cw = s->crop_w > 0 ? s->crop_w : (long)src_w - cx;
	long ch = s->crop_h > 0 ? s->crop_h : (long)src_h - cy;
	if (cx + cw > (long)src_w)
		cw = (long)src_w - cx;
	if (cy + ch > (long)src_h)
		ch = (long)src_h - cy;
	*x = (float)cx;
	*y = (float)cy;
	*w = (float)(cw < 1 ? 1 : cw);
	*h = (float)(ch < 1 ? 1 : ch);
}

/* Renders the target into the texrender and stages it. Graphics thread, inside video_render. */
static bool stage_capture(struct driving_filter *f)
{
	obs_source_t *target = obs_filter_get_target(f->context);
	obs_source_t *parent = obs_filter_get_parent(f->context);
	if (!target || !parent)
		return false;
	uint32_t src_w = obs_source_get_base_width(target);
	uint32_t src_h = obs_source_get_base_height(target);
	if (!src_w || !src_h)
		return false;

	uint32_t out_w = f->active.width;
	uint32_t out_h = f->active.height;
	if (!f->texrender)
		f->texrender = gs_texrender_create(GS_BGRA, GS_ZS_NONE);
	if (!f->stage || f->stage_w != out_w || f->stage_h != out_h) {
		gs_stagesurface_destroy(f->stage);
		f->stage = gs_stagesurface_create(out_w, out_h, GS_BGRA);
		f->stage_w = out_w;
		f->stage_h = out_h;
	}
	if (!f->texrender || !f->stage)
		return false;

	float x, y, w, h;
	crop_rect(&f->active, src_w, src_h, &x, &y, &w, &h);

	gs_texrender_reset(f->texrender);
	if (!gs_texrender_begin(f->texrender, out_w, out_h))
		return false;

	struct vec4 clear_color;
	vec4_zero(&clear_color);
	gs_clear(GS_CLEAR_COLOR, &clear_color, 0.0f, 0);
	gs_ortho(x, x + w, y, y + h, -100.0f, 100.0f);

	/* The same blend and the same target rendering as libobs' own filter processing
	 * (obs_source_process_filter_begin), so the capture matches what the filter receives. */
	gs_blend_state_push();
	gs_blend_function_separate(GS_BLEND_SRCALPHA, GS_BLEND_INVSRCALPHA, GS_BLEND_ONE, GS_BLEND_INVSRCALPHA);
	uint32_t parent_flags = obs_source_get_output_flags(parent);
	bool custom_draw = (parent_flags & OBS_SOURCE_CUSTOM_DRAW) != 0;
	bool async = (parent_flags & OBS_SOURCE_ASYNC) != 0;
	if (target == parent && !custom_draw && !async)
		obs_source_default_render(target);
	else
		obs_source_video_render(target);
	gs_blend_state_pop();
	gs_texrender_end(f->texrender);

	gs_stage_texture(f->stage, gs_texrender_get_texture(f->texrender));
	f->staged = true;
	f->staged_tick = f->tick;
	f->staged_capture_us = os_gettime_ns() / 1000u;
	return true;
}

/* ------------------------------------------------------------------------------------ */
/* OBS callbacks */

/* UI thread (filter lists, properties). */
static const char *filter_get_name(void *type_data)
{
	UNUSED_PARAMETER(type_data);
	return obs_module_text("DrivingFilter.Name");
}

/* UI thread, or obs-websocket's thread for its filter requests. */
static void filter_get_defaults(obs_data_t *settings)
{
	obs_data_set_default_string(settings, S_RING_NAME, PL_RING_NAME_DRIVING);
	obs_data_set_default_int(settings, S_FPS, DEFAULT_FPS);
	obs_data_set_default_int(settings, S_WIDTH, DEFAULT_SIZE);
	obs_data_set_default_int(settings, S_HEIGHT, DEFAULT_SIZE);
	obs_data_set_default_bool(settings, S_CROP, false);
	obs_data_set_default_int(settings, S_CROP_X, 0);
	obs_data_set_default_int(settings, S_CROP_Y, 0);
	obs_data_set_default_int(settings, S_CROP_W, 0);
	obs_data_set_default_int(settings, S_CROP_H, 0);
}

/* UI thread: shows the crop fields only when cropping is on. */
static bool crop_modified(obs_properties_t *props, obs_property_t *property, obs_data_t *settings)
{
	UNUSED_PARAMETER(property);
	bool crop = obs_data_get_bool(settings, S_CROP);
	obs_property_set_visible(obs_properties_get(props, S_CROP_X), crop);
	obs_property_set_visible(obs_properties_get(props, S_CROP_Y), crop);
	obs_property_set_visible(obs_properties_get(props, S_CROP_W), crop);
	obs_property_set_visible(obs_properties_get(props, S_CROP_H), crop);
	return true;
}

/* UI thread (properties dialog). */
static obs_properties_t *filter_get_properties(void *data)
{
	UNUSED_PARAMETER(data);
	obs_properties_t *props = obs_properties_create();
	obs_properties_add_text(props, S_RING_NAME, obs_module_text("DrivingFilter.RingName"), OBS_TEXT_DEFAULT);
	obs_properties_add_int(props, S_FPS, obs_module_text("DrivingFilter.Fps"), 1, 120, 1);
	obs_property_t *p = obs_properties_add_int(props, S_WIDTH, obs_module_text("DrivingFilter.Width"), 16, 4096, 1);
	obs_property_int_set_suffix(p, " px");
	p = obs_properties_add_int(props, S_HEIGHT, obs_module_text("DrivingFilter.Height"), 16, 4096, 1);
	obs_property_int_set_suffix(p, " px");
	p = obs_properties_add_bool(props, S_CROP, obs_module_text("DrivingFilter.Crop"));
	obs_property_set_modified_callback(p, crop_modified);
	p = obs_properties_add_int(props, S_CROP_X, obs_module_text("DrivingFilter.CropX"), 0, 16384, 1);
	obs_property_int_set_suffix(p, " px");
	p = obs_properties_add_int(props, S_CROP_Y, obs_module_text("DrivingFilter.CropY"), 0, 16384, 1);
	obs_property_int_set_suffix(p, " px");
	p = obs_properties_add_int(props, S_CROP_W, obs_module_text("DrivingFilter.CropWidth"), 0, 16384, 1);
	obs_property_int_set_suffix(p, " px");
	obs_property_set_long_description(p, obs_module_text("DrivingFilter.CropSize.Description"));
	p = obs_properties_add_int(props, S_CROP_H, obs_module_text("DrivingFilter.CropHeight"), 0, 16384, 1);
	obs_property_int_set_suffix(p, " px");
	obs_property_set_long_description(p, obs_module_text("DrivingFilter.CropSize.Description"));
	return props;
}

/* Whichever thread changes the settings (UI thread, obs-websocket's thread); also from create. */
static void filter_update(void *data, obs_data_t *settings)
{
	struct driving_filter *f = data;
	struct filter_settings next;
	read_settings(&next, settings);
	pthread_mutex_lock(&f->settings_mutex);
	f->pending = next;
	os_atomic_set_bool(&f->settings_changed, true);
	pthread_mutex_unlock(&f->settings_mutex);
}

/* Graphics thread, once per frame for every source: bookkeeping only (rate, settings,
 * idle heartbeat); no rendering here. */
static void filter_video_tick(void *data, float seconds)
{
	struct driving_filter *f = data;
	f->tick++;

	if (os_atomic_load_bool(&f->settings_changed)) {
		pthread_mutex_lock(&f->settings_mutex);
		f->active = f->pending;
		os_atomic_set_bool(&f->settings_changed, false);
		pthread_mutex_unlock(&f->settings_mutex);
	}

	/* A capture that fell due but never ran: the source was not rendered anywhere. */
	if (f->capture_due) {
		f->capture_due = false;
		count_skipped(f);
	}

	double interval = 1.0 / (double)f->active.fps;
	f->since_capture += (double)seconds;
	if (f->since_capture >= interval) {
		f->capture_due = true;
		f->since_capture -= interval;
		if (f->since_capture > interval)
			f->since_capture = 0.0; /* after a stall, do not try to catch up */
	}

	pl_ring_writer_heartbeat(&f->ring, os_gettime_ns() / 1000u);
}

/* Graphics thread, each time the source is drawn (program, preview, projectors,
 * screenshots): passes the source through unchanged and does at most one capture a tick. */
static void filter_video_render(void *data, gs_effect_t *effect)
{
	UNUSED_PARAMETER(effect);
	struct driving_filter *f = data;

	finish_staged_copy(f);
	if (f->capture_due && f->captured_tick != f->tick) {
		f->capture_due = false;
		f->captured_tick = f->tick;
		if (!stage_capture(f))
			count_skipped(f);
	}

	obs_source_skip_video_filter(f->context);
}

/* Under the registry mutex, on obs-websocket's request thread (GetStatus). */
static void filter_describe(void *data, obs_data_t *item)
{
	struct driving_filter *f = data;
	struct filter_settings s;
	pthread_mutex_lock(&f->settings_mutex);
	s = f->pending;
	pthread_mutex_unlock(&f->settings_mutex);

	obs_source_t *parent = obs_filter_get_parent(f->context);
	obs_data_set_string(item, "source", parent ? obs_source_get_name(parent) : "");
	obs_data_set_string(item, "filter", obs_source_get_name(f->context));
	obs_data_set_string(item, "ring", s.ring_name);
	obs_data_set_bool(item, "ringOpen", os_atomic_load_long(&f->ring_open) != 0);
	obs_data_set_int(item, "width", s.width);
	obs_data_set_int(item, "height", s.height);
	obs_data_set_int(item, "fps", s.fps);
	obs_data_set_bool(item, "crop", s.crop);
	obs_data_set_int(item, "framesWritten", os_atomic_load_long(&f->frames_written));
	obs_data_set_int(item, "framesSkipped", os_atomic_load_long(&f->frames_skipped));
}

/* Any thread that releases the last reference (often OBS's destruction thread); the
 * filter is no longer ticked or rendered by then. */
static void filter_destroy(void *data)
{
	struct driving_filter *f = data;
	if (!f)
		return;
	pl_registry_remove(f);
	obs_enter_graphics();
	gs_stagesurface_destroy(f->stage);
	gs_texrender_destroy(f->texrender);
	obs_leave_graphics();
	pl_ring_writer_close(&f->ring, os_gettime_ns() / 1000u);
	pthread_mutex_destroy(&f->settings_mutex);
	bfree(f);
}

/* UI thread, or obs-websocket's thread for CreateSourceFilter. */
static void *filter_create(obs_data_t *settings, obs_source_t *source)
{
	struct driving_filter *f = bzalloc(sizeof(struct driving_filter));
	f->context = source;
	if (pthread_mutex_init(&f->settings_mutex, NULL) != 0) {
		bfree(f);
		return NULL;
	}
	read_settings(&f->active, settings);
	filter_update(f, settings);
	pl_registry_add(PL_REGISTRY_FILTER, f, filter_describe);
	return f;
}

struct obs_source_info pl_driving_filter_info = {
	.id = PL_DRIVING_FILTER_ID,
	.type = OBS_SOURCE_TYPE_FILTER,
	.output_flags = OBS_SOURCE_VIDEO,
	.get_name = filter_get_name,
	.create = filter_create,
	.destroy = filter_destroy,
	.update = filter_update,
	.get_defaults = filter_get_defaults,
	.get_properties = filter_get_properties,
	.video_tick = filter_video_tick,
	.video_render = filter_video_render,
};
