/*
 * pl-ring-tool: a standalone writer / reader of PersonaLive frame rings, for tests and
 * diagnostics without the daemon (no libobs needed). Prints one JSON object per line.
 *
 *   pl-ring-tool write NAME [--width 512] [--height 512] [--format rgb24|rgba|bgra]
 *                [--fps 25] [--frames 0 (= until SIGINT/SIGTERM)] [--slots 3]
 *                [--color R,G,B] [--pattern solid|counter] [--hold-ms 0]
 *                [--exit stop|crash]
 *       Publishes frames of one colour (counter: the red channel is frame number % 256).
 *       After the frames, keeps the heartbeat alive --hold-ms, then closes the ring
 *       (stop: STOPPED and unlinked) or exits without a word (crash: readers see the
 *       heartbeat go stale).
 *   pl-ring-tool read NAME [--frames 1] [--timeout-ms 5000] [--pixel X,Y]
 *       Waits for new frames and prints each one's number, size, format, timing and the
 *       bytes of one pixel (in the ring's own byte order).
 *   pl-ring-tool info NAME
 *       Prints the header.
 */
#include "../src/ring.h"
#include "../src/shm.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef _WIN32
#define WIN32_LEAN_AND_MEAN
#include <windows.h>
static void sleep_ms(unsigned ms)
{
	Sleep(ms);
}
#else
#include <time.h>
#include <unistd.h>
static void sleep_ms(unsigned ms)
{
	struct timespec ts = {(time_t)(ms / 1000u), (long)(ms % 1000u) * 1000000L};
	nanosleep(&ts, NULL);
}
#endif

static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
	(void)sig;
	interrupted = 1;
}

static const char *arg_value(int argc, char **argv, const char *flag, const char *fallback)
{
	for (int i = 3; i < argc - 1; i++) {
		if (strcmp(argv[i], flag) == 0)
			return argv[i + 1];
	}
	return fallback;
}

static const char *format_name(uint32_t f)
{
	return f == PL_PIXEL_FORMAT_RGB24 ? "rgb24"
	       : f == PL_PIXEL_FORMAT_RGBA ? "rgba"
	       : f == PL_PIXEL_FORMAT_BGRA ? "bgra"
					   : "unknown";
}

static uint32_t parse_format(const char *s)
{
	if (strcmp(s, "rgb24") == 0)
		return PL_PIXEL_FORMAT_RGB24;
	if (strcmp(s, "rgba") == 0)
		return PL_PIXEL_FORMAT_RGBA;
	if (strcmp(s, "bgra") == 0)
		return PL_PIXEL_FORMAT_BGRA;
	return PL_PIXEL_FORMAT_NONE;
}

static void fill(uint8_t *dst, const struct pl_ring_geometry *g, const int rgb[3])
{
	uint32_t bpp = pl_pixel_format_bytes(g->pixel_format);
	uint8_t px[4];
	if (g->pixel_format == PL_PIXEL_FORMAT_BGRA) {
		px[0] = (uint8_t)rgb[2];
		px[1] = (uint8_t)rgb[1];
		px[2] = (uint8_t)rgb[0];
	} else {
		px[0] = (uint8_t)rgb[0];
		px[1] = (uint8_t)rgb[1];
		px[2] = (uint8_t)rgb[2];
	}
	px[3] = 255;
	for (uint32_t y = 0; y < g->height; y++) {
		uint8_t *row = dst + (size_t)y * g->stride;
		for (uint32_t x = 0; x < g->width; x++)
			memcpy(row + (size_t)x * bpp, px, bpp);
	}
}

