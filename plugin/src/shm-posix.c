/*
 * POSIX named shared memory (Linux, macOS): shm_open("/<name>"), ftruncate, mmap.
 * See shm.h for the contract.
 */
#if defined(__linux__) && !defined(_GNU_SOURCE)
#define _GNU_SOURCE
#endif

#include "shm.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#ifdef __APPLE__
#include <mach/mach_time.h>
#endif

#define PL_SHM_PATH_MAX 256

static bool make_path(char *path, const char *name, char *err, size_t err_size)
{
	if (!pl_shm_check_name(name, err, err_size))
		return false;
	snprintf(path, PL_SHM_PATH_MAX, "/%s", name);
	return true;
}

static enum pl_shm_result map_fd(struct pl_shm *shm, int fd, const char *path, size_t size, bool writable,
				 char *err, size_t err_size)
{
	void *addr = mmap(NULL, size, writable ? PROT_READ | PROT_WRITE : PROT_READ, MAP_SHARED, fd, 0);
	int saved = errno;
	if (addr == MAP_FAILED) {
		snprintf(err, err_size, "mmap(\"%s\", %zu bytes) failed: %s (errno %d)", path, size, strerror(saved),
			 saved);
		return PL_SHM_ERROR;
	}
	shm->addr = addr;
	shm->size = size;
	shm->writable = writable;
	return PL_SHM_OK;
}

enum pl_shm_result pl_shm_create(struct pl_shm *shm, const char *name, size_t size, char *err, size_t err_size)
{
	char path[PL_SHM_PATH_MAX];
	struct stat st;
	memset(shm, 0, sizeof(*shm));
	if (!make_path(path, name, err, err_size))
		return PL_SHM_ERROR;

	/* Replace, never reuse: readers of an old object keep their mapping and see it stop. */
	shm_unlink(path);
	int fd = shm_open(path, O_RDWR | O_CREAT | O_EXCL, 0600);
	if (fd < 0) {
		int saved = errno;
		snprintf(err, err_size, "shm_open(\"%s\", O_CREAT|O_EXCL) failed: %s (errno %d)", path,
			 strerror(saved), saved);
		return PL_SHM_ERROR;
	}
	if (ftruncate(fd, (off_t)size) != 0) {
		int saved = errno;
		close(fd);
		shm_unlink(path);
		snprintf(err, err_size, "ftruncate(\"%s\", %zu) failed: %s (errno %d)", path, size, strerror(saved),
			 saved);
		return PL_SHM_ERROR;
	}
	if (fstat(fd, &st) == 0) {
		shm->id_a = (uint64_t)st.st_dev;
		shm->id_b = (uint64_t)st.st_ino;
	}
	enum pl_shm_result result = map_fd(shm, fd, path, size, true, err, err_size);
	/* The mapping keeps the object alive; the descriptor is not needed any more. */
	close(fd);
	if (result != PL_SHM_OK)
		shm_unlink(path);
	return result;
}

enum pl_shm_result pl_shm_open(struct pl_shm *shm, const char *name, size_t size, bool writable, char *err,
			       size_t err_size)
{
	char path[PL_SHM_PATH_MAX];
	struct stat st;
	memset(shm, 0, sizeof(*shm));
	if (!make_path(path, name, err, err_size))
		return PL_SHM_ERROR;

	int fd = shm_open(path, writable ? O_RDWR : O_RDONLY, 0);
	if (fd < 0) {
		int saved = errno;
		if (saved == ENOENT)
			return PL_SHM_NOT_FOUND;
		snprintf(err, err_size, "shm_open(\"%s\") failed: %s (errno %d)", path, strerror(saved), saved);
		return PL_SHM_ERROR;
	}
	if (fstat(fd, &st) != 0) {
		int saved = errno;
		close(fd);
		snprintf(err, err_size, "fstat(\"%s\") failed: %s (errno %d)", path, strerror(saved), saved);
		return PL_SHM_ERROR;
	}
	/* Touching a mapping past the end of the object raises SIGBUS: refuse instead. */
	if (st.st_size < 0 || (uint64_t)st.st_size < (uint64_t)size) {
		close(fd);
		snprintf(err, err_size, "shared memory \"%s\" is %lld bytes, expected at least %zu", path,
			 (long long)st.st_size, size);
		return PL_SHM_TOO_SMALL;
	}
	shm->id_a = (uint64_t)st.st_dev;
	shm->id_b = (uint64_t)st.st_ino;
	enum pl_shm_result result = map_fd(shm, fd, path, size, writable, err, err_size);
	close(fd);
	return result;
}

void pl_shm_close(struct pl_shm *shm)
{
	if (shm && shm->addr) {
		munmap(shm->addr, shm->size);
		shm->addr = NULL;
		shm->size = 0;
	}
}

void pl_shm_unlink_own(const struct pl_shm *shm, const char *name)
{
	char path[PL_SHM_PATH_MAX];
	char err[PL_SHM_PATH_MAX];
	struct stat st;
	if (!shm || !make_path(path, name, err, sizeof(err)))
		return;
	int fd = shm_open(path, O_RDONLY, 0);
	if (fd < 0)
		return;
	bool ours = fstat(fd, &st) == 0 && (uint64_t)st.st_dev == shm->id_a && (uint64_t)st.st_ino == shm->id_b;
	close(fd);
	/* A newer writer may have replaced our object under the same name: leave its name alone. */
	if (ours)
		shm_unlink(path);
}

uint32_t pl_shm_process_id(void)
{
	return (uint32_t)getpid();
}

uint64_t pl_shm_monotonic_us(void)
{
#ifdef __APPLE__
	static mach_timebase_info_data_t timebase;
	if (timebase.denom == 0)
		mach_timebase_info(&timebase);
	return mach_absolute_time() * timebase.numer / timebase.denom / 1000u;
#else
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
#endif
}