static int cmd_write(const char *name, int argc, char **argv)
{
	char err[PL_RING_ERR_SIZE];
	struct pl_ring_geometry g;
	uint32_t width = (uint32_t)atoi(arg_value(argc, argv, "--width", "512"));
	uint32_t height = (uint32_t)atoi(arg_value(argc, argv, "--height", "512"));
	uint32_t format = parse_format(arg_value(argc, argv, "--format", "rgb24"));
	int fps = atoi(arg_value(argc, argv, "--fps", "25"));
	long frames = atol(arg_value(argc, argv, "--frames", "0"));
	uint32_t slots = (uint32_t)atoi(arg_value(argc, argv, "--slots", "3"));
	long hold_ms = atol(arg_value(argc, argv, "--hold-ms", "0"));
	const char *pattern = arg_value(argc, argv, "--pattern", "solid");
	const char *exit_mode = arg_value(argc, argv, "--exit", "stop");
	int rgb[3] = {255, 0, 0};
	if (sscanf(arg_value(argc, argv, "--color", "255,0,0"), "%d,%d,%d", &rgb[0], &rgb[1], &rgb[2]) != 3) {
		fprintf(stderr, "--color expects R,G,B\n");
		return 2;
	}
	if (fps < 1)
		fps = 1;
	if (!pl_ring_geometry_make(&g, width, height, format, slots, err, sizeof(err))) {
		fprintf(stderr, "%s\n", err);
		return 2;
	}
	struct pl_ring_writer w;
	if (!pl_ring_writer_create(&w, name, &g, (uint32_t)fps, 1, pl_shm_monotonic_us(), err, sizeof(err))) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	printf("{\"event\":\"created\",\"ring\":\"%s\",\"width\":%u,\"height\":%u,\"format\":\"%s\",\"stride\":%u,"
	       "\"slots\":%u,\"pid\":%u}\n",
	       name, g.width, g.height, format_name(format), g.stride, g.slot_count, pl_shm_process_id());
	fflush(stdout);

	uint64_t period_us = 1000000u / (uint64_t)fps;
	uint64_t next = pl_shm_monotonic_us();
	long written = 0;
	while (!interrupted && (frames == 0 || written < frames)) {
		int color[3] = {rgb[0], rgb[1], rgb[2]};
		if (strcmp(pattern, "counter") == 0)
			color[0] = (int)((written + 1) % 256);
		uint64_t capture = pl_shm_monotonic_us();
		uint8_t *slot = pl_ring_writer_begin(&w);
		fill(slot, &g, color);
		pl_ring_writer_end(&w, capture, pl_shm_monotonic_us());
		written++;
		next += period_us;
		uint64_t now = pl_shm_monotonic_us();
		if (next > now)
			sleep_ms((unsigned)((next - now) / 1000u));
		else
			next = now;
	}
	uint64_t hold_until = pl_shm_monotonic_us() + (uint64_t)(hold_ms > 0 ? hold_ms : 0) * 1000u;
	while (!interrupted && pl_shm_monotonic_us() < hold_until) {
		pl_ring_writer_heartbeat(&w, pl_shm_monotonic_us());
		sleep_ms(50);
	}
	printf("{\"event\":\"done\",\"framesWritten\":%ld,\"exit\":\"%s\"}\n", written, exit_mode);
	fflush(stdout);
	if (strcmp(exit_mode, "crash") == 0)
		_Exit(0); /* no STOPPED, no unlink: readers must notice the stale heartbeat */
	pl_ring_writer_close(&w, pl_shm_monotonic_us());
	return 0;
}

static int cmd_read(const char *name, int argc, char **argv)
{
	long frames = atol(arg_value(argc, argv, "--frames", "1"));
	long timeout_ms = atol(arg_value(argc, argv, "--timeout-ms", "5000"));
	unsigned px = 0, py = 0;
	sscanf(arg_value(argc, argv, "--pixel", "0,0"), "%u,%u", &px, &py);

	struct pl_ring_reader r;
	pl_ring_reader_init(&r, name);
	uint8_t *buffer = NULL;
	size_t buffer_size = 0;
	long got = 0;
	uint64_t deadline = pl_shm_monotonic_us() + (uint64_t)timeout_ms * 1000u;
	enum pl_ring_reader_state state = PL_RING_READER_ABSENT;
	while (!interrupted && got < frames && pl_shm_monotonic_us() < deadline) {
		state = pl_ring_reader_poll(&r, pl_shm_monotonic_us());
		size_t bytes = pl_ring_reader_frame_bytes(&r);
		if (bytes > buffer_size) {
			free(buffer);
			buffer = malloc(bytes);
			buffer_size = buffer ? bytes : 0;
		}
		struct pl_ring_frame_info info;
		if (buffer && pl_ring_reader_read(&r, buffer, buffer_size, &info) == 1) {
			const struct pl_ring_geometry *g = &r.geometry;
			uint32_t bpp = pl_pixel_format_bytes(g->pixel_format);
			unsigned x = px < g->width ? px : g->width - 1, y = py < g->height ? py : g->height - 1;
			const uint8_t *p = buffer + (size_t)y * g->stride + (size_t)x * bpp;
			uint64_t now = pl_shm_monotonic_us();
			char pixel[32];
			if (bpp == 4)
				snprintf(pixel, sizeof(pixel), "%u,%u,%u,%u", p[0], p[1], p[2], p[3]);
			else
				snprintf(pixel, sizeof(pixel), "%u,%u,%u", p[0], p[1], p[2]);
			printf("{\"event\":\"frame\",\"frame\":%u,\"skipped\":%u,\"width\":%u,\"height\":%u,\"format\":\"%s\","
			       "\"pixel\":[%s],\"x\":%u,\"y\":%u,\"captureUs\":%llu,\"publishUs\":%llu,\"ageUs\":%lld,"
			       "\"writerPid\":%u}\n",
			       info.frame_number, info.skipped, g->width, g->height, format_name(g->pixel_format), pixel, x, y,
			       (unsigned long long)info.capture_us, (unsigned long long)info.publish_us,
			       (long long)(now - info.capture_us), r.writer_pid);
			fflush(stdout);
			got++;
		} else {
			sleep_ms(5);
		}
	}
	printf("{\"event\":\"done\",\"framesRead\":%ld,\"state\":\"%s\",\"tornReads\":%llu,\"retries\":%llu,"
	       "\"skipped\":%llu,\"error\":\"%s\"}\n",
	       got, pl_ring_reader_state_name(state), (unsigned long long)r.stats.torn_reads,
	       (unsigned long long)r.stats.retries, (unsigned long long)r.stats.frames_skipped, r.last_error);
	free(buffer);
	pl_ring_reader_close(&r);
	return got >= frames ? 0 : 3;
}

static int cmd_info(const char *name)
{
	struct pl_ring_reader r;
	pl_ring_reader_init(&r, name);
	enum pl_ring_reader_state state = pl_ring_reader_poll(&r, pl_shm_monotonic_us());
	if (!r.header) {
		printf("{\"ring\":\"%s\",\"state\":\"%s\",\"error\":\"%s\"}\n", name, pl_ring_reader_state_name(state),
		       r.last_error);
		return 3;
	}
	const struct pl_ring_header *h = r.header;
	uint64_t now = pl_shm_monotonic_us();
	printf("{\"ring\":\"%s\",\"state\":\"%s\",\"width\":%u,\"height\":%u,\"stride\":%u,\"format\":\"%s\","
	       "\"slotCount\":%u,\"slotSize\":%u,\"fps\":[%u,%u],\"writerPid\":%u,\"writerState\":%u,"
	       "\"latestFrame\":%u,\"framesWritten\":%llu,\"framesDropped\":%llu,\"heartbeatAgeUs\":%lld}\n",
	       name, pl_ring_reader_state_name(state), h->width, h->height, h->stride, format_name(h->pixel_format),
	       h->slot_count, h->slot_size, h->fps_num, h->fps_den, h->writer_pid, h->writer_state, h->latest_frame,
	       (unsigned long long)h->frames_written, (unsigned long long)h->frames_dropped,
	       (long long)(now - h->heartbeat_us));
	pl_ring_reader_close(&r);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: %s write|read|info NAME [options]  (see the comment at the top of "
				"plugin/tools/pl-ring-tool.c)\n",
			argv[0]);
		return 2;
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (strcmp(argv[1], "write") == 0)
		return cmd_write(argv[2], argc, argv);
	if (strcmp(argv[1], "read") == 0)
		return cmd_read(argv[2], argc, argv);
	if (strcmp(argv[1], "info") == 0)
		return cmd_info(argv[2]);
	fprintf(stderr, "unknown command \"%s\": expected write, read or info\n", argv[1]);
	return 2;
}
